//! `wharf import aptly ROOT`: an aptly root's repositories and snapshots recreated in
//! Wharf with the same names and package sets, so a team switches in one command (seed
//! 004: Toolforge's `bookworm-tools`, `bookworm-toolsbeta`).
//!
//! aptly itself lists what the root holds ([`read`]); every package file is then found
//! in aptly's pool and its SHA-256 checked against aptly's database before anything
//! changes, so a missing or damaged pool file stops the import with nothing imported.
//! Packages go in through [`crate::repo::add`], exactly as `wharf repo add` adds them
//! (validated, content-addressed, all or nothing per repository, audited). A snapshot is
//! taken of a staging repository holding its packages (dropped after), recording aptly's
//! source repository as where it came from.
//!
//! Settings: the distribution is the one the repository is published with in aptly, else
//! its default distribution (one without either is refused before anything changes);
//! the component the published one, else the default one, else `main`; architectures
//! those it is published for, else those of its packages (not `all`), else `amd64`.
//! Running the import again changes nothing: a name that already holds the same packages
//! is `present`; one holding other packages is a `conflict`, left alone.

pub mod read;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use wharf_store::{AptKind, RepoSettings};

use crate::context::Context;
use crate::error::{AppError, Result};
use crate::progress::{Progress, Silent};
use crate::repo::{self, AddRequest, CreateRequest};
use crate::wire::{ImportReport, ImportedView};
use read::{Aptly, AptlyPackage, AptlyPublish, AptlyRepo, AptlySnapshot};

/// What `wharf import aptly` is asked.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// aptly's `rootDir`.
    pub root: PathBuf,
    pub dry_run: bool,
}

/// Everything read from the root.
#[derive(Debug, Default)]
struct AptlyContents {
    repos: Vec<(AptlyRepo, Vec<AptlyPackage>)>,
    snapshots: Vec<(AptlySnapshot, Vec<AptlyPackage>)>,
    publishes: Vec<AptlyPublish>,
}

fn read_root(root: &Path) -> std::result::Result<AptlyContents, String> {
    let aptly = Aptly::new(root)?;
    let mut contents = AptlyContents { publishes: aptly.publishes()?, ..AptlyContents::default() };
    for repo in aptly.repos()? {
        let packages = aptly.packages("repo", &repo.name)?;
        contents.repos.push((repo, packages));
    }
    for snapshot in aptly.snapshots()? {
        let packages = aptly.packages("snapshot", &snapshot.name)?;
        contents.snapshots.push((snapshot, packages));
    }
    Ok(contents)
}

/// Settings for a collection published (or not) by aptly; see the module docs.
fn settings_for(
    kind: &str,
    name: &str,
    defaults: Option<&AptlyRepo>,
    publishes: &[AptlyPublish],
    packages: &[AptlyPackage],
) -> std::result::Result<RepoSettings, String> {
    let source_kind = if kind == "repository" { "local" } else { "snapshot" };
    let published = publishes.iter().find_map(|p| {
        let source = p.sources.iter().find(|s| s.name == name)?;
        (p.source_kind == source_kind).then_some((p, source))
    });
    let distribution = match (published, defaults) {
        (Some((publish, _)), _) => publish.distribution.clone(),
        (None, Some(repo)) if !repo.default_distribution.is_empty() => {
            repo.default_distribution.clone()
        }
        _ => {
            return Err(format!(
                "aptly {kind} {name} has no distribution (not published, no default): \
                 set one with `aptly repo edit -distribution=DIST REPO` and import again"
            ));
        }
    };
    let component = match (published, defaults) {
        (Some((_, source)), _) => source.component.clone(),
        (None, Some(repo)) if !repo.default_component.is_empty() => repo.default_component.clone(),
        _ => "main".to_owned(),
    };
    let mut architectures: Vec<String> = match published {
        Some((publish, _)) => publish.architectures.clone(),
        None => Vec::new(),
    };
    architectures.retain(|a| a != "all" && a != "source");
    if architectures.is_empty() {
        let seen: BTreeSet<&str> =
            packages.iter().map(|p| p.architecture.as_str()).filter(|a| *a != "all").collect();
        architectures = seen.into_iter().map(str::to_owned).collect();
    }
    if architectures.is_empty() {
        architectures.push("amd64".to_owned());
    }
    let comment = defaults.map(|r| r.comment.clone()).filter(|c| !c.is_empty());
    Ok(RepoSettings {
        distribution,
        components: vec![component],
        architectures,
        comment,
        from: None,
        prefix: None,
        contents: true,
        mirror: None,
        snapshot: None,
    })
}

