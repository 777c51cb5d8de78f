//! `/apt/PREFIX/…`: published trees from `DATA/public` (or the bucket: `bucket_files`), as
//! static files for apt.
//!
//! A request path is split into segments, each percent-decoded and checked on its own
//! ([`segments`]): `..`, `.`, empty segments (directories), dot-files (the publish state
//! file, temporary files), encoded `/` and NUL are refused before the filesystem is touched.
//! The joined path is then canonicalized and must stay below `DATA/public`, which rules out
//! symlinks that lead elsewhere; directories are never listed.
//!
//! A file's `ETag` is strong, made of inode, size and modification time in nanoseconds —
//! every publish replaces files by rename, so a changed file always has a new one; a pool
//! object's is its SHA-256. Headers, conditional requests and ranges are decided by
//! `http_file::plan`, shared with `bucket_files`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use crate::AppState;
use crate::error::ApiError;
use crate::file_cache::{Cached, FileIdentity};
use crate::http_file::{FileMeta, Plan, Validators, plan};

/// Everything that is not another route: `/apt/…` files, or 404.
pub(crate) async fn fallback(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(rest) = uri.path().strip_prefix("/apt/") else {
        // A browser that followed a stale link gets a page with a way back; API clients,
        // curl and apt the JSON error.
        if crate::dashboard::wants_html(&headers) && !uri.path().starts_with("/api/") {
            return Ok(crate::dashboard::not_found());
        }
        return Err(ApiError::not_found());
    };
    if method != Method::GET && method != Method::HEAD {
        let mut response = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "published trees are read-only: use GET or HEAD",
        )
        .into_response();
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(response);
    }
    let segments = segments(rest).map_err(ApiError::bad_path)?;
    serve_file(&state, &segments, method == Method::HEAD, &headers).await
}

/// Splits and checks the part of the path after `/apt/`: at least a prefix and a file.
fn segments(raw: &str) -> Result<Vec<String>, &'static str> {
    let mut out = Vec::new();
    for raw_segment in raw.split('/') {
        let segment = percent_decode(raw_segment).ok_or("invalid percent-encoding")?;
        if segment.is_empty() {
            return Err("empty path segment (directories are not listed)");
        }
        if segment == "." || segment == ".." {
            return Err("`.` and `..` are not allowed in paths");
        }
        if segment.starts_with('.') {
            return Err("hidden files are not served");
        }
        if segment.contains(['/', '\\', '\0']) {
            return Err("encoded separators are not allowed in paths");
        }
        out.push(segment);
    }
    if out.len() < 2 {
        return Err("a path below /apt/PREFIX/ is required");
    }
    Ok(out)
}

/// `%XX` decoding to UTF-8; `None` for a malformed escape or invalid UTF-8.
fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut idx = 0;
    while idx < bytes.len() {
        if bytes[idx] == b'%' {
            let hex = bytes.get(idx + 1..idx + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            idx += 3;
        } else {
            out.push(bytes[idx]);
            idx += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Files up to this size are read whole while opening, and sent with their headers in
/// one write; larger ones stream.
const SMALL_FILE: u64 = 64 * 1024;

/// What to send: a small file's content, or an open file (or the part of one: an object
/// in a pack) to stream.
enum Content {
    Small(bytes::Bytes),
    /// `head`: the first bytes (up to 8), which type `by-hash` files.
    Stream {
        file: std::fs::File,
        offset: u64,
        head: Vec<u8>,
    },
}

struct Source {
    content: Content,
    len: u64,
    validators: Validators,
    /// For error messages.
    name: PathBuf,
}

impl Source {
    /// A small file's content, read whole (on the blocking thread that opened it); larger
    /// ones are left to stream.
    fn read(file: std::fs::File, offset: u64, len: u64) -> std::io::Result<Content> {
        use std::os::unix::fs::FileExt as _;
        if len > SMALL_FILE {
            let mut head = vec![0u8; 8];
            file.read_exact_at(&mut head, offset)?;
            return Ok(Content::Stream { file, offset, head });
        }
        let mut content = vec![0u8; usize::try_from(len).unwrap_or(0)];
        file.read_exact_at(&mut content, offset)?;
        Ok(Content::Small(content.into()))
    }

    /// The content as it is cached, when it is small.
    fn cacheable(&self, modified: SystemTime, identity: Option<FileIdentity>) -> Option<Cached> {
        match &self.content {
            Content::Small(content) => {
                Some(Cached { content: content.clone(), modified, identity })
            }
            Content::Stream { .. } => None,
        }
    }
}

/// Runs `work` on a blocking thread: every filesystem step of opening a file happens in
/// one hop, not one per call.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| ApiError::internal(format!("file task: {err}")))?
}

/// A file of a published tree: the path must resolve (symlinks followed) inside
/// `DATA/public` and be a regular file. Small files come from the cache while they are
/// the file on disk.
async fn open_tree_file(state: &AppState, segments: &[String]) -> Result<Source, ApiError> {
    let mut path = state.public_root.clone();
    path.extend(segments);
    if let Some(hit) = state.file_cache.file(&path) {
        let ino = hit.identity.map_or(0, |identity| identity.ino);
        return Ok(Source {
            len: hit.content.len() as u64,
            validators: Validators::new(
                ino,
                hit.content.len() as u64,
                hit.modified,
                SystemTime::now(),
            ),
            content: Content::Small(hit.content.clone()),
            name: path,
        });
    }
    let public_root = state.public_root.clone();
    let asked = path.clone();
    let (source, cached) = blocking(move || {
        // Follows symlinks; the result must still be inside DATA/public.
        let real = match std::fs::canonicalize(&path) {
            Ok(real) => real,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(ApiError::not_found());
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotADirectory => {
                return Err(ApiError::not_found());
            }
            Err(err) => return Err(ApiError::internal(format!("{}: {err}", path.display()))),
        };
        if !real.starts_with(&public_root) {
            tracing::warn!(http.path = %path.display(), "refused: resolves outside the published trees");
            return Err(ApiError::not_found());
        }
        let io_error = |err: std::io::Error| ApiError::internal(format!("{}: {err}", real.display()));
        let file = match std::fs::File::open(&real) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(ApiError::not_found());
            }
            Err(err) => return Err(io_error(err)),
        };
        let metadata = file.metadata().map_err(io_error)?;
        if !metadata.is_file() {
            return Err(ApiError::not_found());
        }
        let len = metadata.len();
        let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let identity = FileIdentity::of(&metadata);
        let validators = Validators::new(identity.ino, len, modified, SystemTime::now());
        let content = Source::read(file, 0, len).map_err(io_error)?;
        let source = Source { content, len, validators, name: real.clone() };
        let cached = source.cacheable(modified, Some(identity));
        Ok((source, cached))
    })
    .await?;
    if let Some(cached) = cached {
        state.file_cache.insert_file(asked, cached);
    }
    Ok(source)
}

