//! Where package files and published trees live: the data directory (the default:
//! `DATA/objects`, `DATA/public`, fsync and rename) or an S3-compatible bucket
//! (`s3://BUCKET[/PREFIX]`, through `wharf_storage`).
//!
//! Async and usable from any runtime (a server handler included): bucket I/O is awaited
//! directly, filesystem and CPU-heavy work (building indices, checking objects) runs on
//! blocking threads. With a bucket, a publish builds the tree in the data directory's
//! staging cache (indices only, rebuildable) and `wharf_storage::mirror` uploads it in
//! the safe order. [`ObjectSink`] is how `repo add` stores files while it reads them.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use wharf_apt::objects::{Location, Objects, PackWriter};
use wharf_apt::publish::{
    Delta, PoolMode, PreviousIndices, PublishOutcome, PublishPackage, PublishRequest, PublishSource,
};
use wharf_apt::sign::SigningKey;
use wharf_storage::mirror::{self, MirrorRequest};
use wharf_storage::{Bucket, StorageError, object_key, public_key};

use crate::error::{AppError, Context as _, Result};
use crate::layout::DataLayout;

/// PUTs (and reads) in flight at once against a bucket.
const CONCURRENCY: usize = 16;

/// Package files and published trees: local or in a bucket.
#[derive(Debug, Clone)]
pub enum Storage {
    /// The object directory and the data directory's layout.
    Local { objects: Objects, layout: DataLayout },
    /// A bucket; trees are staged under the data directory before upload.
    Bucket { bucket: Bucket, layout: DataLayout },
}

/// Everything a publish writes, owned, so it can run on a blocking thread.
#[derive(Debug)]
pub struct PublishJob {
    pub root: PathBuf,
    pub distribution: String,
    pub origin: String,
    pub label: String,
    pub description: Option<String>,
    pub components: Vec<String>,
    pub architectures: Vec<String>,
    pub packages: Vec<PublishPackage>,
    pub sources: Vec<PublishSource>,
    pub now: i64,
    pub valid_for_seconds: Option<i64>,
    pub grace_seconds: i64,
    pub previous: PreviousIndices,
    pub delta: Option<Delta>,
    pub pool: PoolMode,
    /// Per-package file lists for `Contents` indices; `None`: the repository has them off.
    pub contents: Option<wharf_apt::contents::ContentsLists>,
}

impl PublishJob {
    fn request(&self) -> PublishRequest<'_> {
        PublishRequest {
            root: &self.root,
            distribution: &self.distribution,
            origin: &self.origin,
            label: &self.label,
            description: self.description.as_deref(),
            components: &self.components,
            architectures: &self.architectures,
            packages: &self.packages,
            sources: &self.sources,
            now: self.now,
            valid_for_seconds: self.valid_for_seconds,
            grace_seconds: self.grace_seconds,
            previous: Some(&self.previous),
            delta: self.delta.as_ref(),
            pool: self.pool,
            contents: self.contents.as_ref(),
        }
    }
}

/// Run blocking work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work).await.or_internal(|| "a blocking task failed".to_owned())
}

impl Storage {
    /// The data directory's object store.
    #[must_use]
    pub fn local(layout: &DataLayout) -> Storage {
        Storage::Local { objects: Objects::new(layout.objects()), layout: layout.clone() }
    }

    /// A bucket, with trees staged under `layout` before upload.
    #[must_use]
    pub fn bucket(bucket: Bucket, layout: &DataLayout) -> Storage {
        Storage::Bucket { bucket, layout: layout.clone() }
    }

    /// The local object store, when there is no bucket.
    #[must_use]
    pub fn objects(&self) -> Option<&Objects> {
        match self {
            Storage::Local { objects, .. } => Some(objects),
            Storage::Bucket { .. } => None,
        }
    }

    /// The bucket, when there is one.
    #[must_use]
    pub fn remote(&self) -> Option<&Bucket> {
        match self {
            Storage::Local { .. } => None,
            Storage::Bucket { bucket, .. } => Some(bucket),
        }
    }

    /// `DATA/objects` or `s3://BUCKET/PREFIX/objects`, for messages.
    #[must_use]
    pub fn objects_location(&self) -> String {
        match self {
            Storage::Local { objects, .. } => objects.root().display().to_string(),
            Storage::Bucket { bucket, .. } => bucket.key_url("objects"),
        }
    }

