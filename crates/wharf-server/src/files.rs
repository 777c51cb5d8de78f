//! `/apt/PREFIX/…`: published trees from `DATA/public` (or the bucket: `bucket_files`), as
//! static files for apt.
//!
//! A request path is split into segments, each percent-decoded and checked on its own
//! ([`segments`]): `..`, `.`, empty segments (directories), dot-files (the publish state
//! file, temporary files), encoded `/` and NUL are refused before the filesystem is touched.
//! The joined path is then canonicalized and must stay below `DATA/public`, which rules out
//! symlinks that lead elsewhere; directories are never listed.
//!
//! Validators: the `ETag` is strong, made of inode, size and modification time in
//! nanoseconds — every publish replaces files by rename, so a changed file always has a
//! new one. `Last-Modified` has one-second resolution, so it is only sent for files that
//! have not changed for two seconds: otherwise two publishes within one second could make
//! a client's `If-Modified-Since` wrongly match (apt revalidates `InRelease` with it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use crate::AppState;
use crate::error::ApiError;

/// Everything that is not another route: `/apt/…` files, or 404.
pub(crate) async fn fallback(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(rest) = uri.path().strip_prefix("/apt/") else {
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

/// The media type for a file of a published tree. `by-hash` names carry no extension,
/// so their first bytes decide.
pub(crate) fn content_type(segments: &[String], head: &[u8]) -> &'static str {
    const TEXT: &str = "text/plain; charset=utf-8";
    let name = segments.last().map_or("", String::as_str);
    let parent = segments.len().checked_sub(2).map(|idx| segments[idx].as_str());
    let grandparent = segments.len().checked_sub(3).map(|idx| segments[idx].as_str());
    if grandparent == Some("by-hash") && parent.is_some() {
        return if head.starts_with(&[0x1f, 0x8b]) {
            "application/gzip"
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            "application/x-xz"
        } else {
            TEXT
        };
    }
    match name {
        "Release" | "InRelease" | "Packages" | "Sources" | "Translation" => return TEXT,
        "Release.gpg" => return "application/pgp-signature",
        _ => {}
    }
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("gz") => "application/gzip",
        Some("xz") => "application/x-xz",
        Some("zst") => "application/zstd",
        Some("deb" | "udeb") => "application/vnd.debian.binary-package",
        Some("asc") => "application/pgp-keys",
        Some("txt") => TEXT,
        _ => "application/octet-stream",
    }
}

/// What identifies one version of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Validators {
    etag: String,
    /// `None` while the file is too fresh for a one-second date to identify it.
    last_modified: Option<SystemTime>,
}

impl Validators {
    fn new(inode: u64, len: u64, modified: SystemTime, now: SystemTime) -> Validators {
        let nanos = modified.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        Validators::with_etag(format!("\"{inode:x}-{len:x}-{nanos:x}\""), modified, now)
    }

    /// An object's own (quoted) `ETag`, e.g. from S3; the same two-second rule for dates.
    pub(crate) fn with_etag(etag: String, modified: SystemTime, now: SystemTime) -> Validators {
        let stable = now.duration_since(modified).is_ok_and(|age| age >= Duration::from_secs(2));
        Validators { etag, last_modified: stable.then_some(modified) }
    }
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// RFC 9110 §13.2.2 for GET/HEAD: `If-None-Match` wins over `If-Modified-Since`.
fn not_modified(headers: &HeaderMap, validators: &Validators) -> bool {
    if let Some(value) = headers.get(header::IF_NONE_MATCH) {
        let Ok(value) = value.to_str() else { return false };
        return value
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == validators.etag);
    }
    let since = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| httpdate::parse_http_date(value).ok());
    match (since, validators.last_modified) {
        (Some(since), Some(modified)) => unix_seconds(modified) <= unix_seconds(since),
        _ => false,
    }
}