/// A pool file of a tree whose pool is a list ([`wharf_apt::publish::POOL_LIST`]): the
/// object it names, from the cache or the object store. `None` when the tree has no list
/// or the list does not name this path (then the tree's own files are tried).
async fn open_pool_object(
    state: &AppState,
    segments: &[String],
) -> Result<Option<Source>, ApiError> {
    let Some((prefix, rest)) = segments.split_first() else { return Ok(None) };
    if rest.first().map(String::as_str) != Some("pool") {
        return Ok(None);
    }
    let Some(sha256) =
        state.pool_lists.lookup(&state.public_root.join(prefix), &rest.join("/")).await?
    else {
        return Ok(None);
    };
    // Content-addressed: the SHA-256 is the strongest validator there is.
    let etag = format!("\"{sha256}\"");
    if let Some(hit) = state.file_cache.object(&sha256) {
        return Ok(Some(Source {
            len: hit.content.len() as u64,
            validators: Validators::with_etag(etag, hit.modified, SystemTime::now()),
            content: Content::Small(hit.content.clone()),
            name: PathBuf::from(format!("object {sha256}")),
        }));
    }
    let objects = state.objects.clone();
    let key = sha256.clone();
    let (source, cached) = blocking(move || {
        // A `repo cleanup` may rewrite the pack between the lookup and the open: look
        // again once (the lookup notices the pack is gone and rereads the pack indices).
        let mut attempt = 0;
        let (file, path, offset, len) = loop {
            attempt += 1;
            let location = objects
                .locate(&sha256)
                .map_err(|err| ApiError::internal(format!("object {sha256}: {err}")))?;
            let Some(location) = location else {
                tracing::error!(object.sha256 = %sha256, "a published pool file's object is missing: run `wharf repo verify`");
                return Err(ApiError::not_found());
            };
            let opened = location.span().and_then(|(path, offset, len)| {
                std::fs::File::open(&path).map(|file| (file, path, offset, len))
            });
            match opened {
                Ok(opened) => break opened,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound && attempt < 2 => {}
                Err(err) => return Err(ApiError::internal(format!("object {sha256}: {err}"))),
            }
        };
        let io_error = |err: std::io::Error| ApiError::internal(format!("{}: {err}", path.display()));
        let metadata = file.metadata().map_err(io_error)?;
        let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let validators = Validators::with_etag(etag, modified, SystemTime::now());
        let content = Source::read(file, offset, len).map_err(io_error)?;
        let source = Source { content, len, validators, name: path.clone() };
        let cached = source.cacheable(modified, None);
        Ok((source, cached))
    })
    .await?;
    if let Some(cached) = cached {
        state.file_cache.insert_object(key, cached);
    }
    Ok(Some(source))
}