/// One collection to import.
#[derive(Debug)]
struct Planned {
    kind: AptKind,
    view: ImportedView,
    settings: RepoSettings,
    packages: Vec<AptlyPackage>,
}

fn plan(contents: &AptlyContents) -> std::result::Result<Vec<Planned>, String> {
    let mut planned = Vec::new();
    let repos: BTreeMap<&str, &AptlyRepo> =
        contents.repos.iter().map(|(r, _)| (r.name.as_str(), r)).collect();
    for (repo, packages) in &contents.repos {
        let settings =
            settings_for("repository", &repo.name, Some(repo), &contents.publishes, packages)?;
        planned.push(planned_one(AptKind::Repo, &repo.name, None, settings, packages));
    }
    for (snapshot, packages) in &contents.snapshots {
        let from = snapshot.local_repos.first().map(|r| r.name.clone());
        let defaults = from.as_deref().and_then(|name| repos.get(name).copied());
        let settings =
            settings_for("snapshot", &snapshot.name, defaults, &contents.publishes, packages)
                .or_else(|err| {
                    match from.as_deref().and_then(|n| planned_settings(&planned, n)) {
                        Some(settings) => Ok(settings),
                        None => Err(err),
                    }
                })?;
        planned.push(planned_one(AptKind::Snapshot, &snapshot.name, from, settings, packages));
    }
    Ok(planned)
}

fn planned_settings(planned: &[Planned], repo: &str) -> Option<RepoSettings> {
    planned
        .iter()
        .find(|p| p.kind == AptKind::Repo && p.view.name == repo)
        .map(|p| p.settings.clone())
}

fn planned_one(
    kind: AptKind,
    name: &str,
    from: Option<String>,
    settings: RepoSettings,
    packages: &[AptlyPackage],
) -> Planned {
    Planned {
        kind,
        view: ImportedView {
            kind: repo::kind_name(kind).to_owned(),
            name: name.to_owned(),
            distribution: settings.distribution.clone(),
            component: settings.components[0].clone(),
            architectures: settings.architectures.clone(),
            from,
            packages: packages.len(),
            action: "import".to_owned(),
            audit_ids: Vec::new(),
        },
        settings,
        packages: packages.to_vec(),
    }
}

/// The pool file of every package, its SHA-256 checked against aptly's database.
fn locate(
    root: &Path,
    packages: &[&AptlyPackage],
) -> std::result::Result<BTreeMap<String, PathBuf>, String> {
    let mut found = BTreeMap::new();
    for package in packages {
        if found.contains_key(&package.sha256) {
            continue;
        }
        let candidates = read::pool_candidates(root, package);
        let Some(path) = candidates.iter().find(|p| p.is_file()) else {
            return Err(format!(
                "the pool file of {} is missing (looked for {}): the aptly root is incomplete; nothing was imported",
                package.key,
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" and ")
            ));
        };
        let actual = sha256_file(path)?;
        if actual != package.sha256 {
            return Err(format!(
                "{} has SHA-256 {actual}, but aptly's database says {} for {}: the pool file is damaged; nothing was imported",
                path.display(),
                package.sha256,
                package.key
            ));
        }
        found.insert(package.sha256.clone(), path.clone());
    }
    Ok(found)
}

fn sha256_file(path: &Path) -> std::result::Result<String, String> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buffer = vec![0; 1 << 16];
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        if n == 0 {
            break;
        }
        digest.update(&buffer[..n]);
    }
    Ok(hex::encode(digest.finish()))
}

