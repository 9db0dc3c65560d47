//! Checkpoints of training in the run's staging folder, and resuming from them.
//!
//! Guarantees: a checkpoint records the ledger of exactly the steps its weights have seen, so a
//! resumed run charges each step once and ends with the epsilon of an uninterrupted run; its
//! tensors are written first and `checkpoint.json`, which names them with their SHA-256, last by
//! atomic rename, so a resume finds a whole checkpoint or the previous one; a checkpoint is not
//! resumed under a pipeline that changed since it was written. Checkpoints hold model weights and
//! DP metadata, never a row, and stay in staging.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::privacy::{LedgerEntry, PrivacyLedger};
use crate::schema::ColumnRole;

/// The checkpoint folder inside a run's staging folder.
pub const FOLDER: &str = "checkpoint";
const META: &str = "checkpoint.json";
const FORMAT: u32 = 1;

/// Errors of checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// `--resume` named a run without a checkpoint.
    #[error(
        "run {run_id} has no checkpoint at {}; it cannot be resumed (start it again without \
         --resume, under a new run id)",
        path.display()
    )]
    Missing {
        /// the run id
        run_id: String,
        /// where the checkpoint would be
        path: PathBuf,
    },
    /// A fresh run would overwrite a run's checkpoint.
    #[error(
        "run {run_id} has a checkpoint at {}; continue it with --resume {run_id}, or choose \
         another --run-id",
        path.display()
    )]
    Exists {
        /// the run id
        run_id: String,
        /// the checkpoint
        path: PathBuf,
    },
    /// The pipeline is not the one the checkpoint was trained under.
    #[error(
        "{}: the checkpoint of run {run_id} was written under another pipeline (config hash \
         {recorded}, now {current}); resume with the same pipeline file and --set overrides",
        path.display()
    )]
    Changed {
        /// the checkpoint
        path: PathBuf,
        /// the run id
        run_id: String,
        /// the hash it records
        recorded: String,
        /// the pipeline's hash now
        current: String,
    },
    /// The checkpoint's files are damaged or of another version.
    #[error("{}: unreadable checkpoint: {reason}", path.display())]
    Unreadable {
        /// the file
        path: PathBuf,
        /// what is wrong
        reason: String,
    },
    /// Reading or writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// the file
        path: PathBuf,
        /// the cause
        #[source]
        source: std::io::Error,
    },
}

