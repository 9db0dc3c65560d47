//! Object stores through object_store: `s3://`, `gs://` and `az://` to read and write,
//! `http(s)://` to read.
//!
//! Guarantees: credentials come only from the environment, through each provider's usual
//! variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT_URL`,
//! `GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_KEY`, ...); a URL holding a user, a password
//! or a query (where tokens hide) is refused, so no credential can reach a log line, an error,
//! the manifest or the report through a URL; every error text passes through
//! [`redact_credentials`] before it is shown.

use std::sync::Arc;
use std::time::Duration;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use url::Url;

use super::StorageError;

/// A location in an object store: its URL (without credentials, which are never accepted in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteUrl {
    url: Url,
}

/// The schemes synthgate reaches through object_store.
pub const SCHEMES: [&str; 5] = ["s3", "gs", "az", "http", "https"];

/// Environment variables whose values are credentials: never shown, and blanked from any error
/// text that might quote them.
const CREDENTIAL_VARIABLES: [&str; 12] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_TOKEN",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_TOKEN",
    "AZURE_CLIENT_SECRET",
    "AZURE_STORAGE_CLIENT_SECRET",
];

/// `text` with the value of every credential variable that is set replaced by `***`.
pub fn redact_credentials(text: &str) -> String {
    let mut out = text.to_owned();
    for name in CREDENTIAL_VARIABLES {
        if let Ok(value) = std::env::var(name)
            && value.len() >= 4
        {
            out = out.replace(&value, "***");
        }
    }
    out
}

impl RemoteUrl {
    /// Parses `text`, whose scheme is one of [`SCHEMES`].
    pub fn parse(text: &str) -> Result<Self, StorageError> {
        let shown = super::location::redact_url(text);
        let bad = |reason: &str| StorageError::BadUrl {
            url: shown.clone(),
            reason: reason.to_owned(),
        };
        let url = Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "credentials are not accepted in a URL; set them in the environment \
                 (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, GOOGLE_SERVICE_ACCOUNT, \
                 AZURE_STORAGE_ACCOUNT_KEY, ...)",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad(
                "a query or fragment is not accepted (tokens belong in the environment, \
                 e.g. AZURE_STORAGE_SAS_KEY)",
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("it names no bucket, container or host"));
        }
        Ok(Self { url })
    }

    /// The scheme: `s3`, `gs`, `az`, `http` or `https`.
    pub fn scheme(&self) -> &str {
        self.url.scheme()
    }

    /// Whether releases can be written here (not over plain HTTP).
    pub fn is_writable(&self) -> bool {
        !matches!(self.scheme(), "http" | "https")
    }

    /// The store's root: `s3://bucket`, `http://host:port`, as DataFusion registers stores.
    pub fn root(&self) -> Url {
        let mut root = self.url.clone();
        root.set_path("");
        root
    }

    /// The object path below the root.
    pub fn object_path(&self) -> ObjectPath {
        ObjectPath::from(self.url.path().trim_matches('/'))
    }

    /// A location below this one.
    pub fn join(&self, part: &str) -> RemoteUrl {
        let mut url = self.url.clone();
        let path = format!("{}/{part}", self.url.path().trim_end_matches('/'));
        url.set_path(&path);
        RemoteUrl { url }
    }

    /// The URL of an object path of this store.
    pub fn url_of(&self, path: &ObjectPath) -> String {
        format!("{}/{path}", self.root().as_str().trim_end_matches('/'))
    }

    /// The store, configured from the environment.
    pub fn store(&self) -> Result<Arc<dyn ObjectStore>, StorageError> {
        // A few retries of server errors, then the error: a scheduled job should fail in
        // minutes, not hang on a store that is down.
        let retry = RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(60),
            ..RetryConfig::default()
        };
        let url = self.url.as_str();
        let built: object_store::Result<Arc<dyn ObjectStore>> = match self.scheme() {
            "s3" => object_store::aws::AmazonS3Builder::from_env()
                .with_url(url)
                .with_retry(retry)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
            "gs" => object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(url)
                .with_retry(retry)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
            "az" => object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(url)
                .with_retry(retry)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
            // an http:// URL is the pipeline's explicit choice of plain HTTP
            scheme => object_store::http::HttpBuilder::new()
                .with_url(self.root().as_str())
                .with_client_options(
                    object_store::ClientOptions::new().with_allow_http(scheme == "http"),
                )
                .with_retry(retry)
                .build()
                .map(|s| Arc::new(s) as Arc<dyn ObjectStore>),
        };
        built.map_err(|source| StorageError::Store {
            url: self.to_string(),
            operation: "configure",
            reason: redact_credentials(&source.to_string()),
        })
    }

    /// The storage error of a failed `operation` here; not found is [`StorageError::NotFound`].
    pub(super) fn error(
        &self,
        operation: &'static str,
    ) -> impl Fn(object_store::Error) -> StorageError + '_ {
        move |source| match source {
            object_store::Error::NotFound { .. } => StorageError::NotFound {
                path: std::path::PathBuf::from(self.to_string()),
            },
            other => StorageError::Store {
                url: self.to_string(),
                operation,
                reason: redact_credentials(&other.to_string()),
            },
        }
    }

    /// Whether the object exists.
    pub async fn exists(&self, store: &dyn ObjectStore) -> Result<bool, StorageError> {
        match store.head(&self.object_path()).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(other) => Err(self.error("check")(other)),
        }
    }

    /// Writes the object whole (object stores make a single put atomic).
    pub async fn put(&self, store: &dyn ObjectStore, bytes: Vec<u8>) -> Result<(), StorageError> {
        store
            .put(&self.object_path(), PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(self.error("write"))
    }

    /// The objects directly below this location whose names end in `.parquet`, with sizes,
    /// sorted by path.
    pub async fn list_parquet(
        &self,
        store: &dyn ObjectStore,
    ) -> Result<Vec<(ObjectPath, u64)>, StorageError> {
        let prefix = self.object_path();
        let listed = store
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(self.error("list"))?;
        let mut files: Vec<(ObjectPath, u64)> = listed
            .objects
            .into_iter()
            .filter(|o| o.location.as_ref().ends_with(".parquet"))
            .map(|o| (o.location, o.size))
            .collect();
        files.sort();
        Ok(files)
    }
}