/// Import the aptly root `request.root`; see the module docs.
pub async fn import(
    ctx: &Context,
    request: &ImportRequest,
    progress: &dyn Progress,
) -> Result<ImportReport> {
    let root = request.root.clone();
    if !root.join("db").join("CURRENT").is_file() {
        return Err(AppError::invalid(format!(
            "{} is not an aptly root (no db/CURRENT): name aptly's rootDir (see rootDir in /etc/aptly.conf or ~/.aptly.conf)",
            root.display()
        )));
    }
    progress.phase("reading the aptly root", 0);
    let (contents, planned, files) = tokio::task::spawn_blocking(move || {
        let contents = read_root(&root)?;
        let planned = plan(&contents)?;
        let all: Vec<&AptlyPackage> = planned.iter().flat_map(|p| &p.packages).collect();
        let files = locate(&root, &all)?;
        Ok::<_, String>((contents, planned, files))
    })
    .await
    .map_err(|err| AppError::internal("the aptly reader stopped").with_source(err))?
    .map_err(AppError::invalid)?;
    drop(contents);
    let mut report = ImportReport {
        root: request.root.display().to_string(),
        dry_run: request.dry_run,
        collections: Vec::new(),
        ok: true,
    };
    for mut one in planned {
        let wanted: BTreeSet<&str> = one.packages.iter().map(|p| p.sha256.as_str()).collect();
        if let Some(held) = held_packages(ctx, one.kind, &one.view.name).await? {
            // A repository created by an interrupted import is still empty: fill it.
            let resumable = one.kind == AptKind::Repo && held.is_empty();
            if held.iter().map(String::as_str).collect::<BTreeSet<_>>() == wanted {
                one.view.action = "present".to_owned();
            } else if !resumable {
                one.view.action = "conflict".to_owned();
                report.ok = false;
            }
        }
        if one.view.action == "import" && !request.dry_run {
            progress.phase(&format!("importing {} {}", one.view.kind, one.view.name), 0);
            one.view.audit_ids = match one.kind {
                AptKind::Repo => import_repo(ctx, &one, &files).await?,
                AptKind::Snapshot => import_snapshot(ctx, &one, &files).await?,
                AptKind::Mirror => unreachable!("aptly's mirrors are not imported"),
            };
            let held = held_packages(ctx, one.kind, &one.view.name).await?.unwrap_or_default();
            if held.iter().map(String::as_str).collect::<BTreeSet<_>>() != wanted {
                return Err(AppError::internal(format!(
                    "{} {} does not hold the packages aptly lists after the import",
                    one.view.kind, one.view.name
                )));
            }
        }
        report.collections.push(one.view);
    }
    Ok(report)
}

/// The SHA-256s a repository or snapshot holds; `None` when there is none of that name.
async fn held_packages(ctx: &Context, kind: AptKind, name: &str) -> Result<Option<Vec<String>>> {
    if ctx.store().apt_collections(kind, Some(name)).await?.is_empty() {
        return Ok(None);
    }
    let members = ctx.store().apt_member_shas(kind, name).await?;
    Ok(Some(members.into_iter().map(|(sha, _)| sha).collect()))
}

fn files_of(one: &Planned, files: &BTreeMap<String, PathBuf>) -> Vec<PathBuf> {
    let unique: BTreeSet<&str> = one.packages.iter().map(|p| p.sha256.as_str()).collect();
    unique.into_iter().filter_map(|sha| files.get(sha).cloned()).collect()
}

async fn import_repo(
    ctx: &Context,
    one: &Planned,
    files: &BTreeMap<String, PathBuf>,
) -> Result<Vec<i64>> {
    let name = &one.view.name;
    let mut audit_ids = Vec::new();
    if ctx.store().apt_collections(AptKind::Repo, Some(name)).await?.is_empty() {
        create(ctx, name, &one.settings).await?;
        if let Some(entry) = last_entry(ctx, "repo.create", name).await? {
            audit_ids.push(entry);
        }
    }
    audit_ids.extend(add_files(ctx, name, one, files).await?);
    Ok(audit_ids)
}

