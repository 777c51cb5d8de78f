//! The pool of a published tree: its files ([`PoolMode::Files`](super::PoolMode::Files))
//! or its pool list ([`PoolMode::Listed`](super::PoolMode::Listed), [`POOL_LIST`]), and
//! when removed entries leave it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use super::index_files::sync_dirs;
use super::{
    Delta, POOL_LIST, PreviousIndices, PublishError, PublishOutcome, PublishPackage,
    PublishRequest, PublishSource, STATE_FILE, State, io_err,
};
use crate::fsutil;
use crate::objects::{Location, Objects};

/// [`PoolMode::Files`](super::PoolMode::Files): link (or copy) every pool file not in
/// place yet, then sync their directories together.
pub(super) fn write_pool_files(
    request: &PublishRequest<'_>,
    objects: &Objects,
    state: &mut State,
    outcome: &mut PublishOutcome,
) -> Result<(), PublishError> {
    let root = request.root;
    let mut dirs_to_sync = BTreeSet::new();
    let entries = request
        .packages
        .iter()
        .map(|package| (package.pool_path(), package.digest.sha256.clone()))
        .chain(request.sources.iter().flat_map(PublishSource::pool_files));
    for (pool_path, sha256) in entries {
        // Known good: the previous publish listed this very file at this path.
        let known = state.pool.contains(&pool_path)
            && request.previous.is_some_and(|p| p.contains_sha256(&sha256));
        if known {
            continue;
        }
        let target = root.join(&pool_path);
        let sha256 = &sha256;
        let missing =
            || PublishError::MissingObject { package: pool_path.clone(), sha256: sha256.clone() };
        let location =
            objects.locate(sha256).map_err(io_err(objects.root()))?.ok_or_else(missing)?;
        let loose = match &location {
            Location::Loose(path) => Some(path.as_path()),
            Location::Packed(_) => None,
        };
        if !loose.is_some_and(|source| same_file(source, &target)) {
            // Missing, or other content at the same name (`repo add --replace`): link
            // (or copy) under a temporary name and rename over it.
            let dir = target.parent().unwrap_or(root);
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
            // No fsync per file or directory here: the directories are synced together
            // below, before any index names these files.
            let linked = loose.is_some_and(|source| {
                if target.exists() {
                    let tmp = dir.join(format!(".pool.{}.tmp", std::process::id()));
                    let _ = std::fs::remove_file(&tmp);
                    std::fs::hard_link(source, &tmp)
                        .and_then(|()| std::fs::rename(&tmp, &target))
                        .is_ok()
                } else {
                    std::fs::hard_link(source, &target).is_ok()
                }
            });
            if !linked {
                let bytes = location.read().map_err(io_err(objects.root()))?;
                fsutil::write_atomic(&target, &bytes).map_err(io_err(&target))?;
            }
            dirs_to_sync.insert(dir.to_owned());
            outcome.n_pool_files_added += 1;
        }
        state.pool.insert(pool_path);
    }
    sync_dirs(&dirs_to_sync)
}

/// [`PoolMode::Files`](super::PoolMode::Files): removed packages leave the pool only
/// after the new `InRelease` is in place and the grace period has passed, since a client
/// holding the old index may still fetch them. Returns whether the state changed.
pub(super) fn expire_pool_files(
    request: &PublishRequest<'_>,
    state: &mut State,
    outcome: &mut PublishOutcome,
) -> bool {
    let root = request.root;
    let live_pool: BTreeSet<String> = request
        .packages
        .iter()
        .map(PublishPackage::pool_path)
        .chain(request.sources.iter().flat_map(|s| s.pool_files().into_iter().map(|(p, _)| p)))
        .collect();
    let mut pool_changed = false;
    for stale in state.pool.difference(&live_pool) {
        state.stale_pool.entry(stale.clone()).or_insert(request.now);
        pool_changed = true;
    }
    state.stale_pool.retain(|path, _| !live_pool.contains(path));
    let expired = request.past_grace(&state.stale_pool);
    for path in expired {
        let file = root.join(&path);
        let _ = std::fs::remove_file(&file);
        // Empty package directories go too (`pool/main/h/hello/`).
        let mut dir = file.parent();
        while let Some(parent) = dir {
            if parent == root || std::fs::remove_dir(parent).is_err() {
                break;
            }
            dir = parent.parent();
        }
        state.stale_pool.remove(&path);
        outcome.n_pool_files_removed += 1;
    }
    if pool_changed || outcome.n_pool_files_removed > 0 {
        state.pool = live_pool;
    }
    pool_changed || outcome.n_pool_files_removed > 0
}

