//! Package storage in an S3-compatible object store. Objects are content-addressed: the key
//! is the SHA-256 of the bytes, so a package pushed twice is stored once and an object is
//! never overwritten with different content.

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

/// The store's settings live in `ferry-config`, so configuration code reads them without the
/// AWS SDK.
pub use ferry_config::StoreConfig;

/// Failures of the object store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist: permanent.
    #[error("object `{key}` does not exist in bucket `{bucket}`")]
    NotFound { bucket: String, key: String },
    /// Anything else (connection refused, timeout, 5xx): worth retrying.
    #[error("object store: {0}")]
    Unavailable(String),
    /// The object is larger than the reader allows (a package whose object was replaced):
    /// permanent.
    #[error("object `{key}` is larger than the {limit} bytes expected")]
    Oversized { key: String, limit: u64 },
    /// The local file could not be read or written: not the store's fault.
    #[error("{path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// What [`PackageStore::download_to`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    pub size_bytes: u64,
    /// The SHA-256 of the bytes written, as lower-case hex.
    pub sha256: String,
}

/// A client bound to one bucket.
#[derive(Clone, Debug)]
pub struct PackageStore {
    client: aws_sdk_s3::Client,
    bucket: String,
}

/// The object key of a package with this SHA-256.
pub fn object_key(sha256_hex: &str) -> String {
    format!("packages/sha256/{sha256_hex}")
}

fn describe<E: std::error::Error>(error: &E) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl PackageStore {
    pub fn new(config: &StoreConfig) -> Self {
        let credentials = Credentials::new(
            config.access_key.clone(),
            config.secret_key.expose().to_owned(),
            None,
            None,
            "ferry-config",
        );
        let s3_config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .endpoint_url(config.endpoint.clone())
            .credentials_provider(credentials)
            .force_path_style(true)
            .build();
        PackageStore {
            client: aws_sdk_s3::Client::from_conf(s3_config),
            bucket: config.bucket.clone(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket unless it exists.
    pub async fn ensure_bucket(&self) -> Result<(), StoreError> {
        if self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        match self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => {
                let service_error = error.as_service_error();
                if service_error.is_some_and(|e| {
                    e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists()
                }) {
                    Ok(())
                } else {
                    Err(StoreError::Unavailable(describe(&error)))
                }
            }
        }
    }

    /// Stores bytes under `key`.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|error| StoreError::Unavailable(describe(&error)))?;
        Ok(())
    }

    /// Stores the file at `path` under `key`, streamed from the disk (never whole in memory).
    pub async fn put_file(&self, key: &str, path: &std::path::Path) -> Result<(), StoreError> {
        let body = ByteStream::from_path(path)
            .await
            .map_err(|error| StoreError::File {
                path: path.display().to_string(),
                source: std::io::Error::other(error),
            })?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(body)
            .send()
            .await
            .map_err(|error| StoreError::Unavailable(describe(&error)))?;
        Ok(())
    }

    /// Streams the object under `key` into a new file at `destination`, hashing it as it is
    /// written, and stops (leaving the partial file for the caller) once it passes
    /// `max_bytes`.
    pub async fn download_to(
        &self,
        key: &str,
        destination: &std::path::Path,
        max_bytes: u64,
    ) -> Result<Downloaded, StoreError> {
        use sha2::Digest;
        use tokio::io::AsyncWriteExt;
        let response = self.get_object(key).await?;
        let file_error = |source: std::io::Error| StoreError::File {
            path: destination.display().to_string(),
            source,
        };
        let mut file = tokio::fs::File::create(destination)
            .await
            .map_err(file_error)?;
        let mut hasher = sha2::Sha256::new();
        let mut size_bytes = 0u64;
        let mut body = response.body;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|error| StoreError::Unavailable(describe(&error)))?
        {
            size_bytes += chunk.len() as u64;
            if size_bytes > max_bytes {
                return Err(StoreError::Oversized {
                    key: key.to_owned(),
                    limit: max_bytes,
                });
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(file_error)?;
        }
        file.sync_all().await.map_err(file_error)?;
        Ok(Downloaded {
            size_bytes,
            sha256: hex::encode(hasher.finalize()),
        })
    }

    async fn get_object(
        &self,
        key: &str,
    ) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, StoreError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(response) => Ok(response),
            Err(error) => {
                if error.as_service_error().is_some_and(|e| e.is_no_such_key()) {
                    Err(StoreError::NotFound {
                        bucket: self.bucket.clone(),
                        key: key.to_owned(),
                    })
                } else {
                    Err(StoreError::Unavailable(describe(&error)))
                }
            }
        }
    }

    /// Reads the whole object under `key`.
    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let response = self.get_object(key).await?;
        let body = response
            .body
            .collect()
            .await
            .map_err(|error| StoreError::Unavailable(describe(&error)))?;
        Ok(body.into_bytes())
    }

    /// Whether an object exists under `key`.
    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(error) => {
                if error.as_service_error().is_some_and(|e| e.is_not_found()) {
                    Ok(false)
                } else {
                    Err(StoreError::Unavailable(describe(&error)))
                }
            }
        }
    }

    /// Deletes every object of the bucket, then the bucket (test stacks remove theirs; an
    /// operator retiring an installation). A bucket that does not exist is no error.
    pub async fn remove_bucket(&self) -> Result<(), StoreError> {
        let keys = match self.list("").await {
            Ok(keys) => keys,
            Err(StoreError::Unavailable(detail)) if detail.contains("NoSuchBucket") => {
                return Ok(());
            }
            Err(error) => return Err(error),
        };
        for key in keys {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(&key)
                .send()
                .await
                .map_err(|error| StoreError::Unavailable(describe(&error)))?;
        }
        self.client
            .delete_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|error| StoreError::Unavailable(describe(&error)))?;
        Ok(())
    }

    /// Every key under a prefix (for tests and retention).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut continuation: Option<String> = None;
        loop {
            let response = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(continuation.clone())
                .send()
                .await
                .map_err(|error| StoreError::Unavailable(describe(&error)))?;
            keys.extend(
                response
                    .contents()
                    .iter()
                    .filter_map(|object| object.key().map(str::to_owned)),
            );
            match response.next_continuation_token() {
                Some(token) if response.is_truncated().unwrap_or(false) => {
                    continuation = Some(token.to_owned());
                }
                _ => break,
            }
        }
        Ok(keys)
    }
}
