//! Where `repo`, `publish` and `health` keep package files and published trees: the data
//! directory (the default, unchanged: `DATA/objects`, `DATA/public`, fsync and rename) or
//! an S3-compatible bucket (`--storage s3://BUCKET[/PREFIX]`, through `wharf_storage`).
//!
//! [`Storage::put_batch`] is what `repo add` calls for both. With a bucket, all bucket I/O
//! runs on a small runtime of its own ([`Remote`]): the CLI's commands run on a
//! current-thread runtime and call these methods synchronously, which must not block that
//! runtime's own connections. `put_batch` starts the PUTs (16 at a time) and waits for all
//! of them, so "durable before the store refers to it" holds as with local packs.
//!
//! With a bucket, `publish` builds the tree in `DATA/storage-cache/public/PREFIX` (indices
//! only: a rebuildable cache, with the publish state and chunk cache) and
//! `wharf_storage::mirror` uploads it in the safe order.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use serde_json::json;
use wharf_apt::objects::Objects;
use wharf_apt::publish::{PublishOutcome, PublishRequest};
use wharf_apt::sign::SigningKey;
use wharf_storage::mirror::{self, MirrorRequest};
use wharf_storage::{Bucket, StorageError, object_key, public_key};

use crate::cli::JsonArgs;
use crate::exit::{FAILURE, SUCCESS};
use crate::output;
use crate::settings::Settings;

/// PUTs in flight at once for `repo add` and `repo verify`.
const CONCURRENCY: usize = 16;

/// Package files and published trees: local or in a bucket.
pub(crate) enum Storage {
    /// The object directory (`DATA/objects`) and its path.
    Local(Objects, PathBuf),
    Bucket(Box<Remote>),
}

impl Storage {
    pub(crate) fn open(settings: &Settings) -> anyhow::Result<Storage> {
        Ok(match settings.bucket()? {
            None => {
                let root = settings.data_dir().join("objects");
                Storage::Local(Objects::new(root.clone()), root)
            }
            Some(bucket) => Storage::Bucket(Box::new(Remote::new(bucket)?)),
        })
    }

    /// Store every package file not stored yet; all durable when this returns. Returns how
    /// many were written (with a bucket: every distinct one, PUT 16 at a time).
    pub(crate) fn put_batch(&self, files: &[(&str, &[u8])]) -> io::Result<usize> {
        match self {
            Storage::Local(objects, _) => objects.put_batch(files),
            Storage::Bucket(remote) => {
                let mut seen = HashSet::new();
                for (sha256, bytes) in files {
                    if seen.insert(*sha256) {
                        remote.put_background(sha256, bytes);
                    }
                }
                remote.wait_pending().map_err(io::Error::other)?;
                Ok(seen.len())
            }
        }
    }

    /// The local object store, when there is no bucket.
    pub(crate) fn local(&self) -> Option<&Objects> {
        match self {
            Storage::Local(objects, _) => Some(objects),
            Storage::Bucket(_) => None,
        }
    }

    /// Delete every package file whose SHA-256 is not in `keep`: (files, bytes) removed.
    pub(crate) fn retain(&self, keep: &HashSet<String>) -> anyhow::Result<(usize, u64)> {
        match self {
            Storage::Local(objects, _) => objects
                .retain(keep)
                .with_context(|| format!("cannot clean {}", self.objects_location())),
            Storage::Bucket(remote) => remote.retain(keep.clone()),
        }
    }

    /// `DATA/objects` or `s3://BUCKET/PREFIX/objects`, for messages.
    pub(crate) fn objects_location(&self) -> String {
        match self {
            Storage::Local(_, root) => root.display().to_string(),
            Storage::Bucket(remote) => remote.bucket.key_url("objects"),
        }
    }

    /// Where `publish` writes the tree of `prefix`: `DATA/public/PREFIX`, or the local
    /// staging cache `DATA/storage-cache/public/PREFIX` that is uploaded to the bucket.
    pub(crate) fn tree_dir(&self, data: &Path, prefix: &str) -> PathBuf {
        match self {
            Storage::Local(..) => data.join("public").join(prefix),
            Storage::Bucket(_) => data.join("storage-cache/public").join(prefix),
        }
    }

    /// Where clients' files of `prefix` are: the local tree, or `s3://…/public/PREFIX`.
    pub(crate) fn tree_location(&self, data: &Path, prefix: &str) -> String {
        match self {
            Storage::Local(..) => self.tree_dir(data, prefix).display().to_string(),
            Storage::Bucket(remote) => remote.bucket.key_url(&format!("public/{prefix}")),
        }
    }

