//! `wharf-storage`: package objects and published APT trees in an S3-compatible bucket.
//!
//! Wharf keeps its files in the local data directory unless `[store] storage` (or
//! `--storage`, `$WHARF_STORAGE`) names a bucket: `s3://BUCKET[/PREFIX]`. Endpoint, region
//! and credentials come from the standard `AWS_*` environment variables, read by
//! `object_store`'s `AmazonS3Builder::from_env` (`AWS_ENDPOINT_URL`, `AWS_REGION`,
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`).
//!
//! Layout below `s3://BUCKET/PREFIX/`, the same as below the data directory:
//! - `objects/sha256/ab/<sha256>` — package files, content-addressed, never changed;
//! - `public/PREFIX/…` — published trees, as `wharf server` serves them at `/apt/PREFIX/…`.
//!
//! Goals: one small async API over `object_store` ([`Bucket`]) that names the bucket URL
//! (never a credential) in every error; the safe upload order of a publish ([`mirror`]).
//! Non-goals: other clouds (the URL parser refuses them), multipart uploads (package files
//! are read into memory by `repo add` anyway; S3 takes single PUTs up to 5 GB).
//!
//! **Invariants:** a PUT that returned is durable (S3's rule), so "durable before metadata
//! refers to it" is "the PUT completed before the store commits"; a key is only built from
//! checked segments (no empty, `.` or `..` segment, no control character); credentials are
//! never formatted: errors carry the bucket URL and the endpoint only.

pub mod mirror;

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as Key;
use object_store::{
    ClientConfigKey, GetOptions, GetRange, ObjectStore as _, ObjectStoreExt as _, PutPayload,
    RetryConfig,
};

/// Where package files live: `objects/sha256/ab/<sha256>`.
#[must_use]
pub fn object_key(sha256: &str) -> String {
    format!("objects/sha256/{}/{sha256}", &sha256[..2.min(sha256.len())])
}

/// Where a published tree's file lives: `public/PREFIX/REL`.
#[must_use]
pub fn public_key(prefix: &str, rel: &str) -> String {
    format!("public/{prefix}/{rel}")
}

/// A storage URL could not be used, or a bucket operation failed. Messages name the bucket
/// URL and endpoint, never credentials.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(
        "unsupported storage URL {url:?}: {why}; use s3://BUCKET[/PREFIX] (endpoint, region and credentials from the AWS_* environment variables), or leave it unset for the local data directory"
    )]
    BadUrl { url: String, why: String },
    #[error("cannot set up S3 storage {url}: {source}")]
    Setup { url: String, source: Box<object_store::Error> },
    #[error("cannot {op} {url} (endpoint {endpoint}): {source}")]
    Request { op: &'static str, url: String, endpoint: String, source: Box<object_store::Error> },
    #[error("{url} does not exist (endpoint {endpoint})")]
    NotFound { url: String, endpoint: String },
    #[error("{url} changed while it was being read")]
    Changed { url: String },
    #[error("invalid object key {key:?}: {source}")]
    Key { key: String, source: Box<object_store::path::Error> },
    #[error("cannot use local file {}: {source}", path.display())]
    Local { path: std::path::PathBuf, source: std::io::Error },
}

/// A parsed `s3://BUCKET[/PREFIX]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageUrl {
    pub bucket: String,
    /// Key prefix inside the bucket without leading or trailing `/`; may be empty.
    pub prefix: String,
}

impl StorageUrl {
    /// Parse `s3://BUCKET[/PREFIX]`; every other scheme is refused with what is accepted.
    pub fn parse(url: &str) -> Result<StorageUrl, StorageError> {
        // A user name or password in the URL is never repeated in a message.
        let shown = match (url.split_once("://"), url.rfind('@')) {
            (Some((scheme, _)), Some(at)) => format!("{scheme}://***{}", &url[at..]),
            _ => url.to_owned(),
        };
        let bad = |why: &str| StorageError::BadUrl { url: shown.clone(), why: why.to_owned() };
        if url.contains(['?', '#', '@']) {
            return Err(bad("query strings, fragments and user names are not allowed"));
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(bad("not a URL"));
        };
        if scheme != "s3" {
            return Err(bad(&format!("scheme {scheme}:// is not supported")));
        }
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b))
            && bucket.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
        if !bucket_ok {
            return Err(bad(&format!(
                "{bucket:?} is not a bucket name (3 to 63 lower-case letters, digits, '-' and '.')"
            )));
        }
        let prefix = prefix.trim_matches('/');
        if !prefix.is_empty() && Key::parse(prefix).is_err() {
            return Err(bad(&format!("{prefix:?} is not a key prefix")));
        }
        Ok(StorageUrl { bucket: bucket.to_owned(), prefix: prefix.to_owned() })
    }
}

