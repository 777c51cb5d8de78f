//! Content-addressed package storage on the local filesystem.
//!
//! Two forms, one namespace (the SHA-256 of the content):
//! - loose: `ROOT/sha256/ab/<sha256>`, one file per object — what a `repo add` of a few
//!   files writes;
//! - packed: `ROOT/packs/<name>.pack` holds many objects back to back and
//!   `ROOT/packs/<name>.idx` lists them (`<sha256> <offset> <size>` lines) — what a large
//!   batch writes. Creating 20,000 small files costs seconds of inode allocation; one pack
//!   costs one file.
//!
//! Invariants:
//! - Objects are durable (written, fsynced, renamed, directory fsynced) *before* any
//!   metadata refers to them, and never change afterwards.
//! - A pack counts only once its `.idx` exists; the `.idx` is renamed into place after the
//!   `.pack` is durable, so a crash leaves at worst a `.pack` without `.idx`, which
//!   [`Objects::retain`] removes.
//! - Readers that find an object missing from a pack they had indexed (a concurrent
//!   [`Objects::retain`] rewrote it) reload the index once before reporting it missing.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Batches of at most this many new objects are stored loose; larger ones as one pack.
pub const LOOSE_BATCH_MAX: usize = 16;

/// The object directory.
#[derive(Debug, Clone)]
pub struct Objects {
    root: PathBuf,
    /// Every `.idx` read so far, by file name, and where each packed object is.
    packs: Arc<Mutex<PackIndex>>,
}

#[derive(Debug, Default)]
struct PackIndex {
    loaded: HashSet<String>,
    entries: HashMap<String, Packed>,
}

/// A pack being written: see [`Objects::pack_writer`].
#[derive(Debug)]
pub struct PackWriter {
    objects: Objects,
    /// `None` once finished.
    file: Option<io::BufWriter<File>>,
    tmp: PathBuf,
    index: String,
    shas: Vec<String>,
    offset: u64,
}

impl PackWriter {
    /// Append one object (not durable yet).
    pub fn append(&mut self, sha256: &str, bytes: &[u8]) -> io::Result<()> {
        let file = self.file.as_mut().ok_or_else(|| io::Error::other("pack already finished"))?;
        file.write_all(bytes)?;
        self.index.push_str(&format!("{sha256} {} {}\n", self.offset, bytes.len()));
        self.shas.push(sha256.to_owned());
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// How many objects were appended.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shas.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.shas.is_empty()
    }

    /// Make every appended object durable and visible: a few become loose objects (see
    /// [`LOOSE_BATCH_MAX`]: many tiny packs would slow every lookup), more stay one pack,
    /// `.pack` durable before its `.idx` is renamed into place. Returns how many objects.
    pub fn finish(mut self) -> io::Result<usize> {
        let n_objects = self.shas.len();
        if n_objects == 0 {
            self.file = None;
            std::fs::remove_file(&self.tmp)?;
            return Ok(0);
        }
        if n_objects > LOOSE_BATCH_MAX {
            self.finish_pack()?;
            return Ok(n_objects);
        }
        let file = self.file.take().expect("not finished");
        let file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
        let mut offset = 0;
        for (line, sha256) in self.index.lines().zip(&self.shas) {
            let size: u64 = line.rsplit(' ').next().and_then(|size| size.parse().ok()).unwrap_or(0);
            let mut bytes = vec![0; usize::try_from(size).map_err(io::Error::other)?];
            file.read_exact_at(&mut bytes, offset)?;
            offset += size;
            self.objects.put(sha256, &bytes)?;
        }
        drop(file);
        std::fs::remove_file(&self.tmp)?;
        Ok(n_objects)
    }

    fn finish_pack(&mut self) -> io::Result<()> {
        let dir = self.objects.packs_dir();
        let name = {
            let mut names: Vec<&str> = self.shas.iter().map(String::as_str).collect();
            names.sort_unstable();
            format!("pack-{}", &crate::sha256_hex(names.concat().as_bytes())[..32])
        };
        let file = self.file.take().ok_or_else(|| io::Error::other("pack already finished"))?;
        file.into_inner().map_err(io::IntoInnerError::into_error)?.sync_all()?;
        std::fs::rename(&self.tmp, dir.join(format!("{name}.pack")))?;
        crate::fsutil::write_atomic(&dir.join(format!("{name}.idx")), self.index.as_bytes())?;
        if let Some(parent) = dir.parent() {
            crate::fsutil::sync_dir(parent)?;
        }
        Ok(())
    }
}

