//! HTTP for one file, local or in a bucket — pure functions, no I/O: content types,
//! validators (`ETag`, `Last-Modified`), conditional requests (304), `If-Range` and
//! `Range` (206/416). `files` and `bucket_files` gather a [`FileMeta`] and send what
//! [`plan`] decides.
//!
//! `Last-Modified` has one-second resolution, so it is only sent for files that have not
//! changed for two seconds: otherwise two publishes within one second could make a
//! client's `If-Modified-Since` wrongly match (apt revalidates `InRelease` with it).

use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The media type for a file of a published tree. `by-hash` names carry no extension,
/// so their first bytes decide.
fn content_type(segments: &[String], head: &[u8]) -> &'static str {
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
    /// A local file's validators: the `ETag` from inode, size and mtime in nanoseconds.
    pub(crate) fn new(inode: u64, len: u64, modified: SystemTime, now: SystemTime) -> Validators {
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

#[cfg(test)]
mod tests {
    use super::*;

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