/// `If-Range`: the range applies only when the client's copy is still current.
fn if_range_holds(headers: &HeaderMap, validators: &Validators) -> bool {
    let Some(value) = headers.get(header::IF_RANGE) else { return true };
    let Ok(value) = value.to_str() else { return false };
    let value = value.trim();
    if value.starts_with('"') {
        return value == validators.etag;
    }
    match (httpdate::parse_http_date(value), validators.last_modified) {
        (Ok(date), Some(modified)) => unix_seconds(date) == unix_seconds(modified),
        _ => false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeDecision {
    /// No usable range: send the whole file (200).
    Full,
    /// Bytes `start..=end` (206).
    Partial { start: u64, end: u64 },
    /// 416 with `Content-Range: bytes */LEN`.
    Unsatisfiable,
}

/// One `bytes=` range; anything else (other units, several ranges, bad syntax) is
/// ignored, which RFC 9110 §14.2 allows.
fn parse_range(value: &str, len: u64) -> RangeDecision {
    let Some(spec) = value.trim().strip_prefix("bytes=") else { return RangeDecision::Full };
    if spec.contains(',') {
        return RangeDecision::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else { return RangeDecision::Full };
    let parse = |text: &str| text.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match parse(last) {
            Some(0) => RangeDecision::Unsatisfiable,
            Some(_) if len == 0 => RangeDecision::Unsatisfiable,
            Some(suffix) => {
                RangeDecision::Partial { start: len.saturating_sub(suffix), end: len - 1 }
            }
            None => RangeDecision::Full,
        },
        // bytes=A-: from A to the end.
        (false, true) => match parse(first) {
            Some(start) if start >= len => RangeDecision::Unsatisfiable,
            Some(start) => RangeDecision::Partial { start, end: len - 1 },
            None => RangeDecision::Full,
        },
        // bytes=A-B
        (false, false) => match (parse(first), parse(last)) {
            (Some(start), Some(end)) if start <= end => {
                if start >= len {
                    RangeDecision::Unsatisfiable
                } else {
                    RangeDecision::Partial { start, end: end.min(len - 1) }
                }
            }
            _ => RangeDecision::Full,
        },
        (true, true) => RangeDecision::Full,
    }
}

fn header_value(text: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(text).map_err(|err| ApiError::internal(format!("header {text:?}: {err}")))
}

/// Everything a response needs to know about a file before its body is read.
pub(crate) struct FileMeta {
    pub(crate) len: u64,
    pub(crate) validators: Validators,
    /// The file's first bytes (up to 8): `by-hash` files are typed by them.
    pub(crate) head: Vec<u8>,
}

/// What to send: a finished response (304, 416), or `n_bytes` from `start` with `headers`.
pub(crate) enum Plan {
    Done(Response),
    Body { status: StatusCode, headers: HeaderMap, start: u64, n_bytes: u64 },
}

/// Headers, conditional requests and ranges: the same for local files and bucket objects.
pub(crate) fn plan(
    segments: &[String],
    headers: &HeaderMap,
    meta: &FileMeta,
) -> Result<Plan, ApiError> {
    let (len, validators) = (meta.len, &meta.validators);
    let mut response_headers = HeaderMap::new();
    response_headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(segments, &meta.head)));
    response_headers.insert(header::ETAG, header_value(&validators.etag)?);
    if let Some(modified) = validators.last_modified {
        response_headers
            .insert(header::LAST_MODIFIED, header_value(&httpdate::fmt_http_date(modified))?);
    }
    response_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if segments.iter().all(|segment| segment != "by-hash" && segment != "pool") {
        // Indices under their plain names change with every publish.
        response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }

    if not_modified(headers, validators) {
        return Ok(Plan::Done((StatusCode::NOT_MODIFIED, response_headers).into_response()));
    }
    let range = match headers.get(header::RANGE).and_then(|value| value.to_str().ok()) {
        Some(value) if if_range_holds(headers, validators) => parse_range(value, len),
        _ => RangeDecision::Full,
    };
    let (status, start, n_bytes) = match range {
        RangeDecision::Full => (StatusCode::OK, 0, len),
        RangeDecision::Partial { start, end } => {
            response_headers.insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes {start}-{end}/{len}"))?,
            );
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        RangeDecision::Unsatisfiable => {
            response_headers
                .insert(header::CONTENT_RANGE, header_value(&format!("bytes */{len}"))?);
            return Ok(Plan::Done(
                (StatusCode::RANGE_NOT_SATISFIABLE, response_headers).into_response(),
            ));
        }
    };
    response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n_bytes));
    Ok(Plan::Body { status, headers: response_headers, start, n_bytes })
}

