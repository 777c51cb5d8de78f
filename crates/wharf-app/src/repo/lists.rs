//! `repo cleanup`'s trim of the per-package file lists of `Contents` indices
//! (`DATA/contents`, [`wharf_apt::contents::ContentsLists`]): the lists of packages the
//! store no longer has are dropped.
//!
//! The lists are one append-only file and its index, so dropping some means writing the
//! others anew. Crash-safe by construction: the kept lists are written to a scratch
//! directory beside the live one (`DATA/contents.cleanup`) and made durable, then the two
//! directories are swapped in one `renameat2(RENAME_EXCHANGE)`, then the old one (now the
//! scratch one) is removed. A kill at any instant leaves the live directory whole — the old
//! lists or the trimmed ones, never a mix — so the list of every stored package is there
//! (a bucket-stored data directory could not extract a missing one again at publish). A
//! leftover scratch directory is removed by the next cleanup. Where the filesystem cannot
//! swap directories, nothing is trimmed.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use wharf_apt::contents::{ContentsLists, encode_record};

/// What a trim dropped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Trimmed {
    /// Lists of packages no longer stored.
    pub lists: usize,
    /// Bytes the lists took less (sizes of the files).
    pub bytes: u64,
}

/// The scratch directory beside `live`.
fn scratch_of(live: &Path) -> PathBuf {
    let mut name = live.file_name().unwrap_or_default().to_os_string();
    name.push(".cleanup");
    live.with_file_name(name)
}

/// Drop from `live` the lists of every package not in `keep` (their SHA-256). The caller
/// holds the data directory's writer lock, and `keep` is every package the store has.
pub(crate) fn trim(live: &Path, keep: &HashSet<String>) -> io::Result<Trimmed> {
    let scratch = scratch_of(live);
    remove_if_there(&scratch)?;
    let Some(lists) = write_kept(live, &scratch, keep)? else {
        return Ok(Trimmed::default());
    };
    let before = dir_bytes(live)?;
    let after = dir_bytes(&scratch)?;
    if !swap(live, &scratch)? {
        remove_if_there(&scratch)?;
        return Ok(Trimmed::default());
    }
    remove_if_there(&scratch)?;
    Ok(Trimmed { lists, bytes: before.saturating_sub(after) })
}

/// Write the lists of `live` that `keep` names into `scratch`, durably; how many are
/// dropped, or `None` when none is (then nothing is written).
fn write_kept(live: &Path, scratch: &Path, keep: &HashSet<String>) -> io::Result<Option<usize>> {
    let index = ContentsLists::new(live.to_owned()).load()?;
    let mut stored: Vec<&str> = index.packages().collect();
    stored.sort_unstable();
    let dropped = stored.iter().filter(|sha| !keep.contains(**sha)).count();
    if dropped == 0 {
        return Ok(None);
    }
    std::fs::create_dir_all(scratch)?;
    let out = ContentsLists::new(scratch.to_owned());
    let mut records = Vec::new();
    for sha in stored.into_iter().filter(|sha| keep.contains(*sha)) {
        // A torn record reads as missing: it is extracted again at publish, as before.
        if let Some(files) = index.get(sha) {
            encode_record(&mut records, sha, &files);
        }
        if records.len() >= 8 << 20 {
            out.append_records(&records)?;
            records.clear();
        }
    }
    out.append_records(&records)?;
    for entry in std::fs::read_dir(scratch)? {
        std::fs::File::open(entry?.path())?.sync_all()?;
    }
    wharf_apt::fsutil::sync_dir(scratch)?;
    Ok(Some(dropped))
}

/// Exchange `live` and `scratch` atomically (a missing `live` is simply replaced) and make
/// it durable; `false` when the filesystem cannot exchange directories.
fn swap(live: &Path, scratch: &Path) -> io::Result<bool> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, scratch, CWD, live, RenameFlags::EXCHANGE) {
        Ok(()) => {}
        Err(rustix::io::Errno::NOENT) if !live.exists() => std::fs::rename(scratch, live)?,
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => return Ok(false),
        Err(err) => return Err(err.into()),
    }
    wharf_apt::fsutil::sync_dir(live.parent().unwrap_or(Path::new(".")))?;
    Ok(true)
}

fn remove_if_there(dir: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// The size of the files of `dir` (a missing directory: 0).
fn dir_bytes(dir: &Path) -> io::Result<u64> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(err) => return Err(err),
    };
    let mut bytes = 0;
    for entry in entries {
        bytes += entry?.metadata()?.len();
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(c: char) -> String {
        c.to_string().repeat(64)
    }

    fn stored(live: &Path) -> Vec<(String, Option<Vec<String>>)> {
        let index = ContentsLists::new(live.to_owned()).load().unwrap();
        let mut shas: Vec<String> = index.packages().map(str::to_owned).collect();
        shas.sort();
        shas.into_iter().map(|sha| (sha.clone(), index.get(&sha))).collect()
    }

    fn setup() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("contents");
        let lists = ContentsLists::new(live.clone());
        lists.append(&[(sha('a'), vec!["usr/bin/a".into()])]).unwrap();
        lists.append(&[(sha('b'), vec!["usr/bin/b".into(); 2000]), (sha('c'), vec![])]).unwrap();
        (dir, live)
    }

    #[test]
    fn only_the_lists_of_packages_no_longer_stored_are_dropped() {
        let (_dir, live) = setup();
        let keep: HashSet<String> = [sha('a'), sha('c'), sha('z')].into();
        let trimmed = trim(&live, &keep).unwrap();
        assert_eq!(trimmed.lists, 1);
        assert!(trimmed.bytes > 0, "{trimmed:?}");
        assert_eq!(
            stored(&live),
            [(sha('a'), Some(vec!["usr/bin/a".to_owned()])), (sha('c'), Some(vec![]))]
        );
        assert!(!scratch_of(&live).exists());
        // Nothing more to drop: nothing is rewritten.
        assert_eq!(trim(&live, &keep).unwrap(), Trimmed::default());
        assert_eq!(stored(&live).len(), 2);
    }

    /// A kill while the kept lists are written, or after the swap before the old lists are
    /// removed, leaves a scratch directory; the live lists are whole either way, and the
    /// next cleanup removes the leftover and trims.
    #[test]
    fn an_interrupted_trim_leaves_every_list_and_the_next_one_finishes() {
        let (_dir, live) = setup();
        let keep: HashSet<String> = [sha('a')].into();
        let all = stored(&live);
        // Killed after writing the kept lists, before the swap.
        let scratch = scratch_of(&live);
        assert_eq!(write_kept(&live, &scratch, &keep).unwrap(), Some(2));
        assert_eq!(stored(&live), all, "the live lists are untouched");
        // Killed after the swap, before removing the old lists.
        assert!(swap(&live, &scratch).unwrap());
        assert_eq!(stored(&live), [(sha('a'), Some(vec!["usr/bin/a".to_owned()]))]);
        assert_eq!(stored(&scratch), all, "the old lists wait in the scratch directory");
        // Torn while written: garbage in the scratch directory.
        std::fs::write(scratch.join("lists"), b"torn").unwrap();
        let trimmed = trim(&live, &[sha('b')].into()).unwrap();
        assert_eq!(trimmed.lists, 1);
        assert!(!scratch.exists());
        assert!(stored(&live).is_empty());
    }

    #[test]
    fn no_lists_at_all_is_nothing_to_trim() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("contents");
        assert_eq!(trim(&live, &HashSet::new()).unwrap(), Trimmed::default());
        assert!(!live.exists() && !scratch_of(&live).exists());
    }
}
