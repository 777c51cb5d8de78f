//! `/apt/PREFIX/…` from an S3-compatible bucket (`[store] storage = "s3://…"`): the object
//! `public/PREFIX/…` is streamed to the client, never buffered whole.
//!
//! The request path has passed the same segment checks as for local files (`files.rs`: no
//! `..`, `.`, empty or dot-file segments, no encoded separators), and keys are built only
//! from those segments below `public/`, so nothing else in the bucket (package objects
//! under `objects/`) is reachable. Headers, ranges and conditional requests are decided by
//! `http_file::plan`, the same code as for local files; the validators are the object's own
//! `ETag` (S3 gives every PUT a new one when the content changes) and its `Last-Modified`
//! (sent only once the object is two seconds old, as for files). The body is fetched with
//! `If-Match` on the `ETag` the headers were built from: an object replaced in between (a
//! publish) is read again instead of mixing two versions.

use std::time::SystemTime;

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use wharf_storage::{Bucket, StorageError};

use crate::error::ApiError;
use crate::http_file::{FileMeta, Plan, Validators, plan};

/// Storage trouble: the client gets 503 and a generic message, the log the cause (which
/// names the bucket URL and endpoint, never credentials).
fn unavailable(err: &StorageError) -> ApiError {
    tracing::warn!("storage: {err}");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage_unavailable",
        "the repository storage does not answer; try again later",
    )
}

pub(crate) async fn serve(
    bucket: &Bucket,
    segments: &[String],
    head_only: bool,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let key = format!("public/{}", segments.join("/"));
    for _attempt in 0..3 {
        let info = match bucket.head(&key).await {
            Ok(Some(info)) => info,
            Ok(None) => return Err(ApiError::not_found()),
            Err(err) => return Err(unavailable(&err)),
        };
        let etag = match &info.e_tag {
            Some(tag) if tag.starts_with('"') || tag.starts_with("W/") => tag.clone(),
            Some(tag) => format!("\"{tag}\""),
            None => {
                let nanos = info
                    .last_modified
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                format!("\"{:x}-{nanos:x}\"", info.size)
            }
        };
        let if_match = info.e_tag.as_deref();
        // `by-hash` names have no extension: their first bytes decide the content type.
        let by_hash = segments.len() >= 3 && segments[segments.len() - 3] == "by-hash";
        let head = if by_hash && info.size > 0 {
            match bucket.get_stream(&key, Some(0..info.size.min(8)), if_match).await {
                Ok(stream) => {
                    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = stream.collect().await;
                    let mut head = Vec::new();
                    for chunk in chunks {
                        head.extend_from_slice(&chunk.map_err(|err| {
                            ApiError::internal(format!("{}: {err}", bucket.key_url(&key)))
                        })?);
                    }
                    head
                }
                Err(StorageError::Changed { .. } | StorageError::NotFound { .. }) => continue,
                Err(err) => return Err(unavailable(&err)),
            }
        } else {
            Vec::new()
        };
        let meta = FileMeta {
            len: info.size,
            validators: Validators::with_etag(etag, info.last_modified, SystemTime::now()),
            head,
        };
        let (status, response_headers, start, n_bytes) = match plan(segments, headers, &meta)? {
            Plan::Done(response) => return Ok(response),
            Plan::Body { status, headers, start, n_bytes } => (status, headers, start, n_bytes),
        };
        if head_only || n_bytes == 0 {
            return Ok((status, response_headers, Body::empty()).into_response());
        }
        let range = (start, n_bytes) != (0, info.size);
        match bucket.get_stream(&key, range.then_some(start..start + n_bytes), if_match).await {
            Ok(stream) => {
                return Ok((status, response_headers, Body::from_stream(stream)).into_response());
            }
            Err(StorageError::Changed { .. } | StorageError::NotFound { .. }) => {}
            Err(err) => return Err(unavailable(&err)),
        }
    }
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage_changing",
        "the file changed while it was being read; try again",
    ))
}
