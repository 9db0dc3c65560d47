//! What a run leaves behind: the public manifest and the internal report.
//!
//! Guarantee: the manifest holds the privacy parameters, the file list and each check's name
//! and pass or fail, and no value computed from real rows; `report.json` holds the check values
//! and the columns' distributions (aggregates of real data) and stays in staging, never under
//! the release location; `report.html` is rendered from `report.json` alone and goes to
//! `report.url`, never under `output.url` unless the pipeline says it may be public.

pub mod distributions;
pub mod html;

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use crate::gate::GateVerdict;
use crate::privacy::PrivacyLedger;
use crate::storage::ReleasedFile;

/// The privacy facts of a run, as released.
#[derive(Debug, Clone, Serialize)]
pub struct PrivacySummary {
    /// epsilon spent, from the ledger
    pub epsilon: f64,
    /// the pipeline's target epsilon
    pub epsilon_target: f64,
    /// delta
    pub delta: f64,
    /// DP-SGD noise multiplier
    pub noise_multiplier: f64,
    /// discriminator DP-SGD steps taken
    pub steps: u64,
    /// Poisson sampling rate
    pub sampling_rate: f64,
    /// clipping norm
    pub max_grad_norm: f64,
    /// accountant
    pub accountant: String,
    /// every mechanism charged
    pub ledger: PrivacyLedger,
}

/// Everything the manifest says.
pub struct ManifestInput<'a> {
    /// pipeline name
    pub pipeline: &'a str,
    /// run id
    pub run_id: &'a str,
    /// creation time, RFC 3339
    pub created_at: &'a str,
    /// released rows
    pub rows: usize,
    /// release schema
    pub schema: &'a datafusion::arrow::datatypes::Schema,
    /// privacy facts
    pub privacy: &'a PrivacySummary,
    /// SHA-256 of the resolved pipeline
    pub config_hash: &'a str,
    /// the gate's verdict
    pub verdict: &'a GateVerdict,
}

/// `manifest.json` of a release.
pub fn manifest(input: &ManifestInput<'_>, files: &[ReleasedFile]) -> serde_json::Value {
    let schema: Vec<serde_json::Value> = input
        .schema
        .fields()
        .iter()
        .map(|f| json!({ "name": f.name(), "type": f.data_type().to_string(), "nullable": f.is_nullable() }))
        .collect();
    let checks: Vec<serde_json::Value> = input
        .verdict
        .checks
        .iter()
        .map(|c| json!({ "name": c.name, "kind": c.kind, "passed": c.passed, "status": c.status }))
        .collect();
    json!({
        "synthgate_version": env!("CARGO_PKG_VERSION"),
        "pipeline": input.pipeline,
        "run_id": input.run_id,
        "created_at": input.created_at,
        "private": true,
        "rows": input.rows,
        "files": files,
        "schema": schema,
        "privacy": input.privacy,
        "config_hash": input.config_hash,
        "verdict": { "passed": input.verdict.passed, "checks": checks },
    })
}

/// Reading or writing a report failed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The run folder has no readable `report.json` (exit 2).
    #[error("{}: cannot read the run's report.json (is this a run's staging folder?)", path.display())]
    Missing {
        /// the file
        path: PathBuf,
        /// the cause
        #[source]
        source: std::io::Error,
    },
    /// `report.json` is not a synthgate report (exit 2).
    #[error("{}: not a synthgate report", path.display())]
    NotAReport {
        /// the file
        path: PathBuf,
    },
    /// Writing the page failed (exit 1).
    #[error("cannot write {}", path.display())]
    Write {
        /// the file
        path: PathBuf,
        /// the cause
        #[source]
        source: std::io::Error,
    },
}

impl ReportError {
    /// Whether the input is at fault (exit 2) rather than the run (exit 1).
    pub fn is_input_error(&self) -> bool {
        !matches!(self, ReportError::Write { .. })
    }
}

/// Writes `report.html` for `report` to `path`, creating its folder.
pub fn write_html(report: &serde_json::Value, path: &Path) -> Result<(), ReportError> {
    let write_error = |source| ReportError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(write_error)?;
    }
    std::fs::write(path, html::render(report)).map_err(write_error)
}

/// `synthgate report RUN_DIR`: rebuilds the page from the staged `report.json`; writes it to
/// `out`, else beside the JSON. Returns where it went.
pub fn rebuild(run_dir: &Path, out: Option<&Path>) -> Result<PathBuf, ReportError> {
    let path = run_dir.join("report.json");
    let bytes = std::fs::read(&path).map_err(|source| ReportError::Missing {
        path: path.clone(),
        source,
    })?;
    let report: serde_json::Value = serde_json::from_slice(&bytes)
        .ok()
        .filter(|r: &serde_json::Value| r["verdict"]["checks"].is_array())
        .ok_or_else(|| ReportError::NotAReport { path: path.clone() })?;
    let target = out.map_or_else(|| run_dir.join("report.html"), Path::to_owned);
    write_html(&report, &target)?;
    Ok(target)
}

/// `report.json`: the internal record of a run, with every check's value and every learned
/// column's distribution.
pub fn internal_report(
    input: &ManifestInput<'_>,
    train_rows: usize,
    holdout_rows: usize,
    training_seconds: f64,
    columns: &[distributions::ColumnDistribution],
) -> serde_json::Value {
    json!({
        "internal": "contains aggregates of real data: do not publish",
        "pipeline": input.pipeline,
        "run_id": input.run_id,
        "created_at": input.created_at,
        "rows": input.rows,
        "train_rows": train_rows,
        "holdout_rows": holdout_rows,
        "training_seconds": training_seconds,
        "privacy": input.privacy,
        "config_hash": input.config_hash,
        "verdict": input.verdict,
        "columns": columns,
    })
}

/// Seconds since the Unix epoch as RFC 3339 UTC, `YYYY-MM-DDTHH:MM:SSZ`.
///
/// Days to civil date by the algorithm of Howard Hinnant, "chrono-Compatible Low-Level Date
/// Algorithms" (2013), `civil_from_days`.
pub fn rfc3339(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let seconds_of_day = unix_seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds_of_day / 3600,
        seconds_of_day / 60 % 60,
        seconds_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        // 2000-02-29 12:34:56 UTC, a leap day
        assert_eq!(rfc3339(951_827_696), "2000-02-29T12:34:56Z");
        assert_eq!(rfc3339(1_796_299_200), "2026-12-03T12:00:00Z");
    }
}