    /// Where `publish` writes the tree of `prefix`: `DATA/public/PREFIX`, or the local
    /// staging cache that is uploaded to the bucket.
    #[must_use]
    pub fn tree_dir(&self, prefix: &str) -> PathBuf {
        match self {
            Storage::Local { layout, .. } => layout.public_tree(prefix),
            Storage::Bucket { layout, .. } => layout.staging_tree(prefix),
        }
    }

    /// Where clients' files of `prefix` are: the local tree, or `s3://…/public/PREFIX`.
    #[must_use]
    pub fn tree_location(&self, prefix: &str) -> String {
        match self {
            Storage::Local { .. } => self.tree_dir(prefix).display().to_string(),
            Storage::Bucket { bucket, .. } => bucket.key_url(&format!("public/{prefix}")),
        }
    }

    /// A sink that stores package files as they are read (see [`ObjectSink`]).
    #[must_use]
    pub fn sink(&self) -> ObjectSink {
        match self {
            Storage::Local { objects, .. } => ObjectSink::Local {
                objects: objects.clone(),
                known: std::sync::OnceLock::new(),
                packs: Mutex::default(),
            },
            Storage::Bucket { bucket, .. } => ObjectSink::Bucket {
                bucket: bucket.clone(),
                runtime: tokio::runtime::Handle::current(),
                permits: Arc::new(tokio::sync::Semaphore::new(CONCURRENCY)),
                pending: Mutex::default(),
            },
        }
    }

    /// Delete every package file whose SHA-256 is not in `keep`: (files, bytes) removed.
    pub async fn retain(&self, keep: HashSet<String>) -> Result<(usize, u64)> {
        let location = self.objects_location();
        match self {
            Storage::Local { objects, .. } => {
                let objects = objects.clone();
                blocking(move || objects.retain(&keep))
                    .await?
                    .or_internal(|| format!("cannot clean {location}"))
            }
            Storage::Bucket { bucket, .. } => {
                let unreferenced: Vec<(String, u64)> = bucket
                    .list("objects/sha256/")
                    .await
                    .or_unavailable(|| format!("cannot list {location}"))?
                    .into_iter()
                    .filter(|(key, _)| {
                        !key.rsplit('/').next().is_some_and(|name| keep.contains(name))
                    })
                    .collect();
                let n_bytes = unreferenced.iter().map(|(_, size)| size).sum();
                let n_files = unreferenced.len();
                for (key, _) in unreferenced {
                    bucket
                        .delete(&key)
                        .await
                        .or_unavailable(|| format!("cannot clean {location}"))?;
                }
                Ok((n_files, n_bytes))
            }
        }
    }

    /// Write the tree `job` describes and (with a bucket and a `prefix`) upload it in the
    /// safe order. `prefix` is `None` for `--to-dir`: a local tree, whose pool files are
    /// then downloaded from the bucket first.
    pub async fn publish(
        &self,
        job: PublishJob,
        prefix: Option<&str>,
        key: SigningKey,
    ) -> Result<PublishOutcome> {
        let failed = |root: &Path| format!("cannot publish into {}", root.display());
        let bucket = match self {
            Storage::Local { objects, .. } => {
                let objects = objects.clone();
                let root = job.root.clone();
                return blocking(move || {
                    wharf_apt::publish::publish(&job.request(), &objects, &key)
                })
                .await?
                .or_internal(|| failed(&root));
            }
            Storage::Bucket { bucket, .. } => bucket,
        };
        let Some(prefix) = prefix else {
            download_pool(bucket, &job).await?;
            let root = job.root.clone();
            return blocking(move || wharf_apt::publish::publish_indices(&job.request(), &key))
                .await?
                .or_internal(|| failed(&root));
        };
        let pool: BTreeMap<String, String> = job
            .packages
            .iter()
            .map(|package| (package.pool_path(), package.digest.sha256.clone()))
            .collect();
        let (staging, now, grace) = (job.root.clone(), job.now, job.grace_seconds);
        let mut outcome =
            blocking(move || wharf_apt::publish::publish_indices(&job.request(), &key))
                .await?
                .or_internal(|| failed(&staging))?;
        let request =
            MirrorRequest { staging: &staging, prefix, pool: &pool, now, grace_seconds: grace };
        let uploaded = mirror::mirror(bucket, &request).await.or_unavailable(|| {
            format!(
                "cannot upload the tree to {} (the next publish retries)",
                bucket.key_url(&format!("public/{prefix}"))
            )
        })?;
        tracing::info!(
            storage.pool_copied = uploaded.n_pool_copied,
            storage.uploaded = uploaded.n_uploaded,
            storage.deleted = uploaded.n_deleted,
            "uploaded {prefix}"
        );
        outcome.n_pool_files_added = uploaded.n_pool_copied;
        Ok(outcome)
    }