/// Whether a publish of the tree at `root` at `now` would remove something: a by-hash
/// file or pool entry superseded at least `grace_seconds` ago. A publish whose source did
/// not change can return at once only when this is false.
#[must_use]
pub fn expiry_due(root: &Path, now: i64, grace_seconds: i64) -> bool {
    let Some(state) = std::fs::read(root.join(STATE_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<State>(&bytes).ok())
    else {
        return false;
    };
    state
        .superseded
        .values()
        .chain(state.stale_pool.values())
        .any(|since| now - since >= grace_seconds)
}

/// Reads a tree's pool list: pool path → SHA-256. Empty when there is none.
pub fn read_pool_list(root: &Path) -> std::io::Result<BTreeMap<String, String>> {
    let text = match std::fs::read_to_string(root.join(POOL_LIST)) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(err) => return Err(err),
    };
    Ok(text
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(sha256, path)| (path.to_owned(), sha256.to_owned()))
        .collect())
}

/// [`PoolMode::Listed`](super::PoolMode::Listed): writes the pool list — every published
/// file, plus files no longer published for less than the grace period (a client holding
/// the old index may still fetch them) — after checking that the object store has every
/// new one. Returns the paths that are listed but no longer published, with the time they
/// stopped being.
pub(super) fn write_pool_list(
    request: &PublishRequest<'_>,
    objects: Option<&Objects>,
    state: &State,
    outcome: &mut PublishOutcome,
) -> Result<BTreeMap<String, i64>, PublishError> {
    let list_path = request.root.join(POOL_LIST);
    std::fs::create_dir_all(request.root).map_err(io_err(request.root))?;
    let previous_text = match std::fs::read_to_string(&list_path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(io_err(&list_path)(err)),
    };
    // Hash maps over borrowed text: tens of thousands of entries, compared often.
    let previous: std::collections::HashMap<&str, &str> = previous_text
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(sha256, path)| (path, sha256))
        .collect();
    let source_files: Vec<(String, String)> =
        request.sources.iter().flat_map(PublishSource::pool_files).collect();
    let mut list: Vec<(String, &str)> = Vec::with_capacity(request.packages.len());
    let mut new = Vec::new();
    let entries = request
        .packages
        .iter()
        .map(|package| (package.pool_path(), package.digest.sha256.as_str()))
        .chain(source_files.iter().map(|(path, sha256)| (path.clone(), sha256.as_str())));
    for (path, sha256) in entries {
        if previous.get(path.as_str()) != Some(&sha256) {
            new.push(list.len());
        }
        list.push((path, sha256));
    }
    outcome.n_pool_files_added += new.len();
    if let Some(objects) = objects {
        let shas: Vec<&str> = new.iter().map(|&at| list[at].1).collect();
        if let Some(&sha256) = objects.missing(&shas).map_err(io_err(objects.root()))?.first() {
            let (path, _) = list.iter().find(|(_, sha)| *sha == sha256).expect("listed");
            return Err(PublishError::MissingObject {
                package: path.clone(),
                sha256: sha256.to_owned(),
            });
        }
    }
    let live: std::collections::HashSet<&str> =
        list.iter().map(|(path, _)| path.as_str()).collect();
    let mut stale = BTreeMap::new();
    let mut kept = Vec::new();
    for (path, sha256) in &previous {
        if live.contains(path) {
            continue;
        }
        let since = state.stale_pool.get(*path).copied().unwrap_or(request.now);
        if request.grace_over(since) {
            outcome.n_pool_files_removed += 1;
        } else {
            stale.insert((*path).to_owned(), since);
            kept.push(((*path).to_owned(), *sha256));
        }
    }
    drop(live);
    list.extend(kept);
    list.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    list.dedup_by(|a, b| a.0 == b.0);
    let mut text = String::with_capacity(previous_text.len() + 4096);
    for (path, sha256) in &list {
        text.push_str(sha256);
        text.push(' ');
        text.push_str(path);
        text.push('\n');
    }
    if text != previous_text {
        fsutil::write_atomic(&list_path, text.as_bytes()).map_err(io_err(&list_path))?;
    }
    Ok(stale)
}

