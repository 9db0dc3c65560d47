//! The lifetime budget of a source: `privacy.ledger`, a JSON file shared by every pipeline that
//! reads the source, records each run's planned epsilon and delta; a run that would take the
//! total past `privacy.lifetime_epsilon` is refused before it reads a row.
//!
//! Guarantees: a run is charged its whole planned budget (which it never exceeds) before it
//! reads a row, so an interrupted or failed run's spending is never forgotten; each start of a
//! run is charged again, since it trains again; the file is replaced atomically (written beside
//! it, synced, renamed) under an exclusive lock file, so concurrent runs cannot both spend the
//! last of the budget. Runs compose by basic composition (epsilons and deltas add: Dwork and
//! Roth 2014, theorem 3.16), an upper bound whatever the mechanisms.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Errors of the lifetime ledger. Refusals and a foreign or unreadable file mean exit 2.
#[derive(Debug, thiserror::Error)]
pub enum LifetimeError {
    /// The run would take the source past its lifetime epsilon.
    #[error(
        "privacy.lifetime_epsilon: the source has spent epsilon {spent} over {runs} runs \
         (ledger {}); this run's {requested} would make {total}, past the lifetime {lifetime}; \
         nothing was read",
        path.display()
    )]
    Exhausted {
        /// the ledger file
        path: PathBuf,
        /// epsilon already spent
        spent: f64,
        /// runs recorded
        runs: usize,
        /// this run's epsilon
        requested: f64,
        /// spent + requested
        total: f64,
        /// the limit
        lifetime: f64,
    },
    /// The ledger records another source.
    #[error(
        "privacy.ledger {}: it records the budget of source `{recorded}`, not of this pipeline's \
         source `{source_url}`",
        path.display()
    )]
    OtherSource {
        /// the ledger file
        path: PathBuf,
        /// the source it records
        recorded: String,
        /// this pipeline's source
        source_url: String,
    },
    /// The file is not a ledger.
    #[error("privacy.ledger {}: not a synthgate ledger ({reason})", path.display())]
    Unreadable {
        /// the ledger file
        path: PathBuf,
        /// what is wrong
        reason: String,
    },
    /// Another run holds the ledger's lock.
    #[error(
        "privacy.ledger {}: another run is updating it (lock {}); remove the lock file if no \
         run is active",
        path.display(),
        lock.display()
    )]
    Locked {
        /// the ledger file
        path: PathBuf,
        /// the lock file
        lock: PathBuf,
    },
    /// Reading or writing the file failed (exit 1).
    #[error("privacy.ledger {}: I/O error", path.display())]
    Io {
        /// the ledger file
        path: PathBuf,
        /// the cause
        #[source]
        source: std::io::Error,
    },
}

impl LifetimeError {
    /// Whether the pipeline or the ledger is at fault (exit 2) rather than the run (exit 1).
    pub fn is_input_error(&self) -> bool {
        !matches!(self, LifetimeError::Io { .. })
    }
}

/// One start of a run, as the ledger records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LifetimeEntry {
    /// the run id
    pub run_id: String,
    /// the pipeline's name
    pub pipeline: String,
    /// when it was charged, RFC 3339
    pub charged_at: String,
    /// its planned (and largest possible) epsilon
    pub epsilon: f64,
    /// its delta
    pub delta: f64,
}

/// The ledger file's content.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LifetimeLedger {
    /// the source whose budget it records, as the pipelines resolve it
    pub source: String,
    /// every charged start, oldest first
    pub runs: Vec<LifetimeEntry>,
}

impl LifetimeLedger {
    /// Epsilon spent by every recorded run.
    pub fn epsilon(&self) -> f64 {
        self.runs.iter().map(|r| r.epsilon).sum()
    }

    /// Delta spent by every recorded run.
    pub fn delta(&self) -> f64 {
        self.runs.iter().map(|r| r.delta).sum()
    }
}

/// Removes the lock file when dropped.
struct Lock(PathBuf);

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> LifetimeError + '_ {
    move |source| LifetimeError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Reads the ledger at `path` (a missing file is an empty ledger of `source`).