    /// Remove the published tree of `prefix`: from the bucket, and the local tree (or
    /// staging copy).
    pub async fn drop_tree(&self, prefix: &str) -> Result<()> {
        if let Storage::Bucket { bucket, .. } = self {
            let n_deleted = mirror::drop_tree(bucket, prefix).await.or_unavailable(|| {
                format!("cannot remove {}", bucket.key_url(&format!("public/{prefix}")))
            })?;
            tracing::info!(storage.deleted = n_deleted, "dropped {prefix} from the bucket");
        }
        let dir = self.tree_dir(prefix);
        if dir.exists() {
            blocking(move || std::fs::remove_dir_all(&dir).map_err(|err| (dir, err)))
                .await?
                .map_err(|(dir, err)| {
                    AppError::internal(format!("cannot remove {}", dir.display())).with_source(err)
                })?;
        }
        Ok(())
    }

    /// `health`: the bucket answers a listing (`Ok` without a bucket).
    pub async fn ping(&self) -> Result<(), StorageError> {
        match self {
            Storage::Local { .. } => Ok(()),
            Storage::Bucket { bucket, .. } => bucket.ping().await,
        }
    }

    /// Read a file of a published tree (`REL` under the tree of `prefix`); the error
    /// names the file.
    pub async fn read_tree_file(&self, prefix: &str, rel: &str) -> Result<Vec<u8>, String> {
        match self {
            Storage::Local { .. } => {
                let path = self.tree_dir(prefix).join(rel);
                tokio::task::spawn_blocking(move || {
                    std::fs::read(&path).map_err(|err| format!("{}: {err}", path.display()))
                })
                .await
                .map_err(|err| err.to_string())?
            }
            Storage::Bucket { bucket, .. } => bucket
                .get(&public_key(prefix, rel))
                .await
                .map(|bytes| bytes.to_vec())
                .map_err(|err| err.to_string()),
        }
    }

    /// Every object of a local object store but those in `checked` read back and hashed
    /// against its name: how many, and one line per object that differs or cannot be
    /// read. A bucket's objects are checked through the packages that name them
    /// ([`Storage::verify`]): none here.
    pub async fn verify_every_object(
        &self,
        checked: HashSet<String>,
    ) -> Result<(usize, Vec<String>)> {
        let Storage::Local { objects, .. } = self else {
            return Ok((0, Vec::new()));
        };
        let objects = objects.clone();
        blocking(move || -> Result<(usize, Vec<String>)> {
            let names = objects.list().or_internal(|| {
                format!("cannot list the object store {}", objects.root().display())
            })?;
            let names: Vec<String> =
                names.into_iter().filter(|sha256| !checked.contains(sha256)).collect();
            let problems = names
                .iter()
                .filter_map(|sha256| {
                    check_object(&objects, sha256)
                        .map(|problem| format!("object {sha256} (no package names it): {problem}"))
                })
                .collect();
            Ok((names.len(), problems))
        })
        .await?
    }