impl Drop for PackWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            // Unfinished: nothing of it may count.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Where an object's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A file of its own.
    Loose(PathBuf),
    /// `size` bytes at `offset` in a pack file.
    Packed(Packed),
}

/// An object inside a pack file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    pub pack: Arc<Path>,
    pub offset: u64,
    pub size: u64,
}

impl Location {
    /// The file that holds the bytes, the offset where they start, and how many there are.
    pub fn span(&self) -> io::Result<(PathBuf, u64, u64)> {
        match self {
            Location::Loose(path) => Ok((path.clone(), 0, std::fs::metadata(path)?.len())),
            Location::Packed(packed) => Ok((packed.pack.to_path_buf(), packed.offset, packed.size)),
        }
    }

    /// Reads the whole object.
    pub fn read(&self) -> io::Result<Vec<u8>> {
        match self {
            Location::Loose(path) => std::fs::read(path),
            Location::Packed(packed) => {
                let file = File::open(&packed.pack)?;
                let mut bytes = vec![0; usize::try_from(packed.size).map_err(io::Error::other)?];
                file.read_exact_at(&mut bytes, packed.offset)?;
                Ok(bytes)
            }
        }
    }
}

impl Objects {
    #[must_use]
    pub fn new(root: PathBuf) -> Objects {
        Objects { root, packs: Arc::default() }
    }