/// [`PoolMode::Listed`](super::PoolMode::Listed) with a [`Delta`]: the previous pool list
/// with the new packages' entries put in, removed packages' entries kept for the grace
/// period (then left out). Returns what [`write_pool_list`] returns.
pub(super) fn edit_pool_list(
    request: &PublishRequest<'_>,
    delta: &Delta,
    previous: &PreviousIndices,
    objects: Option<&Objects>,
    state: &State,
    outcome: &mut PublishOutcome,
) -> Result<BTreeMap<String, i64>, PublishError> {
    let list_path = request.root.join(POOL_LIST);
    let previous_text = std::fs::read_to_string(&list_path).map_err(io_err(&list_path))?;
    let source_files: Vec<(String, String)> =
        request.sources.iter().flat_map(PublishSource::pool_files).collect();
    let new: BTreeMap<String, &str> = request
        .packages
        .iter()
        .map(|package| (package.pool_path(), package.digest.sha256.as_str()))
        .chain(source_files.iter().map(|(path, sha256)| (path.clone(), sha256.as_str())))
        .collect();
    if let Some(objects) = objects {
        let shas: Vec<&str> = new.values().copied().collect();
        if let Some(&sha256) = objects.missing(&shas).map_err(io_err(objects.root()))?.first() {
            let (path, _) = new.iter().find(|(_, sha)| **sha == sha256).expect("listed");
            return Err(PublishError::MissingObject {
                package: path.clone(),
                sha256: sha256.to_owned(),
            });
        }
    }
    let mut stale = state.stale_pool.clone();
    for (component, shas) in &delta.removed {
        let mut removed_paths = Vec::new();
        for sha256 in shas {
            removed_paths.extend(previous.pool_paths(component, sha256));
        }
        // A file of a removed source package that another one lists stays.
        let kept = previous.source_paths_kept(component, shas, &removed_paths);
        for path in removed_paths.into_iter().filter(|path| !kept.contains(path)) {
            stale.entry(path).or_insert(request.now);
        }
    }
    stale.retain(|path, _| !new.contains_key(path));
    let expired: HashSet<String> = request.past_grace(&stale).into_iter().collect();
    stale.retain(|path, _| !expired.contains(path));
    outcome.n_pool_files_removed += expired.len();
    // Both sorted by path: one merge.
    let mut text = String::with_capacity(previous_text.len() + new.len() * 160);
    let mut push = |sha256: &str, path: &str| {
        text.push_str(sha256);
        text.push(' ');
        text.push_str(path);
        text.push('\n');
    };
    let mut new_entries = new.iter().peekable();
    for (sha256, path) in previous_text.lines().filter_map(|line| line.split_once(' ')) {
        while let Some((new_path, new_sha)) = new_entries.next_if(|(p, _)| p.as_str() < path) {
            push(new_sha, new_path);
            outcome.n_pool_files_added += 1;
        }
        if let Some((new_path, new_sha)) = new_entries.next_if(|(p, _)| p.as_str() == path) {
            push(new_sha, new_path);
            outcome.n_pool_files_added += usize::from(*new_sha != sha256);
        } else if !expired.contains(path) {
            push(sha256, path);
        }
    }
    for (new_path, new_sha) in new_entries {
        push(new_sha, new_path);
        outcome.n_pool_files_added += 1;
    }
    if text != previous_text {
        fsutil::write_atomic(&list_path, text.as_bytes()).map_err(io_err(&list_path))?;
    }
    Ok(stale)
}

/// Whether two paths name the same inode (a pool file hard-linked to its object), or
/// hold the same bytes when they are copies.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(ma), Ok(mb)) if ma.dev() == mb.dev() && ma.ino() == mb.ino() => true,
        (Ok(ma), Ok(mb)) if ma.len() == mb.len() => {
            matches!((std::fs::read(a), std::fs::read(b)), (Ok(x), Ok(y)) if x == y)
        }
        _ => false,
    }
}
