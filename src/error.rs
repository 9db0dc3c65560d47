//! The crate's error and its mapping to exit codes.

use crate::budget::BudgetError;
use crate::config::ConfigError;
use crate::model::ModelError;
use crate::privacy::PrivacyError;
use crate::sample::SampleError;
use crate::schema::SchemaError;
use crate::storage::StorageError;
use crate::validate::ValidateError;

/// Anything that stops a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// the pipeline file
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// the source's columns or their declarations
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// reading or writing tables
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// privacy planning
    #[error(transparent)]
    Privacy(#[from] PrivacyError),
    /// training
    #[error(transparent)]
    Model(#[from] ModelError),
    /// generation
    #[error(transparent)]
    Sample(#[from] SampleError),
    /// validation
    #[error(transparent)]
    Validate(#[from] ValidateError),
    /// A plan-level problem of the pipeline that needs the source's row count to see.
    #[error("{path}: {reason}")]
    Plan {
        /// the pipeline file
        path: std::path::PathBuf,
        /// what is wrong
        reason: String,
    },
    /// the privacy planner's request
    #[error(transparent)]
    Budget(#[from] BudgetError),
    /// the source's lifetime ledger
    #[error(transparent)]
    Lifetime(#[from] crate::privacy::lifetime::LifetimeError),
    /// a checkpoint to resume from
    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::Error),
    /// SIGINT or SIGTERM during a run (exit 1)
    #[error(transparent)]
    Interrupted(#[from] crate::interrupt::Interrupted),
    /// the internal report
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    /// Something inside synthgate went wrong.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::checkpoint::CheckpointError> for Error {
    fn from(error: crate::checkpoint::CheckpointError) -> Self {
        Error::Checkpoint(error.into())
    }
}

impl Error {
    /// The process exit code: 2 for invalid input, 1 for a failed run. (A refused release is
    /// not an error: it is a [`crate::run::RunOutcome`] that was not released, exit 3.)
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::Schema(_) | Error::Plan { .. } | Error::Budget(_) => 2,
            Error::Privacy(PrivacyError::Unreachable { .. } | PrivacyError::Invalid(_)) => 2,
            Error::Storage(error) if error.is_input_error() => 2,
            Error::Validate(error) if error.is_input_error() => 2,
            Error::Report(error) if error.is_input_error() => 2,
            Error::Lifetime(error) if error.is_input_error() => 2,
            Error::Checkpoint(crate::checkpoint::Error::Checkpoint(error))
                if error.is_input_error() =>
            {
                2
            }
            // The pipeline asked for a device this build or machine does not have.
            Error::Model(ModelError::DeviceUnavailable(_)) => 2,
            _ => 1,
        }
    }
}