/// `one`'s package files added to repository `repository` as `repo add` adds them; the
/// audit entry's id, when something was added.
async fn add_files(
    ctx: &Context,
    repository: &str,
    one: &Planned,
    files: &BTreeMap<String, PathBuf>,
) -> Result<Option<i64>> {
    if one.packages.is_empty() {
        return Ok(None);
    }
    let request = AddRequest {
        repository: repository.to_owned(),
        paths: files_of(one, files),
        component: None,
        replace: false,
    };
    Ok(repo::add(ctx, request, &Silent).await?.audit_id)
}

async fn create(ctx: &Context, name: &str, settings: &RepoSettings) -> Result<()> {
    let request = CreateRequest {
        name: name.to_owned(),
        distribution: settings.distribution.clone(),
        components: settings.components.clone(),
        architectures: settings.architectures.clone(),
        comment: settings.comment.clone(),
        contents: settings.contents,
    };
    repo::create(ctx, request).await.map(|_| ())
}

/// The id of the newest audit entry of `action` on `target`.
async fn last_entry(ctx: &Context, action: &str, target: &str) -> Result<Option<i64>> {
    let query = wharf_store::AuditQuery {
        action_prefix: Some(action.to_owned()),
        target: Some(target.to_owned()),
        limit: Some(1),
        newest: true,
        ..wharf_store::AuditQuery::default()
    };
    Ok(ctx.store().audit(&query).await?.last().map(|entry| entry.id))
}

