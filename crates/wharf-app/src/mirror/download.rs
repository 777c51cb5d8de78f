//! The package files of a mirror update: downloaded [`CONNECTIONS`] at a time and handed,
//! as each completes, to reader threads that check it against the index (size,
//! SHA-256, then name, version and architecture from its control) and append it to the
//! object store's pack writer — one pass, no file per package. A file up to
//! [`IN_MEMORY_MAX`] goes through memory; a larger one through a file in
//! `DATA/mirror-downloads/NAME/`, which an interrupted update leaves for the next one to
//! continue with a `Range` request. Nothing is durable or visible until the caller
//! finishes the sink (under the writer lock).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt as _;
use wharf_apt::deb::DebPackage;
use wharf_apt::dsc::{SOURCE_ARCHITECTURE, SourceFile};
use wharf_apt::mirror::RemotePackage;
use wharf_store::AptMemberRow;

use super::fetch::{Downloaded, Remote};
use super::update::Wanted;
use crate::error::{AppError, Result};
use crate::progress::Progress;
use crate::repo::add::{ReadDeb, dsc_row};
use crate::storage::{ObjectSink, SinkWriter};

/// Package files downloaded at once (HTTP keep-alive: the connections are reused).
pub(super) const CONNECTIONS: usize = 8;

/// Larger package files are downloaded to disk (resumable); smaller ones into memory.
pub(super) const IN_MEMORY_MAX: u64 = 1 << 20;

/// Downloaded files waiting for a reader thread: bounds what is held in memory.
const QUEUE: usize = 32;

/// What the downloads produced: the rows to record, what each download cost, and the
/// sink holding the files (not durable yet).
pub(super) struct Fetched {
    pub rows: Vec<AptMemberRow>,
    pub downloads: Vec<Downloaded>,
    pub sink: ObjectSink,
}

/// One downloaded file for a reader thread.
struct Job {
    idx: usize,
    body: Body,
}

enum Body {
    /// Received whole, not checked yet.
    Memory(Vec<u8>),
    /// On disk, size and SHA-256 checked by [`Remote::download`].
    File(PathBuf),
    /// A source package's files by name, its `.dsc` first.
    Source(Vec<(String, Body)>),
}

/// Every file of the package `idx` (a source package's `.dsc` first, then the files it
/// lists) as one job for the reader threads.
async fn fetch_package(
    remote: &Remote,
    dir: &Path,
    idx: usize,
    package: &RemotePackage,
) -> Result<(Job, Downloaded)> {
    let (body, mut done) =
        fetch_file(remote, dir, &package.filename, package.size, &package.sha256).await?;
    if package.architecture != SOURCE_ARCHITECTURE {
        return Ok((Job { idx, body }, done));
    }
    let mut parts = vec![(base_name(&package.filename).to_owned(), body)];
    for file in &package.files {
        let (body, more) = fetch_file(remote, dir, &file.path, file.size, &file.sha256).await?;
        done.received += more.received;
        done.resumed |= more.resumed;
        parts.push((base_name(&file.path).to_owned(), body));
    }
    Ok((Job { idx, body: Body::Source(parts) }, done))
}

