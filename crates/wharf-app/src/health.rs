//! `health`: repositories non-empty, storage reachable, every published tree consistent
//! with its `Release`, `Valid-Until` not near, disk space above the minimum. Unhealthy
//! checks are the report, not an error.

use wharf_store::{AptKind, PublishRecord};

use crate::context::Context;
use crate::error::{Context as _, Result};
use crate::publish::{seconds, unix_now};
use crate::wire::{CheckView, HealthReport};

fn check(name: impl Into<String>, ok: bool, detail: impl Into<String>) -> CheckView {
    CheckView { check: name.into(), ok, detail: detail.into() }
}

/// Run every check. `min_free_percent` overrides `[apt] min_free_percent`.
pub async fn health(ctx: &Context, min_free_percent: Option<f64>) -> Result<HealthReport> {
    let mut checks = Vec::new();
    let now = unix_now();
    for row in ctx.store().apt_collections(AptKind::Repo, None).await? {
        checks.push(check(
            format!("repo {}", row.name),
            row.n_packages > 0,
            format!("{} packages", row.n_packages),
        ));
    }
    if let Some(bucket) = ctx.storage().remote() {
        let name = format!("storage {}", bucket.url());
        checks.push(match ctx.storage().ping().await {
            Ok(()) => check(name, true, format!("reachable (endpoint {})", bucket.endpoint())),
            Err(err) => check(name, false, format!("unreachable: {err}")),
        });
    }
    for row in ctx.store().apt_publishes().await? {
        let prefix = row.prefix;
        let record = row.record;
        let dists = format!("dists/{}", record.distribution);
        let released = check_release(ctx, &prefix, &dists).await;
        let pool = match &released {
            Ok(_) => ctx.storage().check_pool_list(&prefix).await,
            Err(_) => None,
        };
        checks.push(match (released, pool) {
            (Err(err), _) | (Ok(_), Some(Err(err))) => {
                check(format!("publish {prefix}"), false, err)
            }
            (Ok(n_indices), Some(Ok(n_pool))) => check(
                format!("publish {prefix}"),
                true,
                format!("{n_indices} indices match Release, {n_pool} pool files stored"),
            ),
            (Ok(n_indices), None) => check(
                format!("publish {prefix}"),
                true,
                format!("{n_indices} indices match Release"),
            ),
        });
        let release = ctx.storage().read_tree_file(&prefix, &format!("{dists}/Release")).await.ok();
        let valid_for = ctx.apt().valid_for.map(seconds);
        if let Some(valid) = release
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|release| valid_until_check(&release, now, valid_for, &prefix, &record))
        {
            checks.push(valid);
        }
    }
    let data = ctx.layout().root().to_owned();
    let stat = rustix::fs::statvfs(&data)
        .or_internal(|| format!("cannot stat filesystem of {}", data.display()))?;
    #[expect(clippy::cast_precision_loss, reason = "a percentage")]
    let free = stat.f_bavail as f64 / (stat.f_blocks.max(1)) as f64 * 100.0;
    let min_free = min_free_percent.unwrap_or(ctx.apt().min_free_percent);
    checks.push(check("disk", free >= min_free, format!("{free:.1}% free (minimum {min_free}%)")));
    Ok(HealthReport { healthy: checks.iter().all(|c| c.ok), checks })
}

/// Every file listed in `DISTS/Release` exists with the listed size and SHA-256, and
/// `InRelease` is present; how many files it lists. The error names the file.
async fn check_release(ctx: &Context, prefix: &str, dists: &str) -> Result<usize, String> {
    let read = |rel: String| async move {
        ctx.storage().read_tree_file(prefix, &format!("{dists}/{rel}")).await
    };
    read("InRelease".into()).await?;
    let release = String::from_utf8(read("Release".into()).await?)
        .map_err(|_| "Release is not UTF-8".to_owned())?;
    let mut n_files = 0;
    for (sha, size, path) in release_sha256_lines(&release) {
        let bytes = read(path.to_owned()).await?;
        if bytes.len().to_string() != size || wharf_apt::sha256_hex(&bytes) != sha {
            return Err(format!("{path} does not match Release"));
        }
        n_files += 1;
    }
    Ok(n_files)
}