/// A snapshot of a staging repository holding its packages, which is dropped after.
async fn import_snapshot(
    ctx: &Context,
    one: &Planned,
    files: &BTreeMap<String, PathBuf>,
) -> Result<Vec<i64>> {
    let name = &one.view.name;
    let staging = format!("{name}.aptly-import");
    repo::check_name("staging repository name", &staging)?;
    if !ctx.store().apt_collections(AptKind::Repo, Some(&staging)).await?.is_empty() {
        return Err(AppError::conflict(format!(
            "a repository named {staging} exists: it is where snapshot {name} is staged; \
             drop it (`wharf repo drop {staging}`) or rename it, and import again"
        )));
    }
    create(ctx, &staging, &one.settings).await?;
    let result = async {
        let mut audit_ids: Vec<i64> =
            add_files(ctx, &staging, one, files).await?.into_iter().collect();
        let recorded = one.view.from.clone().unwrap_or_else(|| format!("aptly snapshot {name}"));
        let snapshot = repo::snapshot_recording(ctx, name, &staging, &recorded).await?;
        audit_ids.push(snapshot.audit_id);
        Ok::<_, AppError>(audit_ids)
    }
    .await;
    // Dropped whatever happened: the snapshot (if taken) holds the packages.
    let dropped = repo::drop(ctx, AptKind::Repo, &staging, false).await;
    let audit_ids = result?;
    dropped?;
    Ok(audit_ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use read::AptlyPublishSource;

    fn package(arch: &str) -> AptlyPackage {
        AptlyPackage {
            key: format!("p_1_{arch}"),
            architecture: arch.into(),
            sha256: "a".repeat(64),
            md5: "b".repeat(32),
            filename: format!("p_1_{arch}.deb"),
        }
    }

    fn repo(name: &str, dist: &str, component: &str) -> AptlyRepo {
        AptlyRepo {
            name: name.into(),
            comment: String::new(),
            default_distribution: dist.into(),
            default_component: component.into(),
        }
    }

    fn publish(kind: &str, source: &str, dist: &str, archs: &[&str]) -> AptlyPublish {
        AptlyPublish {
            architectures: archs.iter().map(|a| (*a).to_owned()).collect(),
            distribution: dist.into(),
            prefix: "p".into(),
            source_kind: kind.into(),
            sources: vec![AptlyPublishSource { component: "contrib".into(), name: source.into() }],
        }
    }

    #[test]
    fn settings_come_from_the_publish_then_the_defaults() {
        let published = [publish("local", "tools", "bookworm", &["amd64", "arm64"])];
        let (amd, all) = (package("amd64"), package("all"));
        // (name, aptly defaults, packages) → (distribution, component, architectures) or error
        type Expected<'a> = std::result::Result<(&'a str, &'a str, Vec<&'a str>), &'a str>;
        let cases: Vec<(&str, Option<AptlyRepo>, Vec<AptlyPackage>, Expected<'_>)> = vec![
            (
                "tools",
                Some(repo("tools", "sid", "main")),
                vec![],
                Ok(("bookworm", "contrib", vec!["amd64", "arm64"])),
            ),
            (
                "beta",
                Some(repo("beta", "bookworm", "")),
                vec![all.clone(), amd.clone()],
                Ok(("bookworm", "main", vec!["amd64"])),
            ),
            (
                "beta",
                Some(repo("beta", "bookworm", "non-free")),
                vec![all.clone()],
                Ok(("bookworm", "non-free", vec!["amd64"])),
            ),
            ("beta", Some(repo("beta", "", "main")), vec![], Err("has no distribution")),
            ("beta", None, vec![], Err("has no distribution")),
        ];
        for (name, defaults, packages, expected) in cases {
            let got = settings_for("repository", name, defaults.as_ref(), &published, &packages)
                .map(|s| (s.distribution, s.components[0].clone(), s.architectures));
            match expected {
                Ok((dist, comp, archs)) => {
                    assert_eq!(
                        got,
                        Ok((
                            dist.to_owned(),
                            comp.to_owned(),
                            archs.iter().map(|a| (*a).to_owned()).collect()
                        )),
                        "{name}"
                    )
                }
                Err(says) => assert!(got.unwrap_err().contains(says), "{name}"),
            }
        }
        // A snapshot is matched with snapshot publishes only.
        let snap = settings_for("snapshot", "tools", None, &published, &[]);
        assert!(snap.is_err());
        let snap_published = [publish("snapshot", "s1", "bookworm-snap", &["i386"])];
        let snap = settings_for("snapshot", "s1", None, &snap_published, &[]).unwrap();
        assert_eq!(
            (snap.distribution.as_str(), snap.architectures[0].as_str()),
            ("bookworm-snap", "i386")
        );
    }

    #[test]
    fn a_snapshot_takes_its_repository_settings() {
        let contents = AptlyContents {
            repos: vec![(repo("tools", "bookworm", "main"), vec![package("arm64")])],
            snapshots: vec![(
                AptlySnapshot {
                    name: "tools-1".into(),
                    source_kind: "local".into(),
                    local_repos: vec![repo("tools", "", "")],
                    description: String::new(),
                },
                vec![package("arm64")],
            )],
            publishes: vec![],
        };
        let planned = plan(&contents).unwrap();
        let names: Vec<(&str, &str, Option<&str>)> = planned
            .iter()
            .map(|p| (p.view.kind.as_str(), p.view.name.as_str(), p.view.from.as_deref()))
            .collect();
        assert_eq!(names, [("repository", "tools", None), ("snapshot", "tools-1", Some("tools"))]);
        assert_eq!(planned[1].settings.distribution, "bookworm");
        assert_eq!(planned[1].settings.architectures, ["arm64"]);
    }

    #[test]
    fn pool_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let body = b"not really a deb";
        let sha = hex::encode(ring::digest::digest(&ring::digest::SHA256, body));
        let mut good = package("all");
        good.sha256.clone_from(&sha);
        let [path, _] = read::pool_candidates(dir.path(), &good);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, body).unwrap();
        assert_eq!(locate(dir.path(), &[&good]).unwrap()[&sha], path);
        let mut damaged = good.clone();
        damaged.sha256 = format!("{}0", &sha[..63]);
        let [other, _] = read::pool_candidates(dir.path(), &damaged);
        std::fs::create_dir_all(other.parent().unwrap()).unwrap();
        std::fs::write(&other, body).unwrap();
        let err = locate(dir.path(), &[&damaged]).unwrap_err();
        assert!(err.contains("is damaged") && err.contains(&sha), "{err}");
        let mut missing = good;
        missing.filename = "gone.deb".into();
        let err = locate(dir.path(), &[&missing]).unwrap_err();
        assert!(err.contains("is missing") && err.contains("gone.deb"), "{err}");
    }
}
