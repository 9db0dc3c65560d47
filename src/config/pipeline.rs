//! The validated pipeline: every value present, in its domain, and every path resolved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ConfigError;
use super::raw::{RawKind, RawPipeline, RawSynthesize};
use crate::privacy::Accountant;
use crate::schema::NumericEncoding;
use crate::storage::Location;

/// A pipeline ready to plan.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Name of the pipeline.
    pub name: String,
    /// The pipeline file, for messages.
    pub file: PathBuf,
    /// The sensitive table.
    pub source: SourceSpec,
    /// Declared column metadata by name.
    pub columns: BTreeMap<String, ColumnSpec>,
    /// Budget and DP-SGD parameters.
    pub privacy: PrivacySpec,
    /// Model and optimisation.
    pub training: TrainingSpec,
    /// The synthetic table.
    pub output: OutputSpec,
    /// User SQL checks.
    pub checks: Vec<CheckSpec>,
    /// The linkage attack, when configured.
    pub linkage: Option<LinkageSpec>,
    /// The attribute inference attack, when configured.
    pub inference: Option<InferenceSpec>,
    /// The singling-out attack (always run).
    pub singling_out: SinglingOutSpec,
    /// Thresholds of the built-in checks.
    pub gate: GateSpec,
    /// Workload queries.
    pub queries: Vec<QuerySpec>,
    /// Machine-learning utility, when a target is named.
    pub utility: Option<UtilitySpec>,
    /// Where the internal HTML report goes.
    pub report: ReportSpec,
    /// SHA-256 of the resolved pipeline.
    pub config_hash: String,
}

/// `[source]`
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// Where the Parquet data is.
    pub location: Location,
    /// SQL name of the real rows.
    pub table: String,
}

/// Declared metadata of one column.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnSpec {
    /// Learned within public bounds `(low, high)`; values outside are clamped.
    Continuous {
        /// public bounds, when declared
        bounds: Option<(f64, f64)>,
    },
    /// Learned over a public list of values.
    Categorical {
        /// public categories, when declared
        categories: Option<Vec<String>>,
    },
    /// Never learned; replaced or left out.
    Identifier(IdentifierOutput),
    /// Left out of training and release.
    Drop,
}

/// What an identifier becomes in the release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentifierOutput {
    /// Made-up names.
    FakeName,
    /// Not released.
    Drop,
}

/// `[privacy]`
#[derive(Debug, Clone)]
pub struct PrivacySpec {
    /// Total epsilon.
    pub epsilon: f64,
    /// Delta.
    pub delta: f64,
    /// Clipping norm.
    pub max_grad_norm: f64,
    /// Share of epsilon for DP preprocessing.
    pub preprocessing_share: f64,
    /// Share of rows held out.
    pub holdout_fraction: f64,
    /// The source's lifetime ledger (a local file), charged before a run reads a row.
    pub ledger: Option<PathBuf>,
    /// Largest epsilon all runs recorded in the ledger may spend together.
    pub lifetime_epsilon: Option<f64>,
    /// The accountant of the ledger and of calibration.
    pub accountant: Accountant,
}

/// `[training]`
#[derive(Debug, Clone)]
pub struct TrainingSpec {
    /// Expected passes over the train split.
    pub epochs: f64,
    /// Expected Poisson batch size.
    pub batch_size: usize,
    /// Generator hidden widths.
    pub generator: Vec<usize>,
    /// Discriminator hidden widths.
    pub discriminator: Vec<usize>,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Discriminator steps per generator step.
    pub discriminator_steps: usize,
    /// Generator noise width.
    pub latent_dim: usize,
    /// Encoder of numeric columns whose bounds come from DP preprocessing.
    pub continuous_encoding: NumericEncoding,
    /// Requested device.
    pub device: String,
    /// Seed of initialisation, split and sampling.
    pub seed: u64,
    /// Discriminator steps between checkpoints; 0 saves only at the end and on a signal.
    pub checkpoint_every: u64,
}

/// `[output]`
#[derive(Debug, Clone)]
pub struct OutputSpec {
    /// Rows to generate.
    pub rows: usize,
    /// Release location.
    pub location: Location,
    /// Staging folder (local).
    pub staging: PathBuf,
    /// Calibrate generated columns to the DP one-way marginals of the preprocessing.
    pub calibrate: bool,
}