    /// Every package file `packages` names (SHA-256, and a description for messages) is
    /// stored with that content; one problem line per one that is not.
    pub async fn verify(&self, packages: Vec<(String, String)>) -> Result<Vec<String>> {
        let mut problems: Vec<String> = match self {
            Storage::Local { objects, .. } => {
                let objects = objects.clone();
                blocking(move || {
                    packages
                        .iter()
                        .filter_map(|(sha256, what)| {
                            check_object(&objects, sha256)
                                .map(|problem| format!("{what}: {problem}"))
                        })
                        .collect()
                })
                .await?
            }
            Storage::Bucket { bucket, .. } => {
                let checks = packages.into_iter().map(|(sha256, what)| async move {
                    let key = object_key(&sha256);
                    match bucket.get(&key).await {
                        Ok(bytes) => {
                            let actual = wharf_apt::sha256_hex(&bytes);
                            (actual != sha256).then(|| {
                                format!(
                                    "{what} ({}): content hash is {actual}, expected {sha256}",
                                    bucket.key_url(&key)
                                )
                            })
                        }
                        Err(err) => Some(format!("{what}: {err}")),
                    }
                });
                futures::stream::iter(checks)
                    .buffer_unordered(CONCURRENCY)
                    .filter_map(|problem| async move { problem })
                    .collect()
                    .await
            }
        };
        problems.sort();
        Ok(problems)
    }

    /// Every object the local tree's pool list names is stored; how many it names.
    /// Without local objects (a bucket's trees hold copies): `None`.
    pub async fn check_pool_list(&self, prefix: &str) -> Option<Result<usize, String>> {
        let objects = self.objects()?.clone();
        let tree = self.tree_dir(prefix);
        let checked = tokio::task::spawn_blocking(move || check_pool_list(&tree, &objects)).await;
        Some(checked.unwrap_or_else(|err| Err(err.to_string())))
    }
}

/// Reads a local object back: `None` when it is there with the content its name says,
/// else what is wrong, naming the file (a loose object, or the pack and offset).
fn check_object(objects: &Objects, sha256: &str) -> Option<String> {
    let location = match objects.locate(sha256) {
        Ok(Some(location)) => location,
        Ok(None) => {
            return Some(format!("object {sha256} is missing from {}", objects.root().display()));
        }
        Err(err) => return Some(format!("cannot look up object {sha256}: {err}")),
    };
    let place = match &location {
        Location::Loose(path) => path.display().to_string(),
        Location::Packed(packed) => {
            format!("object {sha256} in {} at offset {}", packed.pack.display(), packed.offset)
        }
    };
    match location.read() {
        Ok(bytes) => {
            let actual = wharf_apt::sha256_hex(&bytes);
            (actual != sha256)
                .then(|| format!("{place} is damaged: content hash {actual}, expected {sha256}"))
        }
        Err(err) => Some(format!("cannot read {place}: {err}")),
    }
}

fn check_pool_list(tree: &Path, objects: &Objects) -> Result<usize, String> {
    let list = wharf_apt::publish::read_pool_list(tree)
        .map_err(|err| format!("{}: {err}", tree.join(wharf_apt::publish::POOL_LIST).display()))?;
    let missing: Vec<&String> = list
        .iter()
        .filter(|(_, sha256)| !objects.contains(sha256).unwrap_or(false))
        .map(|(path, _)| path)
        .collect();
    match missing.first() {
        None => Ok(list.len()),
        Some(first) => Err(format!(
            "{} pool file(s) missing from the object store, e.g. {first}: run `wharf repo verify`",
            missing.len()
        )),
    }
}

/// `--to-dir` with a bucket: the pool files the tree needs, downloaded and durable
/// before the indices are written.
async fn download_pool(bucket: &Bucket, job: &PublishJob) -> Result<()> {
    let packages =
        job.packages.iter().map(|p| (p.pool_path(), p.digest.size, p.digest.sha256.clone()));
    let sources = job.sources.iter().flat_map(|source| {
        let directory = source.directory();
        wharf_apt::dsc::stanza_files(&source.stanza)
            .into_iter()
            .map(move |(name, size, sha256)| (format!("{directory}/{name}"), size, sha256))
    });
    for (pool_path, size, sha256) in packages.chain(sources) {
        let target = job.root.join(pool_path);
        let key = object_key(&sha256);
        let check = target.clone();
        let present = blocking(move || {
            std::fs::metadata(&check).map(|meta| meta.len()).ok() == Some(size)
                && std::fs::read(&check).is_ok_and(|bytes| wharf_apt::sha256_hex(&bytes) == sha256)
        })
        .await?;
        if present {
            continue;
        }
        let bytes = bucket
            .get(&key)
            .await
            .or_unavailable(|| format!("cannot read {}", bucket.key_url(&key)))?;
        let root = job.root.clone();
        blocking(move || {
            let dir = target.parent().unwrap_or(&root);
            std::fs::create_dir_all(dir)
                .and_then(|()| wharf_apt::fsutil::write_atomic(&target, &bytes))
                .map_err(|err| {
                    AppError::internal(format!("cannot write {}", target.display()))
                        .with_source(err)
                })
        })
        .await??;
    }
    Ok(())
}

