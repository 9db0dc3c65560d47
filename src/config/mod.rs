//! The pipeline file: read, merged with the defaults and `--set` overrides, validated.
//!
//! Guarantees: an unknown key is refused with its line; every relative path is resolved against
//! the pipeline file's folder, so a run does not depend on the working directory; nothing
//! downstream reads the raw TOML, only the validated [`Pipeline`].

mod expand;
mod pipeline;
pub mod raw;

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

pub use pipeline::{
    CheckSpec, ColumnSpec, GateSpec, IdentifierOutput, InferenceSpec, LinkageSpec, OutputSpec,
    Pipeline, PrivacySpec, QuerySpec, ReportSpec, SinglingOutSpec, SourceSpec, TrainingSpec,
    UtilitySpec,
};

/// The defaults every pipeline inherits (`config/defaults.toml`).
pub const DEFAULTS_TOML: &str = include_str!("../../config/defaults.toml");

/// Errors of reading and validating a pipeline file. All of them mean exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read pipeline file {path}")]
    Read {
        /// the pipeline file
        path: PathBuf,
        /// the I/O error
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has keys the pipeline schema does not know.
    #[error("invalid pipeline file {path}")]
    Parse {
        /// the pipeline file
        path: PathBuf,
        /// the TOML error, with line and column
        #[source]
        source: toml::de::Error,
    },
    /// A `--set` override could not be applied.
    #[error("invalid override --set {assignment}: {reason}")]
    Override {
        /// the KEY=VALUE text
        assignment: String,
        /// what is wrong with it
        reason: String,
    },
    /// The pipeline after overrides does not fit the schema.
    #[error("invalid pipeline {path} after --set overrides")]
    AfterOverrides {
        /// the pipeline file
        path: PathBuf,
        /// the deserialisation error, naming the key
        #[source]
        source: toml::de::Error,
    },
    /// A required key has no value.
    #[error("{path}: missing key `{key}`")]
    Missing {
        /// the pipeline file
        path: PathBuf,
        /// the dotted key
        key: String,
    },
    /// A key has a value outside its domain.
    #[error("{path}: invalid `{key}`: {reason}")]
    Invalid {
        /// the pipeline file
        path: PathBuf,
        /// the dotted key
        key: String,
        /// what is wrong
        reason: String,
    },
}

/// Reads `path`, applies `overrides` (`KEY=VALUE` with a dotted key), merges the defaults and
/// validates the result.
pub fn load(path: &Path, overrides: &[String]) -> Result<Pipeline, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;

    // First pass on the user's text alone, so that errors carry the user's line numbers.
    toml::from_str::<raw::RawPipeline>(&text).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source,
    })?;
    let mut table: toml::Table = toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source,
    })?;

    for assignment in overrides {
        apply_override(&mut table, assignment)?;
    }
    let mut merged: toml::Table =
        toml::from_str(DEFAULTS_TOML).map_err(|source| ConfigError::Parse {
            path: PathBuf::from("config/defaults.toml"),
            source,
        })?;
    merge_into(&mut merged, table);
    let mut merged_value = toml::Value::Table(merged);
    let environment = |name: &str| std::env::var(name).ok();
    expand::expand_value(&mut merged_value, "", &environment).map_err(|(key, error)| {
        ConfigError::Invalid {
            path: path.to_owned(),
            key,
            reason: match error {
                expand::ExpandError::Unset(name) => {
                    format!("environment variable `{name}` is not set")
                }
                expand::ExpandError::Malformed => {
                    "`${` starts a variable: write ${NAME} with letters, digits and _, or $${ \
                     for a literal ${"
                        .to_owned()
                }
            },
        }
    })?;
    let toml::Value::Table(merged) = merged_value else {
        return Err(ConfigError::Invalid {
            path: path.to_owned(),
            key: String::new(),
            reason: "the pipeline is not a table".to_owned(),
        });
    };

    let raw =
        raw::RawPipeline::deserialize(toml::Value::Table(merged.clone())).map_err(|source| {
            ConfigError::AfterOverrides {
                path: path.to_owned(),
                source,
            }
        })?;
    let base_dir = path
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().map(Path::to_owned))
        .unwrap_or_else(|| PathBuf::from("."));
    let config_hash = hash_table(&merged);
    pipeline::validate(raw, path, &base_dir, config_hash)
}

/// Sets one dotted key. The value is read as a TOML value (`5`, `1e-3`, `"x"`, `[1, 2]`), and
/// as a plain string when it is not one, so `--set output.url=out/trial` needs no quotes.
fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<(), ConfigError> {
    let fail = |reason: &str| ConfigError::Override {
        assignment: assignment.to_owned(),
        reason: reason.to_owned(),
    };
    let (key, value_text) = assignment
        .split_once('=')
        .ok_or_else(|| fail("expected KEY=VALUE"))?;
    let parts: Vec<&str> = key.trim().split('.').collect();
    if parts.iter().any(|part| part.is_empty()) {
        return Err(fail("the key has an empty part"));
    }
    let value = match toml::from_str::<toml::Table>(&format!("v = {value_text}")) {
        Ok(mut parsed) => parsed
            .remove("v")
            .unwrap_or(toml::Value::String(value_text.to_owned())),
        Err(_) => toml::Value::String(value_text.to_owned()),
    };
    let (last, parents) = parts.split_last().ok_or_else(|| fail("empty key"))?;
    let mut current = table;
    for part in parents {
        let entry = current
            .entry((*part).to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| fail(&format!("`{part}` is not a table")))?;
    }
    current.insert((*last).to_owned(), value);
    Ok(())
}

/// Deep merge: tables merge key by key, anything else in `top` replaces what `base` has.
fn merge_into(base: &mut toml::Table, top: toml::Table) {
    for (key, value) in top {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(base_table)), toml::Value::Table(top_table)) => {
                merge_into(base_table, top_table)
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// SHA-256 of the resolved pipeline, in a canonical JSON form (keys sorted).
fn hash_table(table: &toml::Table) -> String {
    let canonical = serde_json::to_value(table).unwrap_or(serde_json::Value::Null);
    let mut hasher = Sha256::new();
    hasher.update(canonical.to_string().as_bytes());
    hex(&hasher.finalize())
}

/// Lowercase hexadecimal of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fit_the_schema() {
        let raw: raw::RawPipeline = toml::from_str(DEFAULTS_TOML).unwrap();
        assert!(raw.training.unwrap().epochs.is_some());
    }

    #[test]
    fn overrides_parse_values_and_fall_back_to_strings() {
        let mut table = toml::Table::new();
        apply_override(&mut table, "training.epochs=5").unwrap();
        apply_override(&mut table, "output.url=out/trial").unwrap();
        assert_eq!(table["training"]["epochs"].as_integer(), Some(5));
        assert_eq!(table["output"]["url"].as_str(), Some("out/trial"));
        assert!(apply_override(&mut table, "no-equals-sign").is_err());
        assert!(apply_override(&mut table, "training.epochs.deeper=1").is_err());
    }

    #[test]
    fn merge_keeps_defaults_the_pipeline_does_not_set() {
        let mut base: toml::Table = toml::from_str("[a]\nx = 1\ny = 2").unwrap();
        merge_into(&mut base, toml::from_str("[a]\ny = 3").unwrap());
        assert_eq!(base["a"]["x"].as_integer(), Some(1));
        assert_eq!(base["a"]["y"].as_integer(), Some(3));
    }
}