/// An open file, or the part of one (an object in a pack), to send.
struct Source {
    file: tokio::fs::File,
    /// Where the content starts in `file`, and its length.
    offset: u64,
    len: u64,
    validators: Validators,
    /// For error messages.
    name: PathBuf,
}

/// A file of a published tree: the path must resolve (symlinks followed) inside
/// `DATA/public` and be a regular file.
async fn open_tree_file(state: &AppState, segments: &[String]) -> Result<Source, ApiError> {
    let mut path = state.public_root.clone();
    path.extend(segments);
    // Follows symlinks; the result must still be inside DATA/public.
    let real = match tokio::fs::canonicalize(&path).await {
        Ok(real) => real,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Err(ApiError::not_found()),
        Err(err) if err.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(ApiError::not_found());
        }
        Err(err) => return Err(ApiError::internal(format!("{}: {err}", path.display()))),
    };
    if !real.starts_with(&state.public_root) {
        tracing::warn!(http.path = %path.display(), "refused: resolves outside the published trees");
        return Err(ApiError::not_found());
    }
    let file = match tokio::fs::File::open(&real).await {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Err(ApiError::not_found()),
        Err(err) => return Err(ApiError::internal(format!("{}: {err}", real.display()))),
    };
    let metadata = file
        .metadata()
        .await
        .map_err(|err| ApiError::internal(format!("{}: {err}", real.display())))?;
    if !metadata.is_file() {
        return Err(ApiError::not_found());
    }
    let len = metadata.len();
    let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let validators = {
        use std::os::unix::fs::MetadataExt as _;
        Validators::new(metadata.ino(), len, modified, SystemTime::now())
    };
    Ok(Source { file, offset: 0, len, validators, name: real })
}

/// A pool file of a tree whose pool is a list ([`wharf_apt::publish::POOL_LIST`]): the
/// object it names, from the object store. `None` when the tree has no list or the list
/// does not name this path (then the tree's own files are tried).
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
    // A `repo cleanup` may rewrite the pack between the lookup and the open: look again
    // once (the lookup notices the pack is gone and rereads the pack indices).
    let mut attempt = 0;
    let (file, path, offset, len) = loop {
        attempt += 1;
        let objects = state.objects.clone();
        let sha = sha256.clone();
        let location = tokio::task::spawn_blocking(move || objects.locate(&sha))
            .await
            .map_err(|err| ApiError::internal(format!("object lookup: {err}")))?
            .map_err(|err| ApiError::internal(format!("object {sha256}: {err}")))?;
        let Some(location) = location else {
            tracing::error!(object.sha256 = %sha256, "a published pool file's object is missing: run `wharf repo verify`");
            return Err(ApiError::not_found());
        };
        let span = location.span();
        let opened = match span {
            Ok((path, offset, len)) => {
                tokio::fs::File::open(&path).await.map(|file| (file, path, offset, len))
            }
            Err(err) => Err(err),
        };
        match opened {
            Ok(opened) => break opened,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && attempt < 2 => {}
            Err(err) => return Err(ApiError::internal(format!("object {sha256}: {err}"))),
        }
    };
    let metadata = file
        .metadata()
        .await
        .map_err(|err| ApiError::internal(format!("{}: {err}", path.display())))?;
    let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    // Content-addressed: the SHA-256 is the strongest validator there is.
    let validators = Validators::with_etag(format!("\"{sha256}\""), modified, SystemTime::now());
    Ok(Some(Source { file, offset, len, validators, name: path }))
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
    let Source { mut file, offset, len, validators, name } = source;
    let io_error = |err: std::io::Error| ApiError::internal(format!("{}: {err}", name.display()));
    let mut head = [0u8; 8];
    file.seek(std::io::SeekFrom::Start(offset)).await.map_err(io_error)?;
    let n_head = file.read(&mut head).await.map_err(io_error)?;
    let n_head = n_head.min(usize::try_from(len).unwrap_or(usize::MAX));
    let meta = FileMeta { len, validators, head: head[..n_head].to_vec() };
    let (status, response_headers, start, n_bytes) = match plan(segments, headers, &meta)? {
        Plan::Done(response) => return Ok(response),
        Plan::Body { status, headers, start, n_bytes } => (status, headers, start, n_bytes),
    };
    if head_only {
        return Ok((status, response_headers, Body::empty()).into_response());
    }
    file.seek(std::io::SeekFrom::Start(offset + start)).await.map_err(io_error)?;
    let stream = tokio_util::io::ReaderStream::with_capacity(file.take(n_bytes), 64 * 1024);
    Ok((status, response_headers, Body::from_stream(stream)).into_response())
}