/// Stores package files while `repo add` reads them, so no file stays in memory past its
/// turn: from the data directory's reader threads into one pack per thread (durable and
/// visible only at [`ObjectSink::finish`]), or PUT to the bucket, 16 at a
/// time. Dropped unfinished, nothing it wrote locally counts; objects already in a bucket
/// are unreferenced until `repo cleanup`.
#[derive(Debug)]
pub enum ObjectSink {
    Local {
        objects: Objects,
        /// Objects stored before this add or written by it: listed once, on first use.
        known: std::sync::OnceLock<Mutex<HashSet<String>>>,
        packs: Mutex<Vec<PackWriter>>,
    },
    Bucket {
        bucket: Bucket,
        runtime: tokio::runtime::Handle,
        permits: Arc<tokio::sync::Semaphore>,
        pending: Mutex<Vec<tokio::task::JoinHandle<Result<(), StorageError>>>>,
    },
}

/// One reader thread's handle on an [`ObjectSink`].
#[derive(Debug)]
pub struct SinkWriter<'a> {
    sink: &'a ObjectSink,
    pack: Option<PackWriter>,
}

impl ObjectSink {
    /// A writer for one reader thread (not an async thread: it may block).
    #[must_use]
    pub fn writer(&self) -> SinkWriter<'_> {
        SinkWriter { sink: self, pack: None }
    }

    /// Make everything written durable; returns how many objects were new (with a
    /// bucket: how many were PUT).
    pub async fn finish(self) -> Result<usize> {
        match self {
            ObjectSink::Local { objects, packs, .. } => {
                let packs = packs.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
                let root = objects.root().to_owned();
                blocking(move || {
                    packs.into_iter().map(PackWriter::finish).sum::<std::io::Result<usize>>()
                })
                .await?
                .or_internal(|| format!("cannot store packages in {}", root.display()))
            }
            ObjectSink::Bucket { bucket, pending, .. } => {
                let tasks = pending.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
                let n_tasks = tasks.len();
                for task in tasks {
                    task.await.or_internal(|| "an upload task failed".to_owned())?.or_unavailable(
                        || format!("cannot store packages in {}", bucket.key_url("objects")),
                    )?;
                }
                Ok(n_tasks)
            }
        }
    }
}

impl SinkWriter<'_> {
    /// Store `bytes` (whose SHA-256 is `sha256`) unless already stored; not durable yet.
    pub fn put(&mut self, sha256: &str, bytes: Vec<u8>) -> std::io::Result<()> {
        match self.sink {
            ObjectSink::Local { objects, known, .. } => {
                let known = match known.get() {
                    Some(known) => known,
                    None => {
                        let listed = objects.list()?.into_iter().collect();
                        known.get_or_init(|| Mutex::new(listed))
                    }
                };
                let new = known
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(sha256.to_owned());
                if !new {
                    return Ok(());
                }
                if self.pack.is_none() {
                    self.pack = Some(objects.pack_writer()?);
                }
                self.pack.as_mut().expect("just set").append(sha256, &bytes)
            }
            ObjectSink::Bucket { bucket, runtime, permits, pending } => {
                // Wait for a free slot here, on the reader thread: at most CONCURRENCY
                // files are in memory for uploads.
                let permit = runtime
                    .block_on(permits.clone().acquire_owned())
                    .map_err(std::io::Error::other)?;
                let (bucket, key) = (bucket.clone(), object_key(sha256));
                let task = runtime.spawn(async move {
                    let _permit = permit;
                    bucket.put(&key, bytes::Bytes::from(bytes)).await
                });
                pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(task);
                Ok(())
            }
        }
    }
}

impl Drop for SinkWriter<'_> {
    fn drop(&mut self) {
        if let (Some(pack), ObjectSink::Local { packs, .. }) = (self.pack.take(), self.sink) {
            packs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(pack);
        }
    }
}
