//! The pipeline file as written: serde structs that refuse unknown keys.
//!
//! Every field is optional here so that one type reads the user's file, the defaults and the
//! merged result; [`super::validate`] turns the merged result into a [`super::Pipeline`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The whole pipeline file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPipeline {
    /// Name of the pipeline; appears in the manifest.
    pub name: Option<String>,
    /// The sensitive table.
    pub source: Option<RawSource>,
    /// Column metadata by column name.
    #[serde(default)]
    pub columns: BTreeMap<String, RawColumn>,
    /// Privacy budget and DP-SGD parameters.
    pub privacy: Option<RawPrivacy>,
    /// Model and optimisation.
    pub training: Option<RawTraining>,
    /// The synthetic table.
    pub output: Option<RawOutput>,
    /// User SQL checks.
    #[serde(default)]
    pub check: Vec<RawCheck>,
    /// Attacks.
    pub attack: Option<RawAttacks>,
    /// Thresholds of the built-in checks.
    pub gate: Option<RawGate>,
    /// Workload queries compared between the real and the synthetic table.
    #[serde(default)]
    pub query: Vec<RawQuery>,
    /// Machine-learning utility.
    pub utility: Option<RawUtility>,
    /// The internal HTML report.
    pub report: Option<RawReport>,
}

/// One `[[query]]`: a GROUP BY aggregate run on the real and on the synthetic rows.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuery {
    /// Name shown in the verdict.
    pub name: Option<String>,
    /// Columns to group by.
    pub group_by: Option<Vec<String>>,
    /// SQL aggregate expression, e.g. `avg(age)`.
    pub aggregate: Option<String>,
    /// SQL condition on the rows, before grouping.
    #[serde(rename = "where")]
    pub filter: Option<String>,
    /// Largest allowed mean relative error (default `gate.workload_max_error`).
    pub max_error: Option<f64>,
}

/// `[utility]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawUtility {
    /// The column a model learns to predict.
    pub target: Option<String>,
}

/// `[report]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawReport {
    /// Folder of the report (default: the run's staging folder).
    pub url: Option<String>,
    /// Whether the report may be written under `output.url`.
    pub public: Option<bool>,
}

/// `[source]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    /// Path or URL of a Parquet file or folder.
    pub url: Option<String>,
    /// SQL name of the real rows (also available as `real`).
    pub table: Option<String>,
}

/// Declared kind of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RawKind {
    /// A number learned within public bounds.
    Continuous,
    /// A value from a public list of categories.
    Categorical,
    /// A direct identifier: never learned.
    Identifier,
    /// Left out of training and of the release.
    Drop,
}

/// What replaces an identifier in the release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RawSynthesize {
    /// Made-up personal names, independent of the data.
    FakeName,
    /// The column is left out of the release.
    Drop,
}

/// One entry of `[columns]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawColumn {
    /// The column's kind.
    pub kind: RawKind,
    /// Public `[low, high]` of a continuous column.
    pub bounds: Option<Vec<f64>>,
    /// Public list of a categorical column's values.
    pub categories: Option<Vec<String>>,
    /// Replacement of an identifier column; default `drop`.
    pub synthesize: Option<RawSynthesize>,
}

/// `[privacy]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrivacy {
    /// Total epsilon of the run.
    pub epsilon: Option<f64>,
    /// Delta of the run.
    pub delta: Option<f64>,
    /// L2 clipping norm of each example's gradient.
    pub max_grad_norm: Option<f64>,
    /// "rdp".
    pub accountant: Option<String>,
    /// Share of epsilon for DP preprocessing.
    pub preprocessing_share: Option<f64>,
    /// Share of rows held out of training.
    pub holdout_fraction: Option<f64>,
    /// The source's lifetime ledger (a JSON file).
    pub ledger: Option<String>,
    /// Largest epsilon all runs on the source may spend together.
    pub lifetime_epsilon: Option<f64>,
}

/// `[training]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTraining {
    /// Expected passes over the train split.
    pub epochs: Option<f64>,
    /// Expected Poisson batch size.
    pub batch_size: Option<u64>,
    /// Generator hidden widths.
    pub generator: Option<Vec<u64>>,
    /// Discriminator hidden widths.
    pub discriminator: Option<Vec<u64>>,
    /// Adam learning rate.
    pub learning_rate: Option<f64>,
    /// Discriminator steps per generator step.
    pub discriminator_steps: Option<u64>,
    /// Generator input width.
    pub latent_dim: Option<u64>,
    /// "quantile" or "minmax": the encoder of numeric columns without public bounds.
    pub continuous_encoding: Option<String>,
    /// "auto", "cpu" or "cuda:N".
    pub device: Option<String>,
    /// Seed of initialisation, split and output sampling.
    pub seed: Option<u64>,
    /// Discriminator steps between checkpoints (0: only at the end and on a signal).
    pub checkpoint_every: Option<u64>,
}

/// `[output]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutput {
    /// Rows to generate.
    pub rows: Option<u64>,
    /// Release location.
    pub url: Option<String>,
    /// Staging location.
    pub staging_url: Option<String>,
    /// Whether generation calibrates the generator to the DP one-way marginals.
    pub calibrate: Option<bool>,
}

/// One `[[check]]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    /// Name shown in the verdict.
    pub name: Option<String>,
    /// SQL returning one number.
    pub sql: Option<String>,
    /// Smallest passing value.
    pub min: Option<f64>,
    /// Largest passing value.
    pub max: Option<f64>,
}

/// `[attack]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAttacks {
    /// `[attack.linkage]`
    pub linkage: Option<RawLinkage>,
    /// `[attack.inference]`
    pub inference: Option<RawInference>,
    /// `[attack.singling_out]`
    pub singling_out: Option<RawSinglingOut>,
}

/// `[attack.inference]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawInference {
    /// Columns the attacker tries to infer.
    pub secret: Option<Vec<String>>,
    /// Columns the attacker knows (default: the linkage's known columns, else every other
    /// learned column).
    pub known: Option<Vec<String>>,
    /// A numeric guess is right within this share of the column's real range.
    pub tolerance: Option<f64>,
    /// Largest allowed risk.
    pub max_risk: Option<f64>,
}

/// `[attack.singling_out]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSinglingOut {
    /// Largest allowed risk.
    pub max_risk: Option<f64>,
}

/// `[attack.linkage]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawLinkage {
    /// Known columns with the half-width of the attacker's range on each.
    pub known: Option<BTreeMap<String, f64>>,
    /// Another column is revealed within this share of its real range.
    pub tolerance: Option<f64>,
    /// Largest allowed risk.
    pub max_risk: Option<f64>,
}

/// `[gate]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawGate {
    /// Largest allowed exact-copy risk.
    pub exact_copies_max_risk: Option<f64>,
    /// Largest allowed share of synthetic rows that copy a row unique in the real table.
    pub unique_copies_max_share: Option<f64>,
    /// Largest allowed distance-to-closest-record risk.
    pub closest_record_max_risk: Option<f64>,
    /// Smallest allowed mean column-shape score.
    pub column_shapes_min: Option<f64>,
    /// Smallest allowed mean pair-trend score.
    pub pair_trends_min: Option<f64>,
    /// Default largest mean relative error of a `[[query]]`.
    pub workload_max_error: Option<f64>,
    /// Largest allowed loss of ROC AUC, trained on synthetic against trained on real rows.
    pub utility_max_auc_loss: Option<f64>,
}
