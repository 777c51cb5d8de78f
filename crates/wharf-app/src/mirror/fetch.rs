//! The HTTP side of a mirror update: small files (`InRelease`, indices) into memory,
//! package files onto disk — resumed with a `Range` request from what an interrupted
//! update left, and checked against the size and SHA-256 the index gave.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, RANGE};
use tokio::io::AsyncWriteExt as _;

use crate::error::{AppError, Result};

/// The largest index or `Release` fetched into memory.
const MAX_INDEX_BYTES: u64 = 1 << 30;

/// A remote repository's root.
#[derive(Debug, Clone)]
pub(crate) struct Remote {
    client: reqwest::Client,
    base: String,
}

/// One package file on disk, complete and checked.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Downloaded {
    /// Bytes received over the network for it.
    pub received: u64,
    /// Whether it continued a partial file.
    pub resumed: bool,
}

impl Remote {
    pub(crate) fn new(base: &str) -> Result<Remote> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(32)
            .tcp_nodelay(true)
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("wharf/", env!("CARGO_PKG_VERSION"), " (mirror)"))
            .build()
            .map_err(|err| AppError::internal("cannot build the HTTP client").with_source(err))?;
        Ok(Remote { client, base: base.trim_end_matches('/').to_owned() })
    }

    pub(crate) fn url(&self, rel: &str) -> String {
        format!("{}/{rel}", self.base)
    }

    /// A file of at most `limit` bytes (default [`MAX_INDEX_BYTES`]); `None` when the
    /// remote says it does not exist (404, 410).
    pub(crate) async fn get(&self, rel: &str, limit: Option<u64>) -> Result<Option<Vec<u8>>> {
        let url = self.url(rel);
        let limit = limit.unwrap_or(MAX_INDEX_BYTES);
        let unreachable = |err: reqwest::Error| {
            AppError::unavailable(format!(
                "cannot fetch {url}: {err}; is the mirror's URL right and the remote up?"
            ))
        };
        let mut response = self.client.get(&url).send().await.map_err(unreachable)?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND | StatusCode::GONE => return Ok(None),
            status => {
                return Err(AppError::unavailable(format!("cannot fetch {url}: HTTP {status}")));
            }
        }
        let expected = response.content_length().unwrap_or(0).min(limit);
        let mut body = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > limit {
                return Err(AppError::invalid(format!(
                    "{url} is larger than the {limit} bytes expected: refusing it"
                )));
            }
        }
        Ok(Some(body))
    }

    /// A package file of exactly `size` bytes, into memory; a missing one is an error.
    pub(crate) async fn get_exact(&self, rel: &str, size: u64) -> Result<Vec<u8>> {
        let bytes = self.get(rel, Some(size)).await?.ok_or_else(|| {
            AppError::unavailable(format!(
                "{} is listed in the remote's Packages index but missing (HTTP 404)",
                self.url(rel)
            ))
        })?;
        if (bytes.len() as u64) < size {
            return Err(AppError::unavailable(format!(
                "{} ended after {} of {size} bytes",
                self.url(rel),
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    /// Downloads `rel` into `dest`, which must end up `size` bytes with SHA-256 `sha256`.
    /// A shorter `dest` left by an interrupted update is continued with a `Range`
    /// request (a server that answers 200 instead sends it whole again). A file that
    /// does not match is deleted, and the error says which and why.
    pub(crate) async fn download(
        &self,
        rel: &str,
        dest: &Path,
        size: u64,
        sha256: &str,
    ) -> Result<Downloaded> {
        let url = self.url(rel);
        let have = tokio::fs::metadata(dest).await.map_or(0, |meta| meta.len());
        let (done, hashed) = if have == size {
            (Downloaded::default(), None)
        } else {
            let from = if have < size { have } else { 0 };
            self.fetch_into(&url, dest, from, size).await?
        };
        // A file fetched whole was hashed on the way; a continued or complete one is read.
        let actual = match hashed {
            Some(actual) => actual,
            None => {
                let path = dest.to_owned();
                tokio::task::spawn_blocking(move || file_sha256(&path))
                    .await
                    .map_err(|err| AppError::internal("the hashing task failed").with_source(err))?
                    .map_err(|err| {
                        AppError::internal(format!("cannot read {}", dest.display()))
                            .with_source(err)
                    })?
            }
        };
        let wanted = sha256;
        if actual != wanted {
            let _ = tokio::fs::remove_file(dest).await;
            return Err(AppError::invalid(format!(
                "{url}: its SHA-256 is {actual}, the remote's Packages index says {wanted}: the file is damaged or was tampered with"
            )));
        }
        Ok(done)
    }

    /// Fetches `url` into `dest` from byte `from` on (appending), stopping at `size`;
    /// with the SHA-256 of the file when it came whole in this response.
    async fn fetch_into(
        &self,
        url: &str,
        dest: &Path,
        from: u64,
        size: u64,
    ) -> Result<(Downloaded, Option<String>)> {
        use sha2::Digest as _;
        let unreachable = |err: reqwest::Error| {
            AppError::unavailable(format!(
                "cannot fetch {url}: {err}; run `wharf mirror update` again to resume"
            ))
        };
        let mut request = self.client.get(url);
        if from > 0 {
            request = request.header(RANGE, format!("bytes={from}-"));
        }
        let mut response = request.send().await.map_err(unreachable)?;
        let resumed = match response.status() {
            StatusCode::PARTIAL_CONTENT if from > 0 => {
                let expected = format!("bytes {from}-");
                let range = response.headers().get(CONTENT_RANGE).and_then(|v| v.to_str().ok());
                if !range.is_some_and(|range| range.starts_with(&expected)) {
                    return Err(AppError::unavailable(format!(
                        "{url}: the server answered the range request for bytes {from}- with Content-Range {range:?}"
                    )));
                }
                true
            }
            StatusCode::OK => false,
            status => {
                return Err(AppError::unavailable(format!("cannot fetch {url}: HTTP {status}")));
            }
        };
        let io_err = |err: std::io::Error| {
            AppError::internal(format!("cannot write {}", dest.display())).with_source(err)
        };
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(resumed)
            .write(true)
            .truncate(!resumed)
            .open(dest)
            .await
            .map_err(io_err)?;
        let mut written = if resumed { from } else { 0 };
        let mut received = 0;
        let mut hasher = (!resumed).then(sha2::Sha256::new);
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if let Some(hasher) = &mut hasher {
                hasher.update(&chunk);
            }
            received += chunk.len() as u64;
            written += chunk.len() as u64;
            if written > size {
                drop(file);
                let _ = tokio::fs::remove_file(dest).await;
                return Err(AppError::invalid(format!(
                    "{url} is larger than the {size} bytes the remote's Packages index says: the file is damaged or was tampered with"
                )));
            }
            file.write_all(&chunk).await.map_err(io_err)?;
        }
        file.flush().await.map_err(io_err)?;
        if written < size {
            return Err(AppError::unavailable(format!(
                "{url} ended after {written} of {size} bytes; run `wharf mirror update` again to resume"
            )));
        }
        let sha256 = hasher.map(|hasher| hex::encode(hasher.finalize()));
        Ok((Downloaded { received, resumed }, sha256))
    }
}

/// Lower-case hex SHA-256 of a file, read in blocks.
pub(crate) fn file_sha256(path: &Path) -> std::io::Result<String> {
    use sha2::Digest as _;
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