impl std::fmt::Display for StorageUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// What a HEAD (or GET) tells about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    /// As the server sent it (S3: a quoted MD5 or multipart tag).
    pub e_tag: Option<String>,
    pub last_modified: SystemTime,
}

/// One bucket (and key prefix) over `object_store`. Cheap to clone. Use it on one tokio
/// runtime: its HTTP connections belong to the runtime that opened them.
#[derive(Clone)]
pub struct Bucket {
    store: Arc<AmazonS3>,
    url: StorageUrl,
    endpoint: String,
}

impl std::fmt::Debug for Bucket {
    // Never the builder or the client: they hold credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket").field("url", &self.url.to_string()).finish_non_exhaustive()
    }
}

impl Bucket {
    /// A client for `url` configured from the `AWS_*` environment variables. Does not
    /// touch the network. Retries are short (3 attempts within 30 s) so an unreachable
    /// endpoint fails a command in seconds, not minutes.
    pub fn from_env(url: &StorageUrl) -> Result<Bucket, StorageError> {
        Bucket::from_env_with(url, &[])
    }

    /// [`Bucket::from_env`] with some settings given here instead (names as the
    /// lower-cased environment variables: `aws_endpoint_url`, `aws_access_key_id`…), for
    /// callers that must not change the process environment, such as tests.
    pub fn from_env_with(
        url: &StorageUrl,
        settings: &[(&str, &str)],
    ) -> Result<Bucket, StorageError> {
        let mut builder = AmazonS3Builder::from_env();
        for (name, value) in settings {
            let key: AmazonS3ConfigKey = name.parse().map_err(|source| StorageError::Setup {
                url: url.to_string(),
                source: Box::new(source),
            })?;
            builder = builder.with_config(key, *value);
        }
        let builder = builder
            .with_bucket_name(&url.bucket)
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(30),
                ..RetryConfig::default()
            })
            .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout), "5s");
        let endpoint =
            builder.get_config_value(&AmazonS3ConfigKey::Endpoint).unwrap_or_else(|| {
                let region = builder
                    .get_config_value(&AmazonS3ConfigKey::Region)
                    .unwrap_or_else(|| "us-east-1".to_owned());
                format!("AWS S3 {region}")
            });
        let store = builder.build().map_err(|source| StorageError::Setup {
            url: url.to_string(),
            source: Box::new(source),
        })?;
        Ok(Bucket { store: Arc::new(store), url: url.clone(), endpoint })
    }

    /// The storage URL, `s3://BUCKET[/PREFIX]`.
    #[must_use]
    pub fn url(&self) -> &StorageUrl {
        &self.url
    }

    /// The endpoint requests go to (`AWS_ENDPOINT_URL`, or AWS S3 and the region).
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `s3://BUCKET/PREFIX/KEY`, for messages.
    #[must_use]
    pub fn key_url(&self, key: &str) -> String {
        format!("{}/{key}", self.url)
    }

    fn full_key(&self, key: &str) -> Result<Key, StorageError> {
        let full = if self.url.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.url.prefix)
        };
        Key::parse(&full)
            .map_err(|source| StorageError::Key { key: full, source: Box::new(source) })
    }

    fn request_error(
        &self,
        op: &'static str,
        key: &str,
        source: object_store::Error,
    ) -> StorageError {
        match source {
            object_store::Error::NotFound { .. } => {
                StorageError::NotFound { url: self.key_url(key), endpoint: self.endpoint.clone() }
            }
            object_store::Error::Precondition { .. } => {
                StorageError::Changed { url: self.key_url(key) }
            }
            source => StorageError::Request {
                op,
                url: self.key_url(key),
                endpoint: self.endpoint.clone(),
                source: Box::new(source),
            },
        }
    }

    /// Store `bytes` at `key` (relative to the URL's prefix); durable when this returns.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        let location = self.full_key(key)?;
        self.store
            .put(&location, PutPayload::from(bytes))
            .await
            .map_err(|err| self.request_error("write", key, err))?;
        Ok(())
    }

    /// Read a whole object.
    pub async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        let location = self.full_key(key)?;
        let result =
            self.store.get(&location).await.map_err(|err| self.request_error("read", key, err))?;
        result.bytes().await.map_err(|err| self.request_error("read", key, err))
    }

    /// Metadata of an object; `None` when it does not exist.
    pub async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StorageError> {
        let location = self.full_key(key)?;
        match self.store.head(&location).await {
            Ok(meta) => Ok(Some(ObjectInfo {
                size: meta.size,
                e_tag: meta.e_tag,
                last_modified: meta.last_modified.into(),
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(self.request_error("read", key, err)),
        }
    }

    /// Stream `range` (or the whole object) of the object whose ETag is `e_tag` (when
    /// given); [`StorageError::Changed`] when it was replaced since.
    pub async fn get_stream(
        &self,
        key: &str,
        range: Option<Range<u64>>,
        e_tag: Option<&str>,
    ) -> Result<BoxStream<'static, Result<Bytes, std::io::Error>>, StorageError> {
        let location = self.full_key(key)?;
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            if_match: e_tag.map(str::to_owned),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(&location, options)
            .await
            .map_err(|err| self.request_error("read", key, err))?;
        Ok(result.into_stream().map(|chunk| chunk.map_err(std::io::Error::other)).boxed())
    }

    /// Server-side copy of `from` to `to` (replacing `to`).
    pub async fn copy(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let (source, target) = (self.full_key(from)?, self.full_key(to)?);
        self.store.copy(&source, &target).await.map_err(|err| match err {
            object_store::Error::NotFound { .. } => {
                StorageError::NotFound { url: self.key_url(from), endpoint: self.endpoint.clone() }
            }
            err => self.request_error("copy to", to, err),
        })
    }

    /// Delete an object; deleting a missing one is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let location = self.full_key(key)?;
        match self.store.delete(&location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(self.request_error("delete", key, err)),
        }
    }

    /// Every object below `prefix` (a directory-like key prefix, e.g. `objects/`), as keys
    /// relative to the URL's prefix with their sizes.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError> {
        let location = self.full_key(prefix.trim_end_matches('/'))?;
        let strip = if self.url.prefix.is_empty() { 0 } else { self.url.prefix.len() + 1 };
        let mut stream = self.store.list(Some(&location));
        let mut out = Vec::new();
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(|err| self.request_error("list", prefix, err))?;
            let full = meta.location.as_ref();
            out.push((full.get(strip..).unwrap_or(full).to_owned(), meta.size));
        }
        Ok(out)
    }

    /// Whether the bucket answers a listing: `Err` names the URL and the endpoint when it
    /// is unreachable, missing or refuses the credentials.
    pub async fn ping(&self) -> Result<(), StorageError> {
        let location = self.full_key("objects")?;
        let mut stream = self.store.list(Some(&location));
        match stream.next().await {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(err)) => Err(self.request_error("list", "objects/", err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = StorageUrl::parse("s3://wharf-repos/prod/apt/").unwrap();
        assert_eq!((url.bucket.as_str(), url.prefix.as_str()), ("wharf-repos", "prod/apt"));
        assert_eq!(url.to_string(), "s3://wharf-repos/prod/apt");
        assert_eq!(StorageUrl::parse("s3://b12").unwrap().to_string(), "s3://b12");
        for bad in [
            "gs://bucket",
            "file:///srv/wharf",
            "/srv/wharf",
            "s3://",
            "s3://Upper",
            "s3://ab",
            "s3://bucket/a//b",
            "s3://bucket/../x",
            "s3://key:secret@bucket",
            "s3://bucket?x=1",
        ] {
            let err = StorageUrl::parse(bad).unwrap_err().to_string();
            assert!(err.contains("s3://BUCKET[/PREFIX]"), "{bad}: {err}");
            assert!(!err.contains("secret"), "{bad}: {err}");
        }
    }

    #[test]
    fn keys() {
        assert_eq!(object_key("abcdef"), "objects/sha256/ab/abcdef");
        assert_eq!(
            public_key("tools", "dists/bookworm/InRelease"),
            "public/tools/dists/bookworm/InRelease"
        );
    }
}
