//! The package files of a mirror update: downloaded [`CONNECTIONS`] at a time and handed,
//! as each completes, to reader threads that check it against the index (size,
//! SHA-256, then name, version and architecture from its control) and append it to the
//! object store's pack writer — one pass, no file per package. A file up to
//! [`IN_MEMORY_MAX`] goes through memory; a larger one through a file in
//! `DATA/mirror-downloads/NAME/`, which an interrupted update leaves for the next one to
//! continue with a `Range` request. Nothing is durable or visible until the caller
//! finishes the sink (under the writer lock).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt as _;
use wharf_apt::deb::DebPackage;
use wharf_store::AptMemberRow;

use super::fetch::{Downloaded, Remote};
use super::update::Wanted;
use crate::error::{AppError, Result};
use crate::progress::Progress;
use crate::repo::add::ReadDeb;
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
    if files.iter().any(|w| w.package.size > IN_MEMORY_MAX) {
        std::fs::create_dir_all(dir).map_err(|err| {
            AppError::internal(format!("cannot create {}", dir.display())).with_source(err)
        })?;
    }
    let files = Arc::new(files);
    let sink = Arc::new(sink);
    let failed = Arc::new(AtomicBool::new(false));
    let results: Results = Arc::default();
    let (jobs, receiver) = tokio::sync::mpsc::channel::<Job>(QUEUE);
    let readers = spawn_readers(&files, &sink, &failed, &results, receiver);

    let mut stream = futures::stream::iter(files.iter().enumerate().map(|(idx, wanted)| {
        let package = &wanted.package;
        async move {
            if package.size > IN_MEMORY_MAX {
                let dest = dir.join(format!("{}.deb", package.sha256));
                let done = remote
                    .download(&package.filename, &dest, package.size, &package.sha256)
                    .await?;
                Ok::<_, AppError>((Job { idx, body: Body::File(dest) }, done))
            } else {
                let bytes = remote.get_exact(&package.filename, package.size).await?;
                let done = Downloaded { received: bytes.len() as u64, resumed: false };
                Ok((Job { idx, body: Body::Memory(bytes) }, done))
            }
        }
    }))
    .buffer_unordered(CONNECTIONS);
    let mut downloads = Vec::with_capacity(files.len());
    let mut error = None;
    while let Some(done) = stream.next().await {
        match done {
            Ok((job, done)) => {
                downloads.push(done);
                progress.advance(1);
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
    let results = std::mem::take(&mut *results.lock().unwrap_or_else(PoisonError::into_inner));
    let rows = rows_of(name, dir, &files, results)?;
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
type Results = Arc<Mutex<Vec<(usize, ReadDeb)>>>;

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
                    results.lock().unwrap_or_else(PoisonError::into_inner).push((idx, read));
                }
            })
        })
        .collect()
}

/// Checks one downloaded file against the index and stores it (when `store`).
fn read_one(wanted: &Wanted, body: Body, writer: &mut SinkWriter<'_>, store: bool) -> ReadDeb {
    let listed = &wanted.package;
    let bytes = match body {
        Body::Memory(bytes) => {
            let actual = wharf_apt::sha256_hex(&bytes);
            if bytes.len() as u64 != listed.size || actual != listed.sha256 {
                return Err(format!(
                    "{}: its SHA-256 is {actual} ({} bytes), the remote's Packages index says {} ({} bytes): the file is damaged or was tampered with",
                    listed.filename,
                    bytes.len(),
                    listed.sha256,
                    listed.size
                ));
            }
            bytes
        }
        Body::File(path) => {
            std::fs::read(&path).map_err(|err| format!("{}: cannot read: {err}", path.display()))?
        }
    };
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
