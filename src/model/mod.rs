//! The DP-SGD DPGAN: generator, discriminator, per-example gradients and the private step.
//!
//! Guarantees: the discriminator's gradient on real rows is clipped per example to
//! `max_grad_norm` (true per-example gradients, not a batch norm) and receives Gaussian noise of
//! standard deviation `noise_multiplier * max_grad_norm` from the OS-seeded privacy generator
//! before any parameter changes; the generator never sees a real row, only the discriminator's
//! output on generated rows, so it is post-processing of a DP mechanism.

pub mod adam;
mod discriminator;
mod frozen;
mod generator;
mod layers;
pub mod per_example;

pub use discriminator::Discriminator;
pub use frozen::FrozenGenerator;
pub use generator::Generator;
pub use layers::{InitRng, Linear};

/// Errors of the model. They mean the run failed (exit code 1).
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A tensor operation failed.
    #[error("tensor operation failed")]
    Tensor(#[from] candle_core::Error),
    /// A loss became NaN or infinite.
    #[error("training diverged at discriminator step {step}: the {which} loss is not finite")]
    Diverged {
        /// the step
        step: u64,
        /// which loss
        which: &'static str,
    },
    /// SIGINT or SIGTERM arrived during training; the state was checkpointed.
    #[error("training stopped after discriminator step {step}, checkpointed")]
    Interrupted {
        /// the last step taken
        step: u64,
        /// the signal
        #[source]
        source: crate::interrupt::Interrupted,
    },
    /// A checkpoint could not be saved.
    #[error("cannot save a checkpoint")]
    Checkpoint(#[source] crate::checkpoint::Error),
    /// The requested device is not available in this build.
    #[error("device `{0}` is not available: build with `--features cuda` and check the GPU")]
    DeviceUnavailable(String),
}

/// `softplus(x) = ln(1 + e^x)`, computed stably as `max(x, 0) + ln(1 + e^-|x|)`.
pub fn softplus(xs: &candle_core::Tensor) -> candle_core::Result<candle_core::Tensor> {
    let tail = ((xs.abs()?.neg()?.exp()? + 1.0)?).log()?;
    xs.relu()? + tail
}

/// The device for a `training.device` setting.
pub fn select_device(requested: &str) -> Result<candle_core::Device, ModelError> {
    match requested {
        "cpu" => Ok(candle_core::Device::Cpu),
        "auto" => {
            if candle_core::utils::cuda_is_available() {
                candle_core::Device::new_cuda(0).map_err(ModelError::Tensor)
            } else {
                Ok(candle_core::Device::Cpu)
            }
        }
        other => {
            let ordinal = other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| ModelError::DeviceUnavailable(other.to_owned()))?;
            if !candle_core::utils::cuda_is_available() {
                return Err(ModelError::DeviceUnavailable(other.to_owned()));
            }
            candle_core::Device::new_cuda(ordinal)
                .map_err(|_| ModelError::DeviceUnavailable(other.to_owned()))
        }
    }
}