/// One user SQL check.
#[derive(Debug, Clone)]
pub struct CheckSpec {
    /// Name.
    pub name: String,
    /// SQL returning one number.
    pub sql: String,
    /// Smallest passing value.
    pub min: Option<f64>,
    /// Largest passing value.
    pub max: Option<f64>,
}

/// `[attack.linkage]`
#[derive(Debug, Clone)]
pub struct LinkageSpec {
    /// Known column and the half-width of the range the attacker searches.
    pub known: Vec<(String, f64)>,
    /// Share of a column's real range within which a matched row reveals a number.
    pub tolerance: f64,
    /// Largest allowed risk.
    pub max_risk: f64,
}

/// `[attack.inference]`
#[derive(Debug, Clone)]
pub struct InferenceSpec {
    /// Columns the attacker infers, each on its own.
    pub secrets: Vec<String>,
    /// Columns the attacker knows; `None`: the linkage's known columns, else every other
    /// learned column.
    pub known: Option<Vec<String>>,
    /// Share of a column's real range within which a numeric guess is right.
    pub tolerance: f64,
    /// Largest allowed risk.
    pub max_risk: f64,
}

/// `[attack.singling_out]`
#[derive(Debug, Clone)]
pub struct SinglingOutSpec {
    /// Largest allowed risk.
    pub max_risk: f64,
}

/// `[gate]`
#[derive(Debug, Clone)]
pub struct GateSpec {
    /// Largest allowed exact-copy risk.
    pub exact_copies_max_risk: f64,
    /// Largest allowed share of synthetic rows equal to a row unique in the real table.
    pub unique_copies_max_share: f64,
    /// Largest allowed distance-to-closest-record risk.
    pub closest_record_max_risk: f64,
    /// Smallest allowed mean column-shape score, in [0, 1].
    pub column_shapes_min: f64,
    /// Smallest allowed mean pair-trend score, in [0, 1].
    pub pair_trends_min: f64,
    /// Largest allowed loss of ROC AUC (trained on real minus trained on synthetic rows).
    pub utility_max_auc_loss: f64,
}

/// One `[[query]]`: `SELECT group_by, aggregate FROM t WHERE filter GROUP BY group_by` on the
/// real and on the synthetic rows.
#[derive(Debug, Clone)]
pub struct QuerySpec {
    /// Name.
    pub name: String,
    /// Columns grouped by.
    pub group_by: Vec<String>,
    /// SQL aggregate expression.
    pub aggregate: String,
    /// SQL condition on rows, if any.
    pub filter: Option<String>,
    /// Largest allowed mean relative error over groups with enough real rows.
    pub max_error: f64,
}

/// `[utility]`
#[derive(Debug, Clone)]
pub struct UtilitySpec {
    /// The categorical column a model learns to predict.
    pub target: String,
}

/// `[report]`
#[derive(Debug, Clone)]
pub struct ReportSpec {
    /// Folder under which `<run id>/report.html` goes; `None`: the run's staging folder.
    pub location: Option<PathBuf>,
    /// Whether the pipeline allows the report under `output.url`.
    pub public: bool,
}

/// Tables the checks and attacks register themselves; the source cannot take their names.
pub const RESERVED_TABLES: [&str; 6] = [
    "real",
    "holdout",
    "synthetic",
    "baseline",
    "exposed_train",
    "exposed_holdout",
];

struct Context<'a> {
    file: &'a Path,
}