/// The pool lists of the published trees, each parsed once per version of the file.
#[derive(Debug, Default)]
pub(crate) struct PoolLists {
    by_tree: tokio::sync::Mutex<HashMap<PathBuf, PoolList>>,
}

#[derive(Debug)]
struct PoolList {
    /// Inode, size and modification time of the file parsed: a publish replaces it by
    /// rename, so any change shows here.
    version: (u64, u64, i128),
    entries: Arc<std::collections::BTreeMap<String, String>>,
}

impl PoolLists {
    /// The SHA-256 the pool list of `tree` names for `pool_path`.
    async fn lookup(&self, tree: &Path, pool_path: &str) -> Result<Option<String>, ApiError> {
        use std::os::unix::fs::MetadataExt as _;
        let list_path = tree.join(wharf_apt::publish::POOL_LIST);
        let metadata = match tokio::fs::metadata(&list_path).await {
            Ok(metadata) => metadata,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(ApiError::internal(format!("{}: {err}", list_path.display()))),
        };
        let version = (
            metadata.ino(),
            metadata.len(),
            i128::from(metadata.mtime()) * 1_000_000_000 + i128::from(metadata.mtime_nsec()),
        );
        let mut lists = self.by_tree.lock().await;
        let entries = match lists.get(tree) {
            Some(list) if list.version == version => list.entries.clone(),
            _ => {
                let dir = tree.to_owned();
                let entries =
                    tokio::task::spawn_blocking(move || wharf_apt::publish::read_pool_list(&dir))
                        .await
                        .map_err(|err| ApiError::internal(format!("pool list: {err}")))?
                        .map_err(|err| {
                            ApiError::internal(format!("{}: {err}", list_path.display()))
                        })?;
                let entries = Arc::new(entries);
                lists.insert(tree.to_owned(), PoolList { version, entries: entries.clone() });
                entries
            }
        };
        drop(lists);
        Ok(entries.get(pool_path).cloned())
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

    #[test]
    fn content_types() {
        fn check(path: &str, head: &[u8], expected: &str) {
            let segments: Vec<String> = path.split('/').map(str::to_owned).collect();
            assert_eq!(content_type(&segments, head), expected, "{path}");
        }
        check("p/dists/d/InRelease", b"-----BEG", "text/plain; charset=utf-8");
        check("p/dists/d/Release", b"Origin: ", "text/plain; charset=utf-8");
        check("p/dists/d/Release.gpg", b"\x89\x01", "application/pgp-signature");
        check("p/dists/d/main/binary-amd64/Packages", b"Package:", "text/plain; charset=utf-8");
        check("p/dists/d/main/binary-amd64/Packages.gz", b"\x1f\x8b", "application/gzip");
        check("p/dists/d/main/binary-amd64/Packages.xz", b"\xfd7zXZ\0", "application/x-xz");
        check(
            "p/dists/d/main/binary-amd64/by-hash/SHA256/ab12",
            b"\x1f\x8b\x08",
            "application/gzip",
        );
        check("p/dists/d/main/binary-amd64/by-hash/SHA256/ab13", b"\xfd7zXZ\0", "application/x-xz");
        check(
            "p/dists/d/main/binary-amd64/by-hash/SHA256/ab14",
            b"Package:",
            "text/plain; charset=utf-8",
        );
        check(
            "p/pool/main/h/hello/hello_1_all.deb",
            b"!<arch>\n",
            "application/vnd.debian.binary-package",
        );
        check("p/other.bin", b"", "application/octet-stream");
    }

    #[test]
    fn ranges() {
        use RangeDecision::{Full, Partial, Unsatisfiable};
        fn check(value: &str, len: u64, expected: RangeDecision) {
            assert_eq!(parse_range(value, len), expected, "{value} of {len}");
        }
        check("bytes=0-99", 1000, Partial { start: 0, end: 99 });
        check("bytes=500-", 1000, Partial { start: 500, end: 999 });
        check("bytes=-100", 1000, Partial { start: 900, end: 999 });
        check("bytes=-5000", 1000, Partial { start: 0, end: 999 });
        check("bytes=900-5000", 1000, Partial { start: 900, end: 999 });
        check("bytes=1000-", 1000, Unsatisfiable);
        check("bytes=1000-1001", 1000, Unsatisfiable);
        check("bytes=-0", 1000, Unsatisfiable);
        check("bytes=0-", 0, Unsatisfiable);
        check("bytes=5-1", 1000, Full);
        check("bytes=0-1,5-6", 1000, Full);
        check("items=0-1", 1000, Full);
        check("bytes=x-1", 1000, Full);
        check("bytes=-", 1000, Full);
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), HeaderValue::from_str(value).unwrap()))
            .collect()
    }

    #[test]
    fn conditional_requests() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let old = now - Duration::from_secs(60);
        let validators = Validators::new(7, 10, old, now);
        let etag = validators.etag.clone();
        let old_date = httpdate::fmt_http_date(old);
        let earlier = httpdate::fmt_http_date(old - Duration::from_secs(1));
        assert!(not_modified(&headers(&[(header::IF_NONE_MATCH, &etag)]), &validators));
        assert!(not_modified(
            &headers(&[(header::IF_NONE_MATCH, &format!("\"x\", W/{etag}"))]),
            &validators
        ));
        assert!(not_modified(&headers(&[(header::IF_NONE_MATCH, "*")]), &validators));
        assert!(!not_modified(&headers(&[(header::IF_NONE_MATCH, "\"other\"")]), &validators));
        // If-None-Match wins over a matching date.
        assert!(!not_modified(
            &headers(&[
                (header::IF_NONE_MATCH, "\"other\""),
                (header::IF_MODIFIED_SINCE, &old_date)
            ]),
            &validators
        ));
        assert!(not_modified(&headers(&[(header::IF_MODIFIED_SINCE, &old_date)]), &validators));
        assert!(!not_modified(&headers(&[(header::IF_MODIFIED_SINCE, &earlier)]), &validators));
        assert!(!not_modified(&headers(&[(header::IF_MODIFIED_SINCE, "yesterday")]), &validators));
        assert!(!not_modified(&HeaderMap::new(), &validators));

        // A file changed less than two seconds ago has no Last-Modified, so no date matches.
        let fresh = Validators::new(7, 10, now - Duration::from_millis(300), now);
        assert_eq!(fresh.last_modified, None);
        assert!(!not_modified(
            &headers(&[(header::IF_MODIFIED_SINCE, &httpdate::fmt_http_date(now))]),
            &fresh
        ));
        // A changed file has a new ETag even within the same second.
        assert_ne!(Validators::new(7, 10, old + Duration::from_millis(1), now).etag, etag);

        assert!(if_range_holds(&HeaderMap::new(), &validators));
        assert!(if_range_holds(&headers(&[(header::IF_RANGE, &etag)]), &validators));
        assert!(if_range_holds(&headers(&[(header::IF_RANGE, &old_date)]), &validators));
        assert!(!if_range_holds(&headers(&[(header::IF_RANGE, "\"other\"")]), &validators));
        assert!(!if_range_holds(&headers(&[(header::IF_RANGE, &earlier)]), &validators));
    }
}