impl CheckpointError {
    /// Whether the error is the user's to fix (exit 2) rather than a failed run (exit 1).
    pub fn is_input_error(&self) -> bool {
        !matches!(self, CheckpointError::Io { .. })
    }
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The position of the seeded generator (ChaCha20: seed, stream, word position).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RngState {
    /// the 32-byte seed, hexadecimal
    pub seed: String,
    /// the stream
    pub stream: u64,
    /// the word position, decimal (a u128)
    pub word_pos: String,
}

impl RngState {
    /// The state of `rng`.
    pub fn of(rng: &rand_chacha::ChaCha20Rng) -> Self {
        Self {
            seed: crate::config::hex(&rng.get_seed()),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    /// A generator at this state.
    pub fn restore(&self) -> Result<rand_chacha::ChaCha20Rng, String> {
        use rand::SeedableRng;
        let bytes: Vec<u8> = (0..self.seed.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(self.seed.get(i..i + 2).unwrap_or("x"), 16))
            .collect::<Result<_, _>>()
            .map_err(|_| "the generator seed is not hexadecimal".to_owned())?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "the generator seed is not 32 bytes".to_owned())?;
        let word_pos: u128 = self
            .word_pos
            .parse()
            .map_err(|_| "the generator position is not a number".to_owned())?;
        let mut rng = rand_chacha::ChaCha20Rng::from_seed(seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(word_pos);
        Ok(rng)
    }
}

/// What training needs to continue where it stopped.
#[derive(Debug, Clone)]
pub struct TrainingState {
    /// discriminator steps taken (and charged)
    pub steps_done: u64,
    /// generator updates taken
    pub generator_updates: u64,
    /// the trained generator's variables
    pub generator: Vec<Tensor>,
    /// the generator's weight average
    pub averaged: Vec<Tensor>,
    /// the discriminator's variables
    pub discriminator: Vec<Tensor>,
    /// the generator optimizer's updates and moments
    pub generator_optimizer: (u64, Vec<(Tensor, Tensor)>),
    /// the discriminator optimizer's updates and moments
    pub discriminator_optimizer: (u64, Vec<(Tensor, Tensor)>),
    /// the seeded generator of latent and Gumbel noise
    pub init_rng: RngState,
}

/// `checkpoint.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// the file format's version
    pub format: u32,
    /// the run
    pub run_id: String,
    /// the pipeline's config hash
    pub config_hash: String,
    /// discriminator steps taken
    pub steps_done: u64,
    /// generator updates taken
    pub generator_updates: u64,
    /// generator optimizer updates
    pub generator_optimizer_steps: u64,
    /// discriminator optimizer updates
    pub discriminator_optimizer_steps: u64,
    /// the seeded generator
    pub init_rng: RngState,
    /// the run's ledger at `steps_done`
    pub ledger: Vec<LedgerEntry>,
    /// the fitted codec's column roles, DP metadata included
    pub columns: Vec<ColumnRole>,
    /// the tensor file, in this folder
    pub tensors: String,
    /// its SHA-256
    pub tensors_sha256: String,
}

/// Where and how often a run checkpoints.
#[derive(Debug, Clone)]
pub struct Checkpointer {
    /// the checkpoint folder
    pub folder: PathBuf,
    /// steps between checkpoints
    pub every: u64,
    /// the run
    pub run_id: String,
    /// the pipeline's config hash
    pub config_hash: String,
    /// the codec's column roles
    pub columns: Vec<ColumnRole>,
}

fn push_tensors(
    named: &mut HashMap<String, Tensor>,
    prefix: &str,
    tensors: &[Tensor],
) -> candle_core::Result<()> {
    for (i, t) in tensors.iter().enumerate() {
        named.insert(format!("{prefix}.{i}"), t.copy()?);
    }
    Ok(())
}

fn push_moments(
    named: &mut HashMap<String, Tensor>,
    prefix: &str,
    moments: &[(Tensor, Tensor)],
) -> candle_core::Result<()> {
    for (i, (first, second)) in moments.iter().enumerate() {
        named.insert(format!("{prefix}.first.{i}"), first.copy()?);
        named.insert(format!("{prefix}.second.{i}"), second.copy()?);
    }
    Ok(())
}

impl Checkpointer {
    /// Whether a checkpoint is due after `step` of `steps`.
    pub fn due(&self, step: u64, steps: u64) -> bool {
        step == steps || (self.every > 0 && step.is_multiple_of(self.every))
    }

    /// Writes `state` with `ledger` (which must hold exactly the steps `state` has taken).
    pub fn save(&self, state: &TrainingState, ledger: &PrivacyLedger) -> Result<(), Error> {
        std::fs::create_dir_all(&self.folder).map_err(io_error(&self.folder))?;
        let mut named = HashMap::new();
        push_tensors(&mut named, "generator", &state.generator)?;
        push_tensors(&mut named, "averaged", &state.averaged)?;
        push_tensors(&mut named, "discriminator", &state.discriminator)?;
        push_moments(&mut named, "generator_adam", &state.generator_optimizer.1)?;
        push_moments(
            &mut named,
            "discriminator_adam",
            &state.discriminator_optimizer.1,
        )?;
        let tensors = format!("tensors-{:010}.safetensors", state.steps_done);
        let tensor_path = self.folder.join(&tensors);
        let partial = self.folder.join(format!(".{tensors}.partial"));
        candle_core::safetensors::save(&named, &partial)?;
        let bytes = std::fs::read(&partial).map_err(io_error(&partial))?;
        sync_file(&partial)?;
        std::fs::rename(&partial, &tensor_path).map_err(io_error(&tensor_path))?;

        let meta = CheckpointMeta {
            format: FORMAT,
            run_id: self.run_id.clone(),
            config_hash: self.config_hash.clone(),
            steps_done: state.steps_done,
            generator_updates: state.generator_updates,
            generator_optimizer_steps: state.generator_optimizer.0,
            discriminator_optimizer_steps: state.discriminator_optimizer.0,
            init_rng: state.init_rng.clone(),
            ledger: ledger.entries().to_vec(),
            columns: self.columns.clone(),
            tensors: tensors.clone(),
            tensors_sha256: crate::storage::sha256_hex(&bytes),
        };
        let json = serde_json::to_vec_pretty(&meta).map_err(|e| CheckpointError::Unreadable {
            path: self.folder.join(META),
            reason: e.to_string(),
        })?;
        let meta_path = self.folder.join(META);
        let partial = self.folder.join(format!(".{META}.partial"));
        let mut file = std::fs::File::create(&partial).map_err(io_error(&partial))?;
        file.write_all(&json).map_err(io_error(&partial))?;
        file.sync_all().map_err(io_error(&partial))?;
        std::fs::rename(&partial, &meta_path).map_err(io_error(&meta_path))?;
        sync_file(&self.folder)?;

        // Older tensor files are no longer named by checkpoint.json.
        for entry in std::fs::read_dir(&self.folder).map_err(io_error(&self.folder))? {
            let entry = entry.map_err(io_error(&self.folder))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with("tensors-") && name != tensors.as_str() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        tracing::info!(
            steps_done = state.steps_done,
            folder = %self.folder.display(),
            "checkpoint saved"
        );
        Ok(())
    }
}

fn sync_file(path: &Path) -> Result<(), CheckpointError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io_error(path))
}

/// The errors of saving and loading: the checkpoint's own, or a tensor operation's.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// the checkpoint's files
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// a tensor operation
    #[error("checkpoint tensors: {0}")]
    Tensor(#[from] candle_core::Error),
}

/// Whether `folder` holds a checkpoint.
pub fn exists(folder: &Path) -> bool {
    folder.join(META).exists()
}

/// Removes a finished run's checkpoint.
pub fn remove(folder: &Path) {
    if let Err(error) = std::fs::remove_dir_all(folder)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(folder = %folder.display(), %error, "cannot remove the checkpoint");
    }
}