/// The `(sha256, size, path)` lines of a `Release`'s `SHA256:` field.
fn release_sha256_lines(release: &str) -> Vec<(&str, &str, &str)> {
    let mut in_sha256 = false;
    let mut out = Vec::new();
    for line in release.lines() {
        if !line.starts_with(' ') {
            in_sha256 = line == "SHA256:";
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let (true, [sha, size, path]) = (in_sha256, &parts[..]) {
            out.push((*sha, *size, *path));
        }
    }
    out
}

/// The `valid-until PREFIX` check of a published `Release` that has a `Valid-Until`:
/// unhealthy once it is within a quarter of `valid_for` (or, without it, of the Release's
/// own Date → Valid-Until span) from expiring, or past it — apt refuses an expired
/// Release, so the tree must be published again before.
fn valid_until_check(
    release: &str,
    now: i64,
    valid_for: Option<i64>,
    prefix: &str,
    record: &PublishRecord,
) -> Option<CheckView> {
    use wharf_apt::index::{parse_rfc2822_utc, release_field, rfc2822_utc};
    let name = format!("valid-until {prefix}");
    let text = release_field(release, "Valid-Until")?;
    let Some(valid_until) = parse_rfc2822_utc(text) else {
        return Some(check(name, false, format!("Release has an unreadable Valid-Until {text:?}")));
    };
    let period = match valid_for {
        Some(secs) => secs,
        None => release_field(release, "Date")
            .and_then(parse_rfc2822_utc)
            .map_or(0, |date| valid_until - date),
    };
    let republish_by = valid_until - period / 4;
    let command = match (record.kind, prefix == record.source) {
        (AptKind::Snapshot, true) => format!("wharf publish --snapshot {}", record.source),
        (AptKind::Snapshot, false) => {
            format!("wharf publish --snapshot {} --prefix {prefix}", record.source)
        }
        // Mirrors are published through snapshots; a record never names one.
        (AptKind::Repo | AptKind::Mirror, true) => format!("wharf publish {}", record.source),
        (AptKind::Repo | AptKind::Mirror, false) => {
            format!("wharf publish {} --prefix {prefix}", record.source)
        }
    };
    let until = rfc2822_utc(valid_until);
    // apt's test: expired once the clock is past Valid-Until (whole seconds).
    Some(if now > valid_until {
        check(
            name,
            false,
            format!("expired at {until}: apt refuses this repository; republish now (`{command}`)"),
        )
    } else if now >= republish_by {
        let left =
            wharf_core::config::format_duration(u64::try_from(valid_until - now).unwrap_or(0));
        check(
            name,
            false,
            format!("Valid-Until {until} is {left} away: republish before {until} (`{command}`)"),
        )
    } else {
        check(
            name,
            true,
            format!("valid until {until}; republish before {}", rfc2822_utc(republish_by)),
        )
    })
}

#[cfg(test)]
mod tests {
    use wharf_store::{ReleaseRecord, RepoSettings};

    use super::*;

    fn record(kind: AptKind, source: &str) -> PublishRecord {
        PublishRecord {
            kind,
            source: source.into(),
            distribution: "bookworm".into(),
            generation: 1,
            settings: RepoSettings {
                distribution: "bookworm".into(),
                components: vec!["main".into()],
                architectures: vec!["amd64".into()],
                comment: None,
                from: None,
                prefix: None,
                contents: true,
                mirror: None,
                snapshot: None,
            },
            release: ReleaseRecord::default(),
        }
    }

    #[test]
    fn valid_until_is_unhealthy_in_its_last_quarter_and_after() {
        // Date 2026-12-01 00:00:00 UTC, valid for 8 days.
        let date = 1_796_083_200;
        let release = format!(
            "Origin: Wharf\nDate: {}\nValid-Until: {}\nSHA256:\n",
            wharf_apt::index::rfc2822_utc(date),
            wharf_apt::index::rfc2822_utc(date + 8 * 86_400)
        );
        let repo = record(AptKind::Repo, "tools");
        let check = |now: i64, valid_for: Option<i64>, prefix: &str, ok: bool, needle: &str| {
            let view = valid_until_check(&release, now, valid_for, prefix, &repo).unwrap();
            assert_eq!(view.ok, ok, "{view:?}");
            assert!(view.detail.contains(needle), "{}", view.detail);
        };
        check(date + 86_400, None, "tools", true, "valid until");
        check(date + 6 * 86_400 + 1, None, "tools", false, "`wharf publish tools`");
        check(date + 8 * 86_400 + 1, None, "tools", false, "expired");
        check(
            date + 5 * 86_400,
            Some(16 * 86_400),
            "t2",
            false,
            "`wharf publish tools --prefix t2`",
        );
        assert!(valid_until_check("Origin: Wharf\n", 0, None, "tools", &repo).is_none());
        let snapshot = record(AptKind::Snapshot, "s1");
        let view = valid_until_check(&release, date + 9 * 86_400, None, "s1", &snapshot).unwrap();
        assert!(view.detail.contains("`wharf publish --snapshot s1`"), "{}", view.detail);
    }

    #[test]
    fn reads_the_sha256_lines_of_a_release() {
        let release = "MD5Sum:\n abc 1 main/x\nSHA256:\n def 12 main/binary-amd64/Packages\n 0a 3 main/y\nDescription: z\n";
        assert_eq!(
            release_sha256_lines(release),
            [("def", "12", "main/binary-amd64/Packages"), ("0a", "3", "main/y")]
        );
    }
}
