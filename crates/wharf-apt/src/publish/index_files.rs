//! Steps 2 and 3 for one index: its plain text streamed to a temporary file in
//! `by-hash/SHA256/` (hashed on the way), its `.gz` and `.xz` compressed chunk by chunk
//! (unchanged chunks copied from the previous ones), by-hash files first, then the plain
//! names linked to them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{IndexState, PublishError, PublishOutcome, io_err};
use crate::fsutil;
use crate::index::IndexFile;
use crate::sha256_hex;

/// Writes one index: `stanzas` hands each stanza (with its last newline) to the writer it
/// is given, which adds the blank line, hashes, writes and compresses it chunk by chunk —
/// copying the unchanged chunks out of the previous `.gz` and `.xz` — then
/// [`finish_index`].
pub(super) fn build_index(
    built: BuiltIndex<'_>,
    outcome: &mut PublishOutcome,
    dirs_to_sync: &mut BTreeSet<PathBuf>,
    stanzas: impl FnOnce(&mut dyn FnMut(&[u8]) -> Result<(), PublishError>) -> Result<(), PublishError>,
) -> Result<IndexState, PublishError> {
    let by_hash_dir = built.dists.join(built.rel_dir).join("by-hash/SHA256");
    std::fs::create_dir_all(&by_hash_dir).map_err(io_err(&by_hash_dir))?;
    let previous_files =
        built.cached.and_then(|c| previous_compressed(c, &by_hash_dir, built.name));
    let previous_chunks = match (built.cached, &previous_files) {
        (Some(cached), Some((gz, xz))) => {
            Some(crate::chunked::Previous { gz, xz, spans: &cached.spans })
        }
        _ => None,
    };
    let mut builder = crate::chunked::Builder::new(previous_chunks);
    let mut plain = PlainWriter::create(&by_hash_dir)?;
    let mut stanza = Vec::new();
    stanzas(&mut |text: &[u8]| {
        // Each stanza followed by a blank line, as `index::packages_file` writes them.
        stanza.clear();
        stanza.extend_from_slice(text);
        stanza.push(b'\n');
        builder.push(&stanza);
        plain.write(&stanza)
    })?;
    finish_index(built, plain, builder, outcome, dirs_to_sync)
}

/// An index whose text is written: where, and what the previous publish recorded for it.
pub(super) struct BuiltIndex<'a> {
    pub(super) dists: &'a Path,
    /// `main/binary-amd64`, `main/source`.
    pub(super) rel_dir: &'a str,
    /// `Packages`, `Sources`.
    pub(super) name: &'a str,
    pub(super) cached: Option<&'a IndexState>,
}

/// Steps 2 and 3 for one index whose text is in `plain` and `builder`: unchanged (the
/// state's SHA-256 and by-hash files), it is kept; otherwise its compressed forms are
/// finished, written to `by-hash/SHA256/`, and the plain names linked to them.
fn finish_index(
    index: BuiltIndex<'_>,
    plain: PlainWriter,
    builder: crate::chunked::Builder<'_>,
    outcome: &mut PublishOutcome,
    dirs_to_sync: &mut BTreeSet<PathBuf>,
) -> Result<IndexState, PublishError> {
    let BuiltIndex { dists, rel_dir, name, cached } = index;
    let dir = dists.join(rel_dir);
    let by_hash_dir = dir.join("by-hash/SHA256");
    let plain = plain.finish()?;
    if let Some(cached) = cached
        && cached.sha256 == plain.sha256
        && cached.files.iter().all(|f| by_hash_dir.join(&f.sha256).exists())
    {
        plain.discard();
        outcome.n_indices_unchanged += 1;
        return Ok(cached.clone());
    }
    let compressed = match builder.finish() {
        Some(compressed) => compressed,
        // Not expected: compress the index whole, from its file.
        None => {
            crate::chunked::compress(&std::fs::read(&plain.tmp).map_err(io_err(&plain.tmp))?, None)
        }
    };
    outcome.n_chunks_compressed += compressed.n_chunks_compressed;
    let (gz, xz, spans) = (compressed.gz, compressed.xz, compressed.spans);
    let plain_file = IndexFile {
        path: format!("{rel_dir}/{name}"),
        size: plain.size,
        md5: plain.md5.clone(),
        sha256: plain.sha256.clone(),
    };
    plain.keep_as(&by_hash_dir.join(&plain_file.sha256))?;
    let names = [name.to_owned(), format!("{name}.gz"), format!("{name}.xz")];
    let mut files = vec![plain_file];
    for (name, bytes) in names[1..].iter().zip([&gz, &xz]) {
        let file = IndexFile::of(format!("{rel_dir}/{name}"), bytes);
        let by_hash = by_hash_dir.join(&file.sha256);
        if !by_hash.exists() {
            write_unsynced(&by_hash, bytes)?;
        }
        files.push(file);
    }
    dirs_to_sync.insert(by_hash_dir.clone());
    // The plain names are hard links to the (immutable, already durable) by-hash files:
    // the bytes are written once.
    for (name, file) in names.iter().zip(&files) {
        let path = dir.join(name);
        fsutil::link_atomic(&by_hash_dir.join(&file.sha256), &path).map_err(io_err(&path))?;
    }
    outcome.n_indices_rewritten += 1;
    Ok(IndexState { sha256: plain.sha256, files, spans })
}