/// One file into memory, or onto disk when larger than [`IN_MEMORY_MAX`].
async fn fetch_file(
    remote: &Remote,
    dir: &Path,
    rel: &str,
    size: u64,
    sha256: &str,
) -> Result<(Body, Downloaded)> {
    if size > IN_MEMORY_MAX {
        let dest = dir.join(sha256);
        let done = remote.download(rel, &dest, size, sha256).await?;
        Ok((Body::File(dest), done))
    } else {
        let bytes = remote.get_exact(rel, size).await?;
        let done = Downloaded { received: bytes.len() as u64, resumed: false };
        Ok((Body::Memory(bytes), done))
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Downloads `files` and reads each into `sink` (see the module docs). A download that
/// fails ends the update with an error saying to run it again; a file that is not what
/// the index says refuses it, naming every such file.
pub(super) async fn download_and_read(
    name: &str,
    remote: &Remote,
    dir: &Path,
    files: Vec<Wanted>,
    sink: ObjectSink,
    progress: &dyn Progress,
) -> Result<Fetched> {
    if files.is_empty() {
        return Ok(Fetched { rows: Vec::new(), downloads: Vec::new(), sink });
    }
    let large = |w: &Wanted| {
        w.package.size > IN_MEMORY_MAX || w.package.files.iter().any(|f| f.size > IN_MEMORY_MAX)
    };
    if files.iter().any(large) {
        std::fs::create_dir_all(dir).map_err(|err| {
            AppError::internal(format!("cannot create {}", dir.display())).with_source(err)
        })?;
    }
    let files = Arc::new(files);
    let sink = Arc::new(sink);
    let failed = Arc::new(AtomicBool::new(false));
    let (results, read) = std::sync::mpsc::channel();
    let (jobs, receiver) = tokio::sync::mpsc::channel::<Job>(QUEUE);
    let readers = spawn_readers(&files, &sink, &failed, &results, receiver);
    drop(results);
    // What the readers made, copied here as it comes (see `collect`).
    let mut collected = Vec::with_capacity(files.len());

    // Each download owns what it uses: the future is `Send` for the server's handlers.
    let mut stream = futures::stream::iter(0..files.len())
        .map(|idx| {
            let (remote, dir, files) = (remote.clone(), dir.to_owned(), files.clone());
            async move { fetch_package(&remote, &dir, idx, &files[idx].package).await }
        })
        .buffer_unordered(CONNECTIONS);
    let mut downloads = Vec::with_capacity(files.len());
    let mut error = None;
    while let Some(done) = stream.next().await {
        match done {
            Ok((job, done)) => {
                downloads.push(done);
                progress.advance(1);
                collect(&read, &mut collected);
                if jobs.send(job).await.is_err() || failed.load(Ordering::Relaxed) {
                    break;
                }
            }
            Err(err) => {
                error = Some(err);
                break;
            }
        }
    }
    drop(stream);
    drop(jobs);
    crate::repo::add::join(readers).await;

    if let Some(err) = error {
        failed.store(true, Ordering::Relaxed);
        return Err(AppError::new(
            err.kind(),
            format!(
                "mirror {name}: {}; nothing was changed (files over {} MiB, whole or partial, are kept for the next update)",
                err.message(),
                IN_MEMORY_MAX >> 20
            ),
        ));
    }
    collect(&read, &mut collected);
    let rows = rows_of(name, dir, &files, collected)?;
    let sink = Arc::try_unwrap(sink)
        .map_err(|_| AppError::internal("a reader thread outlived the mirror update"))?;
    Ok(Fetched { rows, downloads, sink })
}

/// The rows of every file read, or every refusal at once.
fn rows_of(
    name: &str,
    dir: &Path,
    files: &[Wanted],
    results: Vec<(usize, ReadDeb)>,
) -> Result<Vec<AptMemberRow>> {
    let mut rows = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    for (idx, read) in results {
        match read {
            Ok(package) => {
                rows.push(AptMemberRow { package, component: files[idx].component.clone() });
            }
            Err(err) => errors.push(err),
        }
    }
    if errors.is_empty() {
        return Ok(rows);
    }
    // A file that is not the package the index names is not kept either.
    let _ = std::fs::remove_dir_all(dir);
    errors.sort();
    Err(AppError::invalid(format!(
        "mirror {name}: nothing was changed: {} downloaded files refused:\n  {}",
        errors.len(),
        errors.join("\n  ")
    )))
}

/// What the reader threads made of each file, by its index in the files.
type Results = std::sync::mpsc::Sender<(usize, ReadDeb)>;

/// Take what the readers sent so far, as copies made on this thread. A record a reader
/// thread allocated and kept would sit in that thread's malloc arena between the large
/// short-lived buffers of the next packages, pinning them: at 20,000 packages that was
/// ~100 MiB of resident memory per reader thread for a few MiB of records.
fn collect(read: &std::sync::mpsc::Receiver<(usize, ReadDeb)>, into: &mut Vec<(usize, ReadDeb)>) {
    into.extend(read.try_iter().map(|(idx, result)| (idx, result.clone())));
}

/// Reader threads (one per core, at most 4) taking jobs from `receiver` until it closes.
fn spawn_readers(
    files: &Arc<Vec<Wanted>>,
    sink: &Arc<ObjectSink>,
    failed: &Arc<AtomicBool>,
    results: &Results,
    receiver: tokio::sync::mpsc::Receiver<Job>,
) -> Vec<std::thread::JoinHandle<()>> {
    let receiver = Arc::new(Mutex::new(receiver));
    let n_threads = std::thread::available_parallelism().map_or(1, usize::from).clamp(1, 4);
    (0..n_threads.min(files.len()))
        .map(|_| {
            let (files, sink, failed) = (files.clone(), sink.clone(), failed.clone());
            let (receiver, results) = (receiver.clone(), results.clone());
            std::thread::spawn(move || {
                let mut writer = sink.writer();
                loop {
                    let job =
                        receiver.lock().unwrap_or_else(PoisonError::into_inner).blocking_recv();
                    let Some(Job { idx, body }) = job else { return };
                    let store = !failed.load(Ordering::Relaxed);
                    let read = read_one(&files[idx], body, &mut writer, store);
                    if read.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    // The collector is gone only when the update ended early.
                    let _ = results.send((idx, read));
                }
            })
        })
        .collect()
}

/// Checks one downloaded package against the index and stores it (when `store`).
fn read_one(wanted: &Wanted, body: Body, writer: &mut SinkWriter<'_>, store: bool) -> ReadDeb {
    let listed = &wanted.package;
    if let Body::Source(parts) = body {
        return read_source(wanted, parts, writer, store);
    }
    let bytes = checked(&listed.filename, listed.size, &listed.sha256, body)?;
    let package =
        DebPackage::parse(Path::new(&listed.filename), &bytes).map_err(|err| err.to_string())?;
    let row = crate::repo::add::package_row(&package);
    if (listed.name.as_str(), listed.version.as_str(), listed.architecture.as_str())
        != (row.name.as_str(), row.version.as_str(), row.architecture.as_str())
    {
        return Err(format!(
            "{} is {} {} {}, the index says {} {} {}",
            listed.filename,
            row.name,
            row.version,
            row.architecture,
            listed.name,
            listed.version,
            listed.architecture
        ));
    }
    if store {
        writer
            .put(&row.sha256, bytes)
            .map_err(|err| format!("{}: cannot store: {err}", listed.filename))?;
    }
    Ok(row)
}

/// A source package: its `.dsc` and every file it lists, each checked against the
/// remote's `Sources` and against the `.dsc`, read as `repo add` reads a `.dsc`.
fn read_source(
    wanted: &Wanted,
    parts: Vec<(String, Body)>,
    writer: &mut SinkWriter<'_>,
    store: bool,
) -> ReadDeb {
    let listed = &wanted.package;
    let mut parts = parts.into_iter();
    let Some((dsc_name, dsc)) = parts.next() else {
        return Err(format!("{}: nothing was downloaded", listed.filename));
    };
    let dsc = checked(&listed.filename, listed.size, &listed.sha256, dsc)?;
    let mut others: HashMap<String, Body> = parts.collect();
    let load = |file: &SourceFile| {
        let body = others.remove(&file.name).ok_or_else(|| {
            format!("{}: lists {}, which the remote's Sources does not", listed.filename, file.name)
        })?;
        let remote = listed.files.iter().find(|f| base_name(&f.path) == file.name);
        match remote {
            Some(remote) => checked(&remote.path, remote.size, &remote.sha256, body),
            None => {
                Err(format!("{}: {} is not in the remote's Sources", listed.filename, file.name))
            }
        }
    };
    let row = dsc_row((&listed.filename, &dsc_name), dsc, None, writer, store, load)?;
    if (row.name.as_str(), row.version.as_str()) != (listed.name.as_str(), listed.version.as_str())
    {
        return Err(format!(
            "{} is {} {}, the remote's Sources says {} {}",
            listed.filename, row.name, row.version, listed.name, listed.version
        ));
    }
    Ok(row)
}

/// The bytes of a downloaded file: one in memory checked against its listed size and
/// SHA-256 here (one on disk was while it downloaded).
fn checked(rel: &str, size: u64, sha256: &str, body: Body) -> std::result::Result<Vec<u8>, String> {
    match body {
        Body::Memory(bytes) => {
            let actual = wharf_apt::sha256_hex(&bytes);
            if bytes.len() as u64 != size || actual != sha256 {
                return Err(format!(
                    "{rel}: its SHA-256 is {actual} ({} bytes), the remote's index says {sha256} ({size} bytes): the file is damaged or was tampered with",
                    bytes.len()
                ));
            }
            Ok(bytes)
        }
        Body::File(path) => {
            std::fs::read(&path).map_err(|err| format!("{}: cannot read: {err}", path.display()))
        }
        Body::Source(_) => Err(format!("{rel}: a source package where a file was expected")),
    }
}