/// Reads the checkpoint of `run_id` in `folder`, refusing it unless it was written under
/// `config_hash`.
pub fn load(
    folder: &Path,
    run_id: &str,
    config_hash: &str,
    device: &Device,
) -> Result<(CheckpointMeta, TrainingState), Error> {
    let meta_path = folder.join(META);
    let bytes = match std::fs::read(&meta_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CheckpointError::Missing {
                run_id: run_id.to_owned(),
                path: folder.to_owned(),
            }
            .into());
        }
        Err(e) => return Err(io_error(&meta_path)(e).into()),
    };
    let unreadable = |path: &Path, reason: String| CheckpointError::Unreadable {
        path: path.to_owned(),
        reason,
    };
    let meta: CheckpointMeta =
        serde_json::from_slice(&bytes).map_err(|e| unreadable(&meta_path, e.to_string()))?;
    if meta.format != FORMAT {
        return Err(unreadable(
            &meta_path,
            format!("format {} (this synthgate reads {FORMAT})", meta.format),
        )
        .into());
    }
    if meta.run_id != run_id {
        return Err(unreadable(&meta_path, format!("it belongs to run {}", meta.run_id)).into());
    }
    if meta.config_hash != config_hash {
        return Err(CheckpointError::Changed {
            path: meta_path,
            run_id: run_id.to_owned(),
            recorded: meta.config_hash,
            current: config_hash.to_owned(),
        }
        .into());
    }
    let tensor_path = folder.join(&meta.tensors);
    let tensor_bytes = std::fs::read(&tensor_path).map_err(io_error(&tensor_path))?;
    if crate::storage::sha256_hex(&tensor_bytes) != meta.tensors_sha256 {
        return Err(unreadable(
            &tensor_path,
            "its SHA-256 differs from checkpoint.json".into(),
        )
        .into());
    }
    let mut named = candle_core::safetensors::load_buffer(&tensor_bytes, device)?;
    let state = TrainingState {
        steps_done: meta.steps_done,
        generator_updates: meta.generator_updates,
        generator: take_list(&mut named, "generator"),
        averaged: take_list(&mut named, "averaged"),
        discriminator: take_list(&mut named, "discriminator"),
        generator_optimizer: (
            meta.generator_optimizer_steps,
            take_moments(&mut named, "generator_adam"),
        ),
        discriminator_optimizer: (
            meta.discriminator_optimizer_steps,
            take_moments(&mut named, "discriminator_adam"),
        ),
        init_rng: meta.init_rng.clone(),
    };
    if !named.is_empty() {
        return Err(unreadable(&tensor_path, "it holds tensors of another model".into()).into());
    }
    Ok((meta, state))
}

/// `prefix.0`, `prefix.1`, ... while they exist.
fn take_list(named: &mut HashMap<String, Tensor>, prefix: &str) -> Vec<Tensor> {
    (0..)
        .map_while(|i| named.remove(&format!("{prefix}.{i}")))
        .collect()
}

fn take_moments(named: &mut HashMap<String, Tensor>, prefix: &str) -> Vec<(Tensor, Tensor)> {
    let first = take_list(named, &format!("{prefix}.first"));
    let second = take_list(named, &format!("{prefix}.second"));
    first.into_iter().zip(second).collect()
}

#[cfg(test)]
mod tests {
    use rand::{RngCore, SeedableRng};

    use super::*;
    use crate::privacy::Accountant;