pub fn read(path: &Path, source: &str) -> Result<LifetimeLedger, LifetimeError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(LifetimeLedger {
                source: source.to_owned(),
                runs: Vec::new(),
            });
        }
        Err(e) => return Err(io_error(path)(e)),
    };
    let ledger: LifetimeLedger =
        serde_json::from_slice(&bytes).map_err(|e| LifetimeError::Unreadable {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if ledger.source != source {
        return Err(LifetimeError::OtherSource {
            path: path.to_owned(),
            recorded: ledger.source,
            source_url: source.to_owned(),
        });
    }
    if ledger
        .runs
        .iter()
        .any(|r| !(r.epsilon >= 0.0 && r.epsilon.is_finite()))
    {
        return Err(LifetimeError::Unreadable {
            path: path.to_owned(),
            reason: "a run's epsilon is not a non-negative number".to_owned(),
        });
    }
    Ok(ledger)
}

/// Charges `entry` to the ledger at `path` for `source`, unless the total would pass
/// `lifetime` (then nothing changes). Returns the ledger as written.
pub fn charge(
    path: &Path,
    source: &str,
    entry: LifetimeEntry,
    lifetime: Option<f64>,
) -> Result<LifetimeLedger, LifetimeError> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder).map_err(io_error(path))?;
    }
    let lock_path = path.with_extension("lock");
    let _lock = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&lock_path)
    {
        Ok(_) => Lock(lock_path),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(LifetimeError::Locked {
                path: path.to_owned(),
                lock: lock_path,
            });
        }
        Err(e) => return Err(io_error(path)(e)),
    };
    let mut ledger = read(path, source)?;
    let spent = ledger.epsilon();
    let total = spent + entry.epsilon;
    if let Some(lifetime) = lifetime
        && total > lifetime * (1.0 + 1e-12)
    {
        return Err(LifetimeError::Exhausted {
            path: path.to_owned(),
            spent,
            runs: ledger.runs.len(),
            requested: entry.epsilon,
            total,
            lifetime,
        });
    }
    ledger.runs.push(entry);
    let bytes = serde_json::to_vec_pretty(&ledger).map_err(|e| LifetimeError::Unreadable {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let temporary = path.with_extension("json.partial");
    let mut file = std::fs::File::create(&temporary).map_err(io_error(path))?;
    file.write_all(&bytes).map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))?;
    std::fs::rename(&temporary, path).map_err(io_error(path))?;
    Ok(ledger)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(run_id: &str, epsilon: f64) -> LifetimeEntry {
        LifetimeEntry {
            run_id: run_id.to_owned(),
            pipeline: "p".to_owned(),
            charged_at: "2026-12-04T00:00:00Z".to_owned(),
            epsilon,
            delta: 1e-6,
        }
    }

    #[test]
    fn runs_add_up_until_the_lifetime_and_a_refusal_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("budget/ledger.json");
        charge(&path, "s", entry("a", 1.0), Some(2.5)).unwrap();
        let ledger = charge(&path, "s", entry("b", 1.0), Some(2.5)).unwrap();
        assert_eq!((ledger.epsilon(), ledger.delta()), (2.0, 2e-6));
        let before = std::fs::read(&path).unwrap();
        let error = charge(&path, "s", entry("c", 1.0), Some(2.5)).unwrap_err();
        assert!(
            matches!(
                error,
                LifetimeError::Exhausted {
                    total: 3.0,
                    runs: 2,
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert!(!path.with_extension("lock").exists(), "the lock stayed");
        // without a limit the ledger only records
        assert_eq!(
            charge(&path, "s", entry("c", 1.0), None)
                .unwrap()
                .runs
                .len(),
            3
        );
    }

    #[test]
    fn a_ledger_of_another_source_or_held_by_another_run_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        charge(&path, "s", entry("a", 1.0), None).unwrap();
        assert!(matches!(
            read(&path, "t"),
            Err(LifetimeError::OtherSource { .. })
        ));
        std::fs::write(path.with_extension("lock"), b"").unwrap();
        assert!(matches!(
            charge(&path, "s", entry("b", 1.0), None),
            Err(LifetimeError::Locked { .. })
        ));
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(
            read(&path, "s"),
            Err(LifetimeError::Unreadable { .. })
        ));
    }
}
