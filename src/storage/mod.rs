//! Where tables come from and where releases go: locations, Parquet I/O, staging and publish.
//!
//! Guarantees: a release is written data files first, then `manifest.json`, then the `latest`
//! pointer, each file complete before the next begins, so a reader that trusts only the
//! manifest never sees a partial release; a run id that was released once is never released
//! again; a refused run writes nothing under the release location.

mod location;
mod parquet_io;
mod publish;
pub mod remote;

pub use location::Location;
pub use parquet_io::{
    SourceInfo, StagedFile, inspect_source, read_source, session_context, write_parquet,
};
pub use publish::{ReleasedFile, is_released, publish, sha256_hex};

use std::path::PathBuf;

/// Errors of reading and writing tables.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The URL names a scheme this version cannot reach.
    #[error(
        "`{url}`: the {scheme}:// scheme is not supported yet; use a local path, file://, \
         s3://, gs://, az:// or http(s)://"
    )]
    UnsupportedScheme {
        /// the URL as written
        url: String,
        /// its scheme
        scheme: String,
    },
    /// An object-store URL that cannot be used as written.
    #[error("`{url}`: {reason}")]
    BadUrl {
        /// the URL, without credentials
        url: String,
        /// what is wrong
        reason: String,
    },
    /// A location that can only be read was asked to take a write.
    #[error(
        "`{url}`: http(s):// locations can only be read; release to s3://, gs://, az:// or a local folder"
    )]
    ReadOnly {
        /// the URL
        url: String,
    },
    /// An object store refused or failed an operation.
    #[error("object store {url}: cannot {operation}: {reason}")]
    Store {
        /// the URL
        url: String,
        /// what was tried
        operation: &'static str,
        /// the store's error, credentials blanked
        reason: String,
    },
    /// The source does not exist.
    #[error("source {path} does not exist")]
    NotFound {
        /// the resolved path
        path: PathBuf,
    },
    /// A folder source holds no Parquet file.
    #[error("source folder {path} holds no .parquet file")]
    EmptyFolder {
        /// the folder
        path: PathBuf,
    },
    /// A file of the source is not readable Parquet, or the files disagree on their schema.
    #[error("cannot read Parquet {path}: {reason}")]
    BadParquet {
        /// the file
        path: PathBuf,
        /// what is wrong, in words that hold no data value
        reason: String,
    },
    /// An I/O error on a path.
    #[error("I/O error on {path}")]
    Io {
        /// the path
        path: PathBuf,
        /// the cause
        #[source]
        source: std::io::Error,
    },
    /// A Parquet or Arrow error while writing.
    #[error("cannot write Parquet {path}")]
    Write {
        /// the file
        path: PathBuf,
        /// the cause
        #[source]
        source: datafusion::parquet::errors::ParquetError,
    },
    /// DataFusion failed to read the source.
    #[error("cannot read source {path}")]
    Query {
        /// the source
        path: PathBuf,
        /// the cause
        #[source]
        source: datafusion::error::DataFusionError,
    },
    /// The run id was released before.
    #[error("run {run_id} was already released at {path}; choose another --run-id")]
    AlreadyReleased {
        /// the run id
        run_id: String,
        /// its release folder
        path: PathBuf,
    },
}

impl StorageError {
    /// Whether the error is the user's input (exit 2) rather than a failure of the run (exit 1).
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            StorageError::UnsupportedScheme { .. }
                | StorageError::BadUrl { .. }
                | StorageError::ReadOnly { .. }
                | StorageError::NotFound { .. }
                | StorageError::EmptyFolder { .. }
                | StorageError::BadParquet { .. }
        )
    }
}

/// Maps an I/O error on `path` to a crate error.
pub fn io_error_of(
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> crate::error::Error + '_ {
    move |source| {
        StorageError::Io {
            path: path.to_owned(),
            source,
        }
        .into()
    }
}

pub(crate) fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> StorageError + '_ {
    move |source| StorageError::Io {
        path: path.to_owned(),
        source,
    }
}