    fn tensor(values: &[f32]) -> Tensor {
        Tensor::new(values, &Device::Cpu).unwrap()
    }

    fn state(steps_done: u64) -> TrainingState {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        rng.set_stream(2);
        rng.next_u32();
        TrainingState {
            steps_done,
            generator_updates: steps_done / 5,
            generator: vec![tensor(&[1.0, 2.0]), tensor(&[3.0])],
            averaged: vec![tensor(&[1.5, 2.5]), tensor(&[3.5])],
            discriminator: vec![tensor(&[-1.0])],
            generator_optimizer: (4, vec![(tensor(&[0.1, 0.2]), tensor(&[0.3, 0.4]))]),
            discriminator_optimizer: (20, vec![(tensor(&[0.5]), tensor(&[0.6]))]),
            init_rng: RngState::of(&rng),
        }
    }

    fn checkpointer(folder: &Path) -> Checkpointer {
        Checkpointer {
            folder: folder.to_owned(),
            every: 10,
            run_id: "r1".into(),
            config_hash: "abc".into(),
            columns: vec![ColumnRole::Dropped, ColumnRole::FakeName],
        }
    }

    fn ledger(steps: u64) -> PrivacyLedger {
        let mut ledger = PrivacyLedger::new(Accountant::Pld, 1e-5);
        ledger.charge_dp_sgd_steps("d", 0.01, 1.1, steps);
        ledger
    }

    #[test]
    fn a_saved_checkpoint_loads_back_the_same_state_and_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join(FOLDER);
        let saver = checkpointer(&folder);
        saver.save(&state(10), &ledger(10)).unwrap();
        saver.save(&state(20), &ledger(20)).unwrap();
        let tensor_files: Vec<_> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("tensors-"))
            .collect();
        assert_eq!(tensor_files, ["tensors-0000000020.safetensors"]);

        let (meta, loaded) = load(&folder, "r1", "abc", &Device::Cpu).unwrap();
        assert_eq!(meta.steps_done, 20);
        assert_eq!(meta.ledger, ledger(20).entries());
        assert_eq!(meta.columns, saver.columns);
        let expected = state(20);
        assert_eq!(loaded.generator_updates, 4);
        assert_eq!(loaded.generator_optimizer.0, 4);
        assert_eq!(loaded.discriminator_optimizer.0, 20);
        let flat = |ts: &[Tensor]| -> Vec<Vec<f32>> {
            ts.iter().map(|t| t.to_vec1::<f32>().unwrap()).collect()
        };
        assert_eq!(flat(&loaded.generator), flat(&expected.generator));
        assert_eq!(flat(&loaded.averaged), flat(&expected.averaged));
        assert_eq!(flat(&loaded.discriminator), flat(&expected.discriminator));
        assert_eq!(
            loaded.generator_optimizer.1[0].1.to_vec1::<f32>().unwrap(),
            [0.3, 0.4]
        );
        let mut original = expected.init_rng.restore().unwrap();
        let mut restored = loaded.init_rng.restore().unwrap();
        assert_eq!(original.next_u64(), restored.next_u64());
    }

    #[test]
    fn a_changed_pipeline_a_damaged_file_or_no_checkpoint_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join(FOLDER);
        let missing = load(&folder, "r1", "abc", &Device::Cpu).unwrap_err();
        assert!(matches!(
            missing,
            Error::Checkpoint(CheckpointError::Missing { .. })
        ));
        checkpointer(&folder).save(&state(10), &ledger(10)).unwrap();
        let changed = load(&folder, "r1", "xyz", &Device::Cpu).unwrap_err();
        assert!(
            matches!(&changed, Error::Checkpoint(CheckpointError::Changed { .. })),
            "{changed}"
        );
        assert!(changed.to_string().contains("--set overrides"), "{changed}");

        let tensors = folder.join("tensors-0000000010.safetensors");
        let mut bytes = std::fs::read(&tensors).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&tensors, bytes).unwrap();
        let damaged = load(&folder, "r1", "abc", &Device::Cpu).unwrap_err();
        assert!(damaged.to_string().contains("SHA-256"), "{damaged}");
    }

    #[test]
    fn checkpoints_fall_due_every_n_steps_and_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut saver = checkpointer(dir.path());
        let due: Vec<u64> = (1..=25).filter(|&s| saver.due(s, 25)).collect();
        assert_eq!(due, [10, 20, 25]);
        saver.every = 0;
        let due: Vec<u64> = (1..=25).filter(|&s| saver.due(s, 25)).collect();
        assert_eq!(due, [25]);
    }
}