    /// The directory everything is stored under.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the loose object with this SHA-256 (lower-case hex) lives, or would live.
    #[must_use]
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.root.join("sha256").join(&sha256[..2]).join(sha256)
    }

    fn packs_dir(&self) -> PathBuf {
        self.root.join("packs")
    }

    /// Where the object is, if stored.
    pub fn locate(&self, sha256: &str) -> io::Result<Option<Location>> {
        let loose = self.path(sha256);
        if loose.exists() {
            return Ok(Some(Location::Loose(loose)));
        }
        let mut packs = self.packs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(packed) = packs.entries.get(sha256) {
            if packed.pack.exists() {
                return Ok(Some(Location::Packed(packed.clone())));
            }
            // Rewritten by a cleanup since it was indexed: start over.
            *packs = PackIndex::default();
        }
        self.load_new_indices(&mut packs)?;
        Ok(packs.entries.get(sha256).cloned().map(Location::Packed))
    }

    /// Whether the object is stored.
    pub fn contains(&self, sha256: &str) -> io::Result<bool> {
        Ok(self.locate(sha256)?.is_some())
    }

    /// Read an object back.
    pub fn get(&self, sha256: &str) -> io::Result<Vec<u8>> {
        match self.locate(sha256)? {
            Some(location) => location.read(),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("object {sha256} is not in {}", self.root.display()),
            )),
        }
    }

    /// Reads the `.idx` files not read yet.
    fn load_new_indices(&self, packs: &mut PackIndex) -> io::Result<()> {
        let dir = self.packs_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err),
        };
        for entry in entries {
            let name = entry?.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".idx") else { continue };
            if stem.starts_with('.') || packs.loaded.contains(&name) {
                continue;
            }
            let pack: Arc<Path> = dir.join(format!("{stem}.pack")).into();
            let text = match std::fs::read_to_string(dir.join(&name)) {
                Ok(text) => text,
                // Removed by a concurrent cleanup between listing and reading.
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err),
            };
            for (sha256, offset, size) in parse_index(&text, &dir.join(&name))? {
                packs.entries.insert(sha256, Packed { pack: pack.clone(), offset, size });
            }
            packs.loaded.insert(name);
        }
        Ok(())
    }

    /// Store `bytes` under `sha256` unless present; durable when this returns.
    pub fn put(&self, sha256: &str, bytes: &[u8]) -> io::Result<bool> {
        if self.contains(sha256)? {
            return Ok(false);
        }
        let path = self.path(sha256);
        let dir = path.parent().unwrap_or(Path::new("."));
        if !dir.exists() {
            std::fs::create_dir_all(dir)?;
            if let Some(parent) = dir.parent() {
                crate::fsutil::sync_dir(parent)?;
            }
        }
        crate::fsutil::write_new(&path, bytes)
    }

    /// Store every object not stored yet, durably: loose when there are at most
    /// [`LOOSE_BATCH_MAX`] new ones, else as one new pack. Returns how many were new.
    pub fn put_batch(&self, objects: &[(&str, &[u8])]) -> io::Result<usize> {
        let shas: Vec<&str> = objects.iter().map(|(sha256, _)| *sha256).collect();
        let missing: HashSet<&str> = self.missing(&shas)?.into_iter().collect();
        let mut seen = HashSet::new();
        let new: Vec<(&str, &[u8])> = objects
            .iter()
            .filter(|(sha256, _)| missing.contains(sha256) && seen.insert(*sha256))
            .copied()
            .collect();
        if new.len() <= LOOSE_BATCH_MAX {
            for (sha256, bytes) in &new {
                self.put(sha256, bytes)?;
            }
        } else {
            self.write_pack(&new)?;
        }
        Ok(new.len())
    }

    /// The SHA-256s in `shas` that are not stored, in their order. A few are looked up
    /// one by one; many with one listing of the loose objects and one index load instead
    /// of a lookup (two `stat`s, mostly) per object.
    pub fn missing<'a>(&self, shas: &[&'a str]) -> io::Result<Vec<&'a str>> {
        let mut out = Vec::new();
        if shas.len() <= LOOSE_BATCH_MAX {
            for &sha256 in shas {
                if !self.contains(sha256)? {
                    out.push(sha256);
                }
            }
            return Ok(out);
        }
        let loose = self.list_loose()?;
        let mut packs = self.packs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Indexed packs that a cleanup has rewritten since: start over.
        let mut pack_files: HashSet<&Arc<Path>> = HashSet::new();
        for packed in packs.entries.values() {
            pack_files.insert(&packed.pack);
        }
        if pack_files.iter().any(|pack| !pack.exists()) {
            *packs = PackIndex::default();
        }
        self.load_new_indices(&mut packs)?;
        for &sha256 in shas {
            if !loose.contains(sha256) && !packs.entries.contains_key(sha256) {
                out.push(sha256);
            }
        }
        Ok(out)
    }

    /// Writes `objects` as one pack: `.pack` durable first, then its `.idx`.
    fn write_pack(&self, objects: &[(&str, &[u8])]) -> io::Result<()> {
        let mut writer = self.pack_writer()?;
        for (sha256, bytes) in objects {
            writer.append(sha256, bytes)?;
        }
        writer.finish_pack()
    }

    /// A pack written object by object (a large `repo add` streams every file into one
    /// as it reads it, so no file is held in memory past its turn). Nothing written counts
    /// until [`PackWriter::finish`]; dropped unfinished, it leaves nothing behind.
    pub fn pack_writer(&self) -> io::Result<PackWriter> {
        let dir = self.packs_dir();
        std::fs::create_dir_all(&dir)?;
        for attempt in 0u32..100 {
            let tmp = dir.join(format!(".pack.{}.{attempt}.tmp", std::process::id()));
            match File::options().read(true).write(true).create_new(true).open(&tmp) {
                Ok(file) => {
                    return Ok(PackWriter {
                        objects: self.clone(),
                        file: Some(io::BufWriter::with_capacity(1 << 20, file)),
                        tmp,
                        index: String::new(),
                        shas: Vec::new(),
                        offset: 0,
                    });
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(err),
            }
        }
        Err(io::Error::other(format!("cannot create a temporary pack in {}", dir.display())))
    }

    /// Delete every stored object whose SHA-256 is not in `keep` (packs that hold some are
    /// rewritten with the rest), and leftovers of interrupted writes; returns how many
    /// objects were removed and their total size.
    pub fn retain(&self, keep: &HashSet<String>) -> io::Result<(usize, u64)> {
        let mut n_removed = 0;
        let mut n_bytes = 0;
        let base = self.root.join("sha256");
        if let Ok(dirs) = std::fs::read_dir(&base) {
            for dir in dirs {
                let dir = dir?.path();
                if !dir.is_dir() {
                    continue;
                }
                for entry in std::fs::read_dir(&dir)? {
                    let entry = entry?;
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if keep.contains(&name) {
                        continue;
                    }
                    n_bytes += entry.metadata().map_or(0, |m| m.len());
                    std::fs::remove_file(entry.path())?;
                    n_removed += 1;
                }
            }
        }
        let dir = self.packs_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else { return Ok((n_removed, n_bytes)) };
        let names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        for name in &names {
            if name.starts_with('.') {
                // An interrupted write.
                std::fs::remove_file(dir.join(name))?;
            } else if let Some(stem) = name.strip_suffix(".pack")
                && !names.contains(&format!("{stem}.idx"))
            {
                // Its index was never written: nothing refers to it.
                std::fs::remove_file(dir.join(name))?;
            }
        }
        for name in &names {
            let Some(stem) = name.strip_suffix(".idx") else { continue };
            let idx_path = dir.join(name);
            let pack_path = dir.join(format!("{stem}.pack"));
            let entries = parse_index(&std::fs::read_to_string(&idx_path)?, &idx_path)?;
            let (live, dead): (Vec<_>, Vec<_>) =
                entries.into_iter().partition(|(sha256, _, _)| keep.contains(sha256));
            if dead.is_empty() {
                continue;
            }
            if !live.is_empty() {
                let file = File::open(&pack_path)?;
                let mut kept = Vec::new();
                for (sha256, offset, size) in &live {
                    let mut bytes = vec![0; usize::try_from(*size).map_err(io::Error::other)?];
                    file.read_exact_at(&mut bytes, *offset)?;
                    kept.push((sha256.as_str(), bytes));
                }
                let kept: Vec<(&str, &[u8])> =
                    kept.iter().map(|(sha256, bytes)| (*sha256, bytes.as_slice())).collect();
                self.write_pack(&kept)?;
            }
            // The index goes first: a pack without one is ignored.
            std::fs::remove_file(&idx_path)?;
            std::fs::remove_file(&pack_path)?;
            n_removed += dead.len();
            n_bytes += dead.iter().map(|(_, _, size)| size).sum::<u64>();
        }
        *self.packs.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            PackIndex::default();
        Ok((n_removed, n_bytes))
    }

    /// The SHA-256 of every loose object.
    fn list_loose(&self) -> io::Result<HashSet<String>> {
        let mut out = HashSet::new();
        if let Ok(dirs) = std::fs::read_dir(self.root.join("sha256")) {
            for dir in dirs {
                let dir = dir?.path();
                if dir.is_dir() {
                    for entry in std::fs::read_dir(&dir)? {
                        let name = entry?.file_name().to_string_lossy().into_owned();
                        if !name.starts_with('.') {
                            out.insert(name);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every stored object's SHA-256, loose or packed.
    pub fn list(&self) -> io::Result<Vec<String>> {
        let mut out: Vec<String> = self.list_loose()?.into_iter().collect();
        let mut packs = self.packs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *packs = PackIndex::default();
        self.load_new_indices(&mut packs)?;
        out.extend(packs.entries.keys().cloned());
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}

/// `<sha256> <offset> <size>` lines; an error names the file and line.
fn parse_index(text: &str, path: &Path) -> io::Result<Vec<(String, u64, u64)>> {
    text.lines()
        .enumerate()
        .map(|(n, line)| {
            let mut parts = line.split(' ');
            match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(sha256), Some(offset), Some(size), None)
                    if sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit()) =>
                {
                    let offset = offset.parse().ok();
                    let size = size.parse().ok();
                    if let (Some(offset), Some(size)) = (offset, size) {
                        return Ok((sha256.to_owned(), offset, size));
                    }
                    Err(())
                }
                _ => Err(()),
            }
            .map_err(|()| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}:{}: malformed pack index line {line:?}", path.display(), n + 1),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(n: usize) -> (String, Vec<u8>) {
        let bytes = format!("object number {n}").into_bytes();
        (crate::sha256_hex(&bytes), bytes)
    }

    fn batch(objects: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
        objects.iter().map(|(sha256, bytes)| (sha256.as_str(), bytes.as_slice())).collect()
    }

    #[test]
    fn small_batches_are_loose_large_ones_packed_and_both_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let objects = Objects::new(dir.path().join("objects"));
        let few: Vec<_> = (0..3).map(object).collect();
        let many: Vec<_> = (3..103).map(object).collect();
        assert_eq!(objects.put_batch(&batch(&few)).unwrap(), 3);
        assert!(matches!(objects.locate(&few[0].0).unwrap(), Some(Location::Loose(_))));
        let mut many_refs = batch(&many);
        many_refs.push(batch(&few)[0]); // already stored: skipped
        assert_eq!(objects.put_batch(&many_refs).unwrap(), 100);
        assert!(matches!(objects.locate(&many[50].0).unwrap(), Some(Location::Packed(_))));
        for (sha256, bytes) in few.iter().chain(&many) {
            assert_eq!(&objects.get(sha256).unwrap(), bytes);
        }
        // A second handle finds packs written by the first.
        let other = Objects::new(dir.path().join("objects"));
        assert_eq!(other.get(&many[99].0).unwrap(), many[99].1);
        assert_eq!(other.list().unwrap().len(), 103);
        assert_eq!(objects.put_batch(&many_refs).unwrap(), 0, "nothing new the second time");
    }

    #[test]
    fn pack_writers_count_only_once_finished() {
        let dir = tempfile::tempdir().unwrap();
        let objects = Objects::new(dir.path().join("objects"));
        let many: Vec<_> = (0..40).map(object).collect();
        let mut writer = objects.pack_writer().unwrap();
        for (sha256, bytes) in &many {
            writer.append(sha256, bytes).unwrap();
        }
        assert!(!objects.contains(&many[0].0).unwrap(), "not visible before finish");
        assert_eq!(writer.finish().unwrap(), 40);
        assert!(matches!(objects.locate(&many[7].0).unwrap(), Some(Location::Packed(_))));
        assert_eq!(objects.get(&many[39].0).unwrap(), many[39].1);
        // A few objects end up loose; an abandoned writer leaves nothing.
        let few: Vec<_> = (40..43).map(object).collect();
        let mut writer = objects.pack_writer().unwrap();
        for (sha256, bytes) in &few {
            writer.append(sha256, bytes).unwrap();
        }
        assert_eq!(writer.finish().unwrap(), 3);
        assert!(matches!(objects.locate(&few[2].0).unwrap(), Some(Location::Loose(_))));
        assert_eq!(objects.get(&few[1].0).unwrap(), few[1].1);
        let mut abandoned = objects.pack_writer().unwrap();
        abandoned.append(&object(50).0, &object(50).1).unwrap();
        drop(abandoned);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("objects/packs"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        assert_eq!(objects.list().unwrap().len(), 43);
    }

    #[test]
    fn retain_rewrites_packs_and_drops_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let objects = Objects::new(dir.path().join("objects"));
        let all: Vec<_> = (0..40).map(object).collect();
        objects.put_batch(&batch(&all)).unwrap();
        objects.put(&object(99).0, &object(99).1).unwrap();
        // An interrupted pack write: a .pack without .idx, and a temporary file.
        std::fs::write(dir.path().join("objects/packs/pack-dead.pack"), b"x").unwrap();
        std::fs::write(dir.path().join("objects/packs/.pack-x.1.pack.tmp"), b"x").unwrap();
        let keep: HashSet<String> = all.iter().step_by(2).map(|(s, _)| s.clone()).collect();
        let reader = Objects::new(dir.path().join("objects"));
        assert_eq!(reader.get(&all[1].0).unwrap(), all[1].1, "indexed before the cleanup");
        let (n, bytes) = objects.retain(&keep).unwrap();
        assert_eq!(n, 21, "20 packed and 1 loose");
        assert_eq!(
            bytes,
            all.iter().skip(1).step_by(2).map(|(_, b)| b.len() as u64).sum::<u64>() + 16
        );
        for (i, (sha256, bytes)) in all.iter().enumerate() {
            if i % 2 == 0 {
                assert_eq!(&reader.get(sha256).unwrap(), bytes, "kept {i}, read after a rewrite");
            } else {
                assert!(reader.get(sha256).is_err(), "removed {i}");
            }
        }
        let left: Vec<String> = std::fs::read_dir(dir.path().join("objects/packs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left.len(), 2, "one rewritten pack and its index: {left:?}");
        assert_eq!(objects.retain(&HashSet::new()).unwrap().0, 20);
        assert!(objects.list().unwrap().is_empty());
    }

    #[test]
    fn a_malformed_index_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let objects = Objects::new(dir.path().to_owned());
        std::fs::create_dir_all(dir.path().join("packs")).unwrap();
        std::fs::write(
            dir.path().join("packs/pack-a.idx"),
            format!("{} 0 1\nnonsense\n", "a".repeat(64)),
        )
        .unwrap();
        let err = objects.locate(&"b".repeat(64)).unwrap_err().to_string();
        assert!(err.contains("pack-a.idx:2: malformed"), "{err}");
    }
}