impl Context<'_> {
    fn missing(&self, key: &str) -> ConfigError {
        ConfigError::Missing {
            path: self.file.to_owned(),
            key: key.to_owned(),
        }
    }

    fn invalid(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.file.to_owned(),
            key: key.to_owned(),
            reason: reason.into(),
        }
    }

    fn fraction(&self, key: &str, value: Option<f64>, open_low: bool) -> Result<f64, ConfigError> {
        let value = value.ok_or_else(|| self.missing(key))?;
        let ok = if open_low {
            value > 0.0 && value < 1.0
        } else {
            (0.0..1.0).contains(&value)
        };
        if !ok {
            return Err(self.invalid(key, format!("{value} is not a fraction in [0, 1)")));
        }
        Ok(value)
    }

    fn positive(&self, key: &str, value: Option<f64>) -> Result<f64, ConfigError> {
        let value = value.ok_or_else(|| self.missing(key))?;
        if !(value > 0.0 && value.is_finite()) {
            return Err(self.invalid(key, format!("{value} is not a positive number")));
        }
        Ok(value)
    }

    fn score(&self, key: &str, value: Option<f64>) -> Result<f64, ConfigError> {
        let value = value.ok_or_else(|| self.missing(key))?;
        if !(0.0..=1.0).contains(&value) {
            return Err(self.invalid(key, format!("{value} is not a score in [0, 1]")));
        }
        Ok(value)
    }

    fn count(&self, key: &str, value: Option<u64>) -> Result<usize, ConfigError> {
        let value = value.ok_or_else(|| self.missing(key))?;
        if value == 0 {
            return Err(self.invalid(key, "must be at least 1"));
        }
        usize::try_from(value).map_err(|_| self.invalid(key, "too large"))
    }

    fn widths(&self, key: &str, value: Option<Vec<u64>>) -> Result<Vec<usize>, ConfigError> {
        let value = value.ok_or_else(|| self.missing(key))?;
        if value.is_empty() || value.iter().any(|&w| w == 0 || w > 65_536) {
            return Err(self.invalid(key, "expected a non-empty list of widths from 1 to 65536"));
        }
        Ok(value.into_iter().map(|w| w as usize).collect())
    }

    fn location(
        &self,
        key: &str,
        value: Option<String>,
        base: &Path,
    ) -> Result<Location, ConfigError> {
        let value = value.ok_or_else(|| self.missing(key))?;
        Location::parse(&value, base).map_err(|error| self.invalid(key, error.to_string()))
    }

    /// A location that must be on the local file system (`why` says why, for the error).
    fn local_path(
        &self,
        key: &str,
        value: Option<String>,
        base: &Path,
        why: &str,
    ) -> Result<PathBuf, ConfigError> {
        match self.location(key, value, base)? {
            Location::Local(path) => Ok(path),
            Location::Remote(url) => Err(self.invalid(
                key,
                format!(
                    "{}:// is not supported yet here: {why}; use a local path",
                    url.scheme()
                ),
            )),
        }
    }
}