async fn serve_file(
    state: &AppState,
    segments: &[String],
    head_only: bool,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(bucket) = &state.bucket {
        return crate::bucket_files::serve(bucket, segments, head_only, headers).await;
    }
    let source = match open_pool_object(state, segments).await? {
        Some(source) => source,
        None => open_tree_file(state, segments).await?,
    };
    let Source { content, len, validators, name } = source;
    let io_error = |err: std::io::Error| ApiError::internal(format!("{}: {err}", name.display()));
    let head = match &content {
        Content::Small(content) => content[..content.len().min(8)].to_vec(),
        Content::Stream { head, .. } => head.clone(),
    };
    let meta = FileMeta { len, validators, head };
    let (status, response_headers, start, n_bytes) = match plan(segments, headers, &meta)? {
        Plan::Done(response) => return Ok(response),
        Plan::Body { status, headers, start, n_bytes } => (status, headers, start, n_bytes),
    };
    if head_only {
        return Ok((status, response_headers, Body::empty()).into_response());
    }
    match content {
        Content::Small(content) => {
            // Whole in memory: hyper writes it with the headers.
            let from = usize::try_from(start).unwrap_or(usize::MAX).min(content.len());
            let to = from
                .saturating_add(usize::try_from(n_bytes).unwrap_or(usize::MAX))
                .min(content.len());
            Ok((status, response_headers, Body::from(content.slice(from..to))).into_response())
        }
        Content::Stream { file, offset, .. } => {
            let mut file = tokio::fs::File::from_std(file);
            file.seek(std::io::SeekFrom::Start(offset + start)).await.map_err(io_error)?;
            let stream = tokio_util::io::ReaderStream::with_capacity(file.take(n_bytes), 64 * 1024);
            Ok((status, response_headers, Body::from_stream(stream)).into_response())
        }
    }
}

/// The pool lists of the published trees, each parsed once per version of the file.
#[derive(Debug, Default)]
pub(crate) struct PoolLists {
    by_tree: std::sync::Mutex<HashMap<PathBuf, PoolList>>,
}

#[derive(Debug)]
struct PoolList {
    /// The version of the file parsed: a publish replaces it by rename, so any change
    /// shows here.
    version: FileIdentity,
    entries: Arc<std::collections::BTreeMap<String, String>>,
}

impl PoolLists {
    /// The SHA-256 the pool list of `tree` names for `pool_path`. The list is stat'ed on
    /// the calling thread (one syscall) and parsed again, on a blocking thread, only when
    /// a publish replaced it.
    async fn lookup(&self, tree: &Path, pool_path: &str) -> Result<Option<String>, ApiError> {
        let list_path = tree.join(wharf_apt::publish::POOL_LIST);
        let version = match std::fs::metadata(&list_path) {
            Ok(metadata) => FileIdentity::of(&metadata),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(ApiError::internal(format!("{}: {err}", list_path.display()))),
        };
        let known = match self.lock().get(tree) {
            Some(list) if list.version == version => Some(list.entries.clone()),
            _ => None,
        };
        let entries = match known {
            Some(entries) => entries,
            None => {
                let dir = tree.to_owned();
                let entries =
                    tokio::task::spawn_blocking(move || wharf_apt::publish::read_pool_list(&dir))
                        .await
                        .map_err(|err| ApiError::internal(format!("pool list: {err}")))?
                        .map_err(|err| {
                            ApiError::internal(format!("{}: {err}", list_path.display()))
                        })?;
                let entries = Arc::new(entries);
                // Two requests may parse the same new list at once; either result is it.
                self.lock().insert(tree.to_owned(), PoolList { version, entries: entries.clone() });
                entries
            }
        };
        Ok(entries.get(pool_path).cloned())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, PoolList>> {
        self.by_tree.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_refuse_traversal_and_hidden_files() {
        fn check(raw: &str, expected: Result<&[&str], ()>) {
            let got = segments(raw).map_err(drop);
            let expected = expected.map(|list| list.iter().map(|s| (*s).to_owned()).collect());
            assert_eq!(got, expected, "{raw}");
        }
        check("tools/dists/bookworm/InRelease", Ok(&["tools", "dists", "bookworm", "InRelease"]));
        check(
            "tools/pool/main/h/hello/hello_1.0%2b1_all.deb",
            Ok(&["tools", "pool", "main", "h", "hello", "hello_1.0+1_all.deb"]),
        );
        check("tools/../etc/passwd", Err(()));
        check("tools/%2e%2e/%2E%2E/etc/passwd", Err(()));
        check("tools/%2e/x", Err(()));
        check("tools/a%2fb", Err(()));
        check("tools/a%5cb", Err(()));
        check("tools/a%00b", Err(()));
        check("tools/.wharf-state.json", Err(()));
        check("tools/dists/", Err(()));
        check("tools//dists", Err(()));
        check("tools", Err(()));
        check("tools/%zz", Err(()));
        check("tools/%e2", Err(()));
    }
}