    /// Write the tree `request` describes and (with a bucket and a `prefix`) upload it in
    /// the safe order. `prefix` is `None` for `--to-dir`: a local tree, whose pool files
    /// are then downloaded from the bucket first.
    pub(crate) fn publish(
        &self,
        request: &PublishRequest<'_>,
        prefix: Option<&str>,
        key: &SigningKey,
    ) -> anyhow::Result<PublishOutcome> {
        let remote = match self {
            Storage::Local(objects, _) => {
                return Ok(wharf_apt::publish::publish(request, objects, key)?);
            }
            Storage::Bucket(remote) => remote,
        };
        let Some(prefix) = prefix else {
            remote.download_pool(request)?;
            return Ok(wharf_apt::publish::publish_indices(request, key)?);
        };
        let mut outcome = wharf_apt::publish::publish_indices(request, key)?;
        let pool: BTreeMap<String, String> = request
            .packages
            .iter()
            .map(|package| (package.pool_path(), package.digest.sha256.clone()))
            .collect();
        let bucket = remote.bucket.clone();
        let staging = request.root.to_owned();
        let (prefix_owned, now, grace) = (prefix.to_owned(), request.now, request.grace_seconds);
        let uploaded = remote
            .run(async move {
                let request = MirrorRequest {
                    staging: &staging,
                    prefix: &prefix_owned,
                    pool: &pool,
                    now,
                    grace_seconds: grace,
                };
                mirror::mirror(&bucket, &request).await
            })
            .with_context(|| {
                format!(
                    "cannot upload the tree to {} (the next publish retries)",
                    remote.bucket.key_url(&format!("public/{prefix}"))
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

    /// Remove the published tree of `prefix` from the bucket (nothing to do locally: the
    /// caller removes the tree directory).
    pub(crate) fn drop_tree(&self, prefix: &str) -> anyhow::Result<()> {
        if let Storage::Bucket(remote) = self {
            let bucket = remote.bucket.clone();
            let owned = prefix.to_owned();
            let n_deleted = remote.run(async move { mirror::drop_tree(&bucket, &owned).await })?;
            tracing::info!(storage.deleted = n_deleted, "dropped {prefix} from the bucket");
        }
        Ok(())
    }

    /// The bucket, when there is one.
    pub(crate) fn remote(&self) -> Option<&Remote> {
        match self {
            Storage::Local(..) => None,
            Storage::Bucket(remote) => Some(remote),
        }
    }
}

/// A bucket and the runtime all its I/O runs on.
pub(crate) struct Remote {
    bucket: Bucket,
    /// `Some` until drop (a runtime must not be dropped inside another one's task).
    runtime: Option<tokio::runtime::Runtime>,
    /// PUTs started by `put_unsynced`, awaited by `sync`.
    pending: Mutex<Vec<tokio::task::JoinHandle<Result<(), StorageError>>>>,
    permits: Arc<tokio::sync::Semaphore>,
}

impl Drop for Remote {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Remote {
    fn new(bucket: Bucket) -> anyhow::Result<Remote> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("wharf-storage")
            .enable_all()
            .build()
            .context("cannot start the storage runtime")?;
        Ok(Remote {
            bucket,
            runtime: Some(runtime),
            pending: Mutex::new(Vec::new()),
            permits: Arc::new(tokio::sync::Semaphore::new(CONCURRENCY)),
        })
    }

    pub(crate) fn bucket(&self) -> &Bucket {
        &self.bucket
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime.as_ref().expect("runtime until drop").handle()
    }

    /// Run `future` on the storage runtime and wait for it, from any thread (also from
    /// inside the CLI's current-thread runtime).
    pub(crate) fn run<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> T {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        self.handle().spawn(async move {
            let _ = sender.send(future.await);
        });
        receiver.recv().expect("the storage task finished")
    }

    fn put_background(&self, sha256: &str, bytes: &[u8]) {
        let bucket = self.bucket.clone();
        let key = object_key(sha256);
        let bytes = bytes::Bytes::copy_from_slice(bytes);
        let permits = self.permits.clone();
        let task = self.handle().spawn(async move {
            let _permit = permits.acquire_owned().await.expect("semaphore open");
            bucket.put(&key, bytes).await
        });
        self.pending.lock().expect("pending uploads").push(task);
    }

    fn wait_pending(&self) -> Result<(), StorageError> {
        let tasks = std::mem::take(&mut *self.pending.lock().expect("pending uploads"));
        self.run(async move {
            let mut first_error = None;
            for task in tasks {
                match task.await {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => {
                        first_error.get_or_insert(err);
                    }
                    Err(join) => std::panic::resume_unwind(join.into_panic()),
                }
            }
            first_error.map_or(Ok(()), Err)
        })
    }

    fn retain(&self, keep: HashSet<String>) -> anyhow::Result<(usize, u64)> {
        let bucket = self.bucket.clone();
        let location = self.bucket.key_url("objects/sha256/");
        self.run(async move {
            let unreferenced: Vec<(String, u64)> = bucket
                .list("objects/sha256/")
                .await?
                .into_iter()
                .filter(|(key, _)| !key.rsplit('/').next().is_some_and(|name| keep.contains(name)))
                .collect();
            let n_bytes = unreferenced.iter().map(|(_, size)| size).sum();
            let n_files = unreferenced.len();
            for (key, _) in unreferenced {
                bucket.delete(&key).await?;
            }
            Ok::<_, StorageError>((n_files, n_bytes))
        })
        .with_context(|| format!("cannot clean {location}"))
    }

    /// `--to-dir` with a bucket: the pool files the tree needs, downloaded and durable
    /// before the indices are written.
    fn download_pool(&self, request: &PublishRequest<'_>) -> anyhow::Result<()> {
        for package in request.packages {
            let target = request.root.join(package.pool_path());
            let size = std::fs::metadata(&target).map(|meta| meta.len()).ok();
            if size == Some(package.digest.size)
                && std::fs::read(&target)
                    .is_ok_and(|bytes| wharf_apt::sha256_hex(&bytes) == package.digest.sha256)
            {
                continue;
            }
            let bucket = self.bucket.clone();
            let key = object_key(&package.digest.sha256);
            let bytes = self.run(async move { bucket.get(&key).await })?;
            let dir = target.parent().unwrap_or(request.root);
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            wharf_apt::fsutil::write_atomic(&target, &bytes)
                .with_context(|| format!("cannot write {}", target.display()))?;
        }
        Ok(())
    }

    /// `health`: the bucket answers a listing.
    pub(crate) fn ping(&self) -> Result<(), StorageError> {
        let bucket = self.bucket.clone();
        self.run(async move { bucket.ping().await })
    }

    /// Read a file of a published tree (`public/PREFIX/REL`).
    pub(crate) fn read_tree_file(&self, prefix: &str, rel: &str) -> Result<Vec<u8>, String> {
        let bucket = self.bucket.clone();
        let key = public_key(prefix, rel);
        self.run(async move { bucket.get(&key).await })
            .map(|bytes| bytes.to_vec())
            .map_err(|err| err.to_string())
    }
}

/// `repo verify` with a bucket: every package file the store lists is read back from the
/// bucket and its SHA-256 checked.
pub(crate) async fn verify(
    store: &wharf_store::Store,
    remote: &Remote,
    args: &JsonArgs,
) -> anyhow::Result<u8> {
    use futures::StreamExt as _;
    let packages = store.apt_all_packages().await?;
    let bucket = remote.bucket.clone();
    let shas: Vec<String> = packages.iter().map(|package| package.sha256.clone()).collect();
    let problems: Vec<String> = remote.run(async move {
        let checks = shas.into_iter().map(|sha| {
            let bucket = bucket.clone();
            async move {
                let key = object_key(&sha);
                match bucket.get(&key).await {
                    Ok(bytes) => {
                        let actual = wharf_apt::sha256_hex(&bytes);
                        (actual != sha).then(|| {
                            format!(
                                "{}: content hash is {actual}, expected {sha}",
                                bucket.key_url(&key)
                            )
                        })
                    }
                    Err(err) => Some(err.to_string()),
                }
            }
        });
        let mut found: Vec<String> = futures::stream::iter(checks)
            .buffer_unordered(CONCURRENCY)
            .filter_map(|problem| async move { problem })
            .collect()
            .await;
        found.sort();
        found
    });
    if args.json {
        output::json(
            &json!({ "ok": problems.is_empty(), "packages": packages.len(), "problems": problems }),
        )?;
    } else if problems.is_empty() {
        output::line(format!(
            "ok: {} stored package(s) in {} match their checksums",
            packages.len(),
            remote.bucket.url()
        ));
    } else {
        for problem in &problems {
            output::line(format!("BAD {problem}"));
        }
    }
    Ok(if problems.is_empty() { SUCCESS } else { FAILURE })
}