/// Checks every value of the merged pipeline and resolves its paths against `base_dir`.
pub(super) fn validate(
    raw: RawPipeline,
    file: &Path,
    base_dir: &Path,
    config_hash: String,
) -> Result<Pipeline, ConfigError> {
    let cx = Context { file };

    let name = raw.name.ok_or_else(|| cx.missing("name"))?;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(cx.invalid("name", "use letters, digits, '-', '_' and '.'"));
    }

    let source = raw.source.unwrap_or_default();
    let source = SourceSpec {
        location: cx.location("source.url", source.url, base_dir)?,
        table: source.table.unwrap_or_else(|| "source".to_owned()),
    };
    if !is_sql_identifier(&source.table) || RESERVED_TABLES.contains(&source.table.as_str()) {
        return Err(cx.invalid(
            "source.table",
            format!(
                "expected a lowercase SQL name other than {}",
                RESERVED_TABLES.join(", ")
            ),
        ));
    }

    let mut columns = BTreeMap::new();
    for (column, spec) in raw.columns {
        columns.insert(column.clone(), column_spec(&cx, &column, spec)?);
    }

    let privacy = raw.privacy.unwrap_or_default();
    let accountant = privacy
        .accountant
        .as_deref()
        .unwrap_or("pld")
        .parse::<Accountant>()
        .map_err(|reason| cx.invalid("privacy.accountant", reason))?;
    let privacy = PrivacySpec {
        epsilon: cx.positive("privacy.epsilon", privacy.epsilon)?,
        delta: cx.fraction("privacy.delta", privacy.delta, true)?,
        max_grad_norm: cx.positive("privacy.max_grad_norm", privacy.max_grad_norm)?,
        preprocessing_share: cx.fraction(
            "privacy.preprocessing_share",
            privacy.preprocessing_share,
            false,
        )?,
        holdout_fraction: cx.fraction(
            "privacy.holdout_fraction",
            privacy.holdout_fraction,
            true,
        )?,
        accountant,
        ledger: match privacy.ledger {
            None => None,
            Some(url) => Some(cx.local_path(
                "privacy.ledger",
                Some(url),
                base_dir,
                "the ledger is updated under a lock, which object stores do not offer here",
            )?),
        },
        lifetime_epsilon: match privacy.lifetime_epsilon {
            None => None,
            Some(value) => Some(cx.positive("privacy.lifetime_epsilon", Some(value))?),
        },
    };
    if privacy.lifetime_epsilon.is_some() && privacy.ledger.is_none() {
        return Err(cx.invalid(
            "privacy.lifetime_epsilon",
            "a lifetime budget needs privacy.ledger, the file that records the source's runs",
        ));
    }
    if let Some(lifetime) = privacy.lifetime_epsilon
        && lifetime < privacy.epsilon
    {
        return Err(cx.invalid(
            "privacy.lifetime_epsilon",
            format!(
                "{lifetime} is below this run's privacy.epsilon {}",
                privacy.epsilon
            ),
        ));
    }

    let training = raw.training.unwrap_or_default();
    let device = training.device.unwrap_or_else(|| "auto".to_owned());
    if !(device == "auto"
        || device == "cpu"
        || device
            .strip_prefix("cuda:")
            .is_some_and(|n| n.parse::<usize>().is_ok()))
    {
        return Err(cx.invalid(
            "training.device",
            format!("`{device}`: expected auto, cpu or cuda:N"),
        ));
    }
    let learning_rate = cx.positive("training.learning_rate", training.learning_rate)?;
    let continuous_encoding = match training.continuous_encoding.as_deref() {
        Some("quantile") => NumericEncoding::Quantile,
        Some("minmax") => NumericEncoding::MinMax,
        Some(other) => {
            return Err(cx.invalid(
                "training.continuous_encoding",
                format!("`{other}`: expected \"quantile\" or \"minmax\""),
            ));
        }
        None => return Err(cx.missing("training.continuous_encoding")),
    };
    let training = TrainingSpec {
        epochs: cx.positive("training.epochs", training.epochs)?,
        batch_size: cx.count("training.batch_size", training.batch_size)?,
        generator: cx.widths("training.generator", training.generator)?,
        discriminator: cx.widths("training.discriminator", training.discriminator)?,
        learning_rate,
        discriminator_steps: cx
            .count("training.discriminator_steps", training.discriminator_steps)?,
        latent_dim: cx.count("training.latent_dim", training.latent_dim)?,
        continuous_encoding,
        device,
        seed: training.seed.ok_or_else(|| cx.missing("training.seed"))?,
        checkpoint_every: training
            .checkpoint_every
            .ok_or_else(|| cx.missing("training.checkpoint_every"))?,
    };

    let output = raw.output.unwrap_or_default();
    let output = OutputSpec {
        rows: cx.count("output.rows", output.rows)?,
        location: cx.location("output.url", output.url, base_dir)?,
        staging: cx.local_path(
            "output.staging_url",
            output.staging_url,
            base_dir,
            "staging holds the unreleased table and the checkpoints",
        )?,
        calibrate: output
            .calibrate
            .ok_or_else(|| cx.missing("output.calibrate"))?,
    };
    if let Location::Remote(url) = &output.location
        && !url.is_writable()
    {
        return Err(cx.invalid(
            "output.url",
            crate::storage::StorageError::ReadOnly {
                url: url.to_string(),
            }
            .to_string(),
        ));
    }
    if Location::Local(output.staging.clone()).is_inside(&output.location) {
        return Err(cx.invalid(
            "output.staging_url",
            "the staging location must not be inside output.url, which may be public",
        ));
    }

    let checks = raw
        .check
        .into_iter()
        .enumerate()
        .map(|(index, check)| {
            let key = |field: &str| format!("check[{index}].{field}");
            let name = check.name.ok_or_else(|| cx.missing(&key("name")))?;
            let sql = check.sql.ok_or_else(|| cx.missing(&key("sql")))?;
            if check.min.is_none() && check.max.is_none() {
                return Err(cx.invalid(&key("min"), "a check needs `min`, `max` or both"));
            }
            Ok(CheckSpec {
                name,
                sql,
                min: check.min,
                max: check.max,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;

    let attacks = raw.attack.unwrap_or_default();
    let linkage = match attacks.linkage {
        None => None,
        Some(linkage) => {
            let known = linkage
                .known
                .ok_or_else(|| cx.missing("attack.linkage.known"))?;
            if known.is_empty() {
                return Err(cx.invalid("attack.linkage.known", "name at least one column"));
            }
            for (column, width) in &known {
                if !(*width > 0.0 && width.is_finite()) {
                    return Err(cx.invalid(
                        &format!("attack.linkage.known.{column}"),
                        "the range half-width must be positive",
                    ));
                }
            }
            let max_risk = cx.fraction(
                "attack.linkage.max_risk",
                linkage.max_risk.or(Some(0.05)),
                false,
            )?;
            Some(LinkageSpec {
                known: known.into_iter().collect(),
                tolerance: cx.fraction(
                    "attack.linkage.tolerance",
                    linkage.tolerance.or(Some(0.05)),
                    true,
                )?,
                max_risk,
            })
        }
    };
    let inference = match attacks.inference {
        None => None,
        Some(inference) => {
            let secrets = inference
                .secret
                .ok_or_else(|| cx.missing("attack.inference.secret"))?;
            if secrets.is_empty() {
                return Err(cx.invalid("attack.inference.secret", "name at least one column"));
            }
            if let Some(known) = &inference.known {
                if known.is_empty() {
                    return Err(cx.invalid("attack.inference.known", "name at least one column"));
                }
                if let Some(both) = secrets.iter().find(|s| known.contains(s)) {
                    return Err(cx.invalid(
                        "attack.inference.known",
                        format!("`{both}` is also a secret; the attacker cannot know it"),
                    ));
                }
            }
            Some(InferenceSpec {
                secrets,
                known: inference.known,
                tolerance: cx.fraction(
                    "attack.inference.tolerance",
                    inference.tolerance.or(Some(0.05)),
                    true,
                )?,
                max_risk: cx.fraction(
                    "attack.inference.max_risk",
                    inference.max_risk.or(Some(0.05)),
                    false,
                )?,
            })
        }
    };
    let singling_out = attacks.singling_out.unwrap_or_default();
    let singling_out = SinglingOutSpec {
        max_risk: cx.fraction("attack.singling_out.max_risk", singling_out.max_risk, false)?,
    };

    let gate = raw.gate.unwrap_or_default();
    let workload_max_error = cx.positive("gate.workload_max_error", gate.workload_max_error)?;
    let gate = GateSpec {
        exact_copies_max_risk: cx.fraction(
            "gate.exact_copies_max_risk",
            gate.exact_copies_max_risk,
            false,
        )?,
        unique_copies_max_share: cx.fraction(
            "gate.unique_copies_max_share",
            gate.unique_copies_max_share,
            false,
        )?,
        closest_record_max_risk: cx.fraction(
            "gate.closest_record_max_risk",
            gate.closest_record_max_risk,
            false,
        )?,
        column_shapes_min: cx.score("gate.column_shapes_min", gate.column_shapes_min)?,
        pair_trends_min: cx.score("gate.pair_trends_min", gate.pair_trends_min)?,
        utility_max_auc_loss: cx.score("gate.utility_max_auc_loss", gate.utility_max_auc_loss)?,
    };
    let queries = raw
        .query
        .into_iter()
        .enumerate()
        .map(|(index, query)| query_spec(&cx, index, query, workload_max_error))
        .collect::<Result<Vec<_>, _>>()?;
    let utility = match raw.utility {
        None => None,
        Some(utility) => Some(UtilitySpec {
            target: utility.target.ok_or_else(|| cx.missing("utility.target"))?,
        }),
    };
    let report = raw.report.unwrap_or_default();
    let report = ReportSpec {
        location: match report.url {
            None => None,
            Some(url) => Some(cx.local_path(
                "report.url",
                Some(url),
                base_dir,
                "the report is written to a local folder",
            )?),
        },
        public: report.public.unwrap_or(false),
    };
    if let Some(location) = &report.location
        && !report.public
        && Location::Local(location.clone()).is_inside(&output.location)
    {
        return Err(cx.invalid(
            "report.url",
            "the report shows aggregates of real data and output.url may be public; \
             put it elsewhere, or set report.public = true if it may be published",
        ));
    }

    Ok(Pipeline {
        name,
        file: file.to_owned(),
        source,
        columns,
        privacy,
        training,
        output,
        checks,
        linkage,
        inference,
        singling_out,
        gate,
        queries,
        utility,
        report,
        config_hash,
    })
}

fn query_spec(
    cx: &Context<'_>,
    index: usize,
    query: super::raw::RawQuery,
    default_max_error: f64,
) -> Result<QuerySpec, ConfigError> {
    let key = |field: &str| format!("query[{index}].{field}");
    let name = query.name.ok_or_else(|| cx.missing(&key("name")))?;
    let group_by = query.group_by.ok_or_else(|| cx.missing(&key("group_by")))?;
    if group_by.is_empty() {
        return Err(cx.invalid(&key("group_by"), "name at least one column"));
    }
    let aggregate = query
        .aggregate
        .ok_or_else(|| cx.missing(&key("aggregate")))?;
    if aggregate.trim().is_empty() {
        return Err(cx.invalid(
            &key("aggregate"),
            "expected an SQL aggregate such as avg(age)",
        ));
    }
    let max_error = cx.positive(
        &key("max_error"),
        query.max_error.or(Some(default_max_error)),
    )?;
    Ok(QuerySpec {
        name,
        group_by,
        aggregate,
        filter: query.filter,
        max_error,
    })
}

fn column_spec(
    cx: &Context<'_>,
    column: &str,
    spec: super::raw::RawColumn,
) -> Result<ColumnSpec, ConfigError> {
    let key = |field: &str| format!("columns.{column}.{field}");
    let refuse_field = |present: bool, field: &str, kind: &str| {
        if present {
            Err(cx.invalid(
                &key(field),
                format!("`{field}` does not apply to kind \"{kind}\""),
            ))
        } else {
            Ok(())
        }
    };
    match spec.kind {
        RawKind::Continuous => {
            refuse_field(spec.categories.is_some(), "categories", "continuous")?;
            refuse_field(spec.synthesize.is_some(), "synthesize", "continuous")?;
            let bounds = match spec.bounds {
                None => None,
                Some(bounds) => match bounds.as_slice() {
                    [low, high] if low.is_finite() && high.is_finite() && low < high => {
                        Some((*low, *high))
                    }
                    _ => {
                        return Err(
                            cx.invalid(&key("bounds"), "expected [low, high] with low < high")
                        );
                    }
                },
            };
            Ok(ColumnSpec::Continuous { bounds })
        }
        RawKind::Categorical => {
            refuse_field(spec.bounds.is_some(), "bounds", "categorical")?;
            refuse_field(spec.synthesize.is_some(), "synthesize", "categorical")?;
            if let Some(categories) = &spec.categories {
                let mut seen = std::collections::BTreeSet::new();
                if categories.is_empty() || !categories.iter().all(|c| seen.insert(c)) {
                    return Err(cx.invalid(
                        &key("categories"),
                        "expected a non-empty list without repeats",
                    ));
                }
            }
            Ok(ColumnSpec::Categorical {
                categories: spec.categories,
            })
        }
        RawKind::Identifier => {
            refuse_field(spec.bounds.is_some(), "bounds", "identifier")?;
            refuse_field(spec.categories.is_some(), "categories", "identifier")?;
            Ok(ColumnSpec::Identifier(match spec.synthesize {
                Some(RawSynthesize::FakeName) => IdentifierOutput::FakeName,
                Some(RawSynthesize::Drop) | None => IdentifierOutput::Drop,
            }))
        }
        RawKind::Drop => {
            refuse_field(spec.bounds.is_some(), "bounds", "drop")?;
            refuse_field(spec.categories.is_some(), "categories", "drop")?;
            refuse_field(spec.synthesize.is_some(), "synthesize", "drop")?;
            Ok(ColumnSpec::Drop)
        }
    }
}

fn is_sql_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
