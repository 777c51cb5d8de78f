//! Durable file writes: write a temporary file in the target directory, `fsync` it, rename
//! it over the target, `fsync` the directory. A crash at any instant leaves either the old
//! file or the new one, never a torn one.

use std::io::{self, Write as _};
use std::path::Path;

/// `fsync` a directory so that renames and new entries in it survive a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// `syncfs` the filesystem holding `path`: everything written to it so far, data and
/// directory entries, is durable when this returns.
pub fn sync_filesystem(path: &Path) -> io::Result<()> {
    let file = std::fs::File::open(path)?;
    rustix::fs::syncfs(&file)?;
    Ok(())
}

/// `fsync` each directory, or the whole filesystem at once when there are many (one
/// `syncfs` is far cheaper than thousands of directory fsyncs).
pub fn sync_dirs<'a>(dirs: impl ExactSizeIterator<Item = &'a Path>) -> io::Result<()> {
    const MANY: usize = 16;
    if dirs.len() > MANY {
        let mut dirs = dirs;
        return match dirs.next() {
            Some(dir) => sync_filesystem(dir),
            None => Ok(()),
        };
    }
    for dir in dirs {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Replace `path` with `bytes` atomically and durably. The parent directory must exist.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile_in(dir, path)?;
    tmp.1.write_all(bytes)?;
    tmp.1.sync_all()?;
    std::fs::rename(&tmp.0, path)?;
    sync_dir(dir)
}

/// Write `bytes` to `path` unless it exists (content-addressed files never change).
/// Durable like [`write_atomic`]; returns whether the file was written.
pub fn write_new(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    write_atomic(path, bytes)?;
    Ok(true)
}

fn tempfile_in(dir: &Path, target: &Path) -> io::Result<(std::path::PathBuf, std::fs::File)> {
    let stem = target.file_name().map_or_else(|| "file".into(), |name| name.to_string_lossy());
    for attempt in 0u32..100 {
        let candidate = dir.join(format!(".{stem}.{}.{attempt}.tmp", std::process::id()));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&candidate) {
            Ok(file) => return Ok((candidate, file)),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                // Left behind by a crashed process with our pid: it is garbage.
                let _ = std::fs::remove_file(&candidate);
            }
            Err(err) => return Err(err),
        }
    }
    Err(io::Error::other(format!("cannot create a temporary file in {}", dir.display())))
}

/// Atomically make `path` a hard link to `source` (an immutable, durable file), by linking
/// a temporary name and renaming it over `path`; the directory is fsynced. Where hard links
/// are not possible, a durable copy is renamed into place instead.
pub fn link_atomic(source: &Path, path: &Path) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let stem = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{stem}.{}.link.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    if std::fs::hard_link(source, &tmp).is_err() {
        // No hard links here: a copy, written durably and renamed the same way.
        std::fs::copy(source, &tmp)?;
        std::fs::File::open(&tmp)?.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}
