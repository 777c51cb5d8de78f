//! The embedded migrations of each backend, applied in order by `Store::open`.
//!
//! Each backend keeps its own SQL files under `migrations/<backend>/NNNN_name.sql`; a
//! `schema_migrations (version, name, applied_at)` table records what was applied. A
//! migration runs in one transaction together with its bookkeeping row, under the
//! backend's write lock, so two processes opening a new store at once apply it once.

/// One migration file; `name` is the file stem, `NNNN_what`.
#[derive(Debug)]
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

macro_rules! migration {
    ($backend:literal, $version:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../migrations/", $backend, "/", $name, ".sql")),
        }
    };
}

pub(crate) const SQLITE: &[Migration] = &[
    migration!("sqlite", 1, "0001_init"),
    migration!("sqlite", 2, "0002_apt"),
    migration!("sqlite", 3, "0003_apt_name"),
    migration!("sqlite", 4, "0004_guards"),
    migration!("sqlite", 5, "0005_deploys"),
    migration!("sqlite", 6, "0006_tokens"),
    migration!("sqlite", 7, "0007_outbox"),
    migration!("sqlite", 8, "0008_schedules"),
    migration!("sqlite", 9, "0009_deploy_state"),
    migration!("sqlite", 10, "0010_apt_sources"),
    migration!("sqlite", 12, "0012_change_counters"),
];

pub(crate) const POSTGRES: &[Migration] = &[
    migration!("postgres", 1, "0001_init"),
    migration!("postgres", 2, "0002_apt"),
    migration!("postgres", 3, "0003_apt_name"),
    migration!("postgres", 4, "0004_guards"),
    migration!("postgres", 5, "0005_deploys"),
    migration!("postgres", 6, "0006_tokens"),
    migration!("postgres", 7, "0007_outbox"),
    migration!("postgres", 8, "0008_schedules"),
    migration!("postgres", 9, "0009_deploy_state"),
    migration!("postgres", 10, "0010_apt_sources"),
    migration!("postgres", 12, "0012_change_counters"),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under `migrations/` is listed, in increasing order of version, each named
    /// by its version. (Versions are allotted per branch of work, 0006 to API tokens and
    /// 0007 to the outbox, so a branch may lack a number another brings.)
    #[test]
    fn lists_match_files() {
        for (backend, list) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let dir =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
            let mut files: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            let listed: Vec<String> = list.iter().map(|m| format!("{}.sql", m.name)).collect();
            assert_eq!(files, listed, "{backend}");
            for pair in list.windows(2) {
                assert!(pair[0].version < pair[1].version, "{backend}: {pair:?}");
            }
            for migration in list {
                assert!(migration.name.starts_with(&format!("{:04}_", migration.version)));
            }
        }
    }
}