/// The `.gz` and `.xz` an index state names, read from `by-hash/` and checked against
/// their SHA-256; `None` when either is missing or damaged (everything is compressed
/// again then).
fn previous_compressed(
    cached: &IndexState,
    by_hash_dir: &Path,
    name: &str,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let read = |suffix: String| {
        let file = cached.files.iter().find(|f| f.path.ends_with(&suffix))?;
        let bytes = std::fs::read(by_hash_dir.join(&file.sha256)).ok()?;
        (sha256_hex(&bytes) == file.sha256).then_some(bytes)
    };
    Some((read(format!("/{name}.gz"))?, read(format!("/{name}.xz"))?))
}

/// A `Packages` file being written: to a temporary file in `by-hash/SHA256/`, hashed as
/// it goes (MD5 on a thread of its own: it costs twice SHA-256), named by its SHA-256 once
/// complete.
struct PlainWriter {
    tmp: PathBuf,
    file: std::fs::File,
    buffer: Vec<u8>,
    sha256: sha2::Sha256,
    md5: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    md5_thread: std::thread::JoinHandle<md5::Md5>,
    size: u64,
}

/// A complete `Packages` file, still under its temporary name.
struct Plain {
    tmp: PathBuf,
    sha256: String,
    md5: String,
    size: u64,
}

const PLAIN_BUFFER: usize = 1 << 20;

impl PlainWriter {
    fn create(by_hash_dir: &Path) -> Result<PlainWriter, PublishError> {
        use sha2::Digest as _;
        let tmp = by_hash_dir.join(format!(".Packages.{}.tmp", std::process::id()));
        let file = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
        let (md5, parts) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let md5_thread = std::thread::spawn(move || {
            let mut md5 = md5::Md5::new();
            for part in parts {
                md5.update(&part);
            }
            md5
        });
        Ok(PlainWriter {
            file,
            buffer: Vec::with_capacity(PLAIN_BUFFER),
            tmp,
            sha256: sha2::Sha256::new(),
            md5: Some(md5),
            md5_thread,
            size: 0,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), PublishError> {
        self.buffer.extend_from_slice(bytes);
        self.size += bytes.len() as u64;
        if self.buffer.len() >= PLAIN_BUFFER {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), PublishError> {
        use sha2::Digest as _;
        use std::io::Write as _;
        self.file.write_all(&self.buffer).map_err(io_err(&self.tmp))?;
        self.sha256.update(&self.buffer);
        let full = std::mem::replace(&mut self.buffer, Vec::with_capacity(PLAIN_BUFFER));
        if let Some(md5) = &self.md5 {
            // The thread only ends when the sender is dropped.
            let _ = md5.send(full);
        }
        Ok(())
    }

    /// Flushed and durable.
    fn finish(mut self) -> Result<Plain, PublishError> {
        use sha2::Digest as _;
        self.flush()?;
        self.md5 = None;
        let md5 = self.md5_thread.join().expect("hashing does not panic");
        self.file.sync_all().map_err(io_err(&self.tmp))?;
        Ok(Plain {
            sha256: hex::encode(self.sha256.finalize()),
            md5: hex::encode(md5.finalize()),
            size: self.size,
            tmp: self.tmp,
        })
    }
}

impl Plain {
    /// Renamed to `path`, unless a file is there already (same name, same content).
    fn keep_as(&self, path: &Path) -> Result<(), PublishError> {
        if path.exists() {
            self.discard();
            return Ok(());
        }
        std::fs::rename(&self.tmp, path).map_err(io_err(path))
    }

    fn discard(&self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

pub(super) fn write_unsynced(path: &Path, bytes: &[u8]) -> Result<(), PublishError> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    file.write_all(bytes).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

pub(super) fn sync_dirs(dirs: &BTreeSet<PathBuf>) -> Result<(), PublishError> {
    let first = dirs.first().cloned().unwrap_or_default();
    fsutil::sync_dirs(dirs.iter().map(PathBuf::as_path))
        .map_err(|source| PublishError::Io { path: first, source })
}