impl std::fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.url.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_credentials_or_queries_are_refused_without_echoing_them() {
        for url in [
            "s3://AKIAEXAMPLE:hunter22@bucket/x",
            "https://user:hunter22@example.com/x.parquet",
            "az://container/x?sig=hunter22",
        ] {
            let message = RemoteUrl::parse(url).unwrap_err().to_string();
            assert!(!message.contains("hunter22"), "{message}");
            assert!(message.contains("environment"), "{message}");
        }
        assert!(RemoteUrl::parse("s3:///no-bucket").is_err());
    }

    #[test]
    fn roots_paths_and_joins() {
        let out = RemoteUrl::parse("s3://releases/people/demo").unwrap();
        assert_eq!(out.root().as_str(), "s3://releases");
        assert_eq!(out.object_path().as_ref(), "people/demo");
        let manifest = out.join("run-1").join("manifest.json");
        assert_eq!(
            manifest.to_string(),
            "s3://releases/people/demo/run-1/manifest.json"
        );
        assert_eq!(
            out.url_of(&manifest.object_path()),
            "s3://releases/people/demo/run-1/manifest.json"
        );
        let http = RemoteUrl::parse("http://127.0.0.1:9000/b/people.parquet").unwrap();
        assert_eq!(http.root().as_str(), "http://127.0.0.1:9000/");
        assert!(!http.is_writable());
        assert!(out.is_writable());
    }

    #[test]
    fn credential_values_are_blanked_from_error_text() {
        // SAFETY of the test: the variable is unique to this test and only read by
        // `redact_credentials`.
        unsafe { std::env::set_var("AZURE_STORAGE_SAS_KEY", "sv=canary-sas-4711") };
        let text = redact_credentials("request failed: ...sv=canary-sas-4711...");
        assert_eq!(text, "request failed: ...***...");
        unsafe { std::env::remove_var("AZURE_STORAGE_SAS_KEY") };
    }
}
