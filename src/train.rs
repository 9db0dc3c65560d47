//! The training loop: Poisson batches, private discriminator steps, generator steps.
//!
//! Guarantees: exactly the planned number of discriminator steps runs, each charged to the
//! ledger before its noisy gradient is used; a step with an empty Poisson batch still adds its
//! noise; the loop never reads the holdout split.

use std::time::Instant;

use candle_core::{Device, Tensor, Var};
use candle_nn::Optimizer;

use crate::checkpoint::{Checkpointer, RngState, TrainingState};
use crate::model::adam::{Adam, AdamParameters};
use crate::model::per_example::{DpSgdParameters, private_step};
use crate::model::{Discriminator, Generator, InitRng, ModelError, softplus};
use crate::privacy::{PrivacyLedger, PrivacyRng};
use crate::schema::TableCodec;

/// What the loop needs besides the data.
#[derive(Debug, Clone)]
pub struct TrainingPlan {
    /// discriminator (DP) steps to run
    pub steps: u64,
    /// Poisson sampling rate
    pub sampling_rate: f64,
    /// calibrated noise multiplier
    pub noise_multiplier: f64,
    /// clipping norm
    pub max_grad_norm: f64,
    /// expected batch size
    pub expected_batch_size: f64,
    /// discriminator steps per generator step
    pub discriminator_steps: usize,
    /// Adam learning rate
    pub learning_rate: f64,
    /// generator hidden widths
    pub generator: Vec<usize>,
    /// discriminator hidden widths
    pub discriminator: Vec<usize>,
    /// latent width
    pub latent_dim: usize,
}

/// Largest decay of the generator's weight average.
const GENERATOR_AVERAGE_DECAY: f64 = 0.99;

/// The ledger entry name of the discriminator's DP-SGD steps.
pub const DISCRIMINATOR_PURPOSE: &str = "discriminator DP-SGD";

fn adam(vars: Vec<Var>, learning_rate: f64) -> candle_core::Result<Adam> {
    // beta1 = 0.5 as is usual for GANs (Radford et al. 2016).
    Adam::new(
        vars,
        AdamParameters {
            learning_rate,
            beta1: 0.5,
            beta2: 0.9,
            eps: 1e-8,
        },
    )
}

fn values(vars: &[Var]) -> Vec<Tensor> {
    vars.iter().map(|v| v.as_tensor().clone()).collect()
}

fn set_values(vars: &[Var], tensors: &[Tensor], what: &str) -> candle_core::Result<()> {
    if vars.len() != tensors.len() {
        return Err(candle_core::Error::Msg(format!(
            "the checkpoint's {what} has {} variables, the planned model {}",
            tensors.len(),
            vars.len()
        )));
    }
    for (var, tensor) in vars.iter().zip(tensors) {
        if var.shape() != tensor.shape() {
            return Err(candle_core::Error::Msg(format!(
                "the checkpoint's {what} has a variable of shape {:?}, the planned model {:?}",
                tensor.shape(),
                var.shape()
            )));
        }
        var.set(tensor)?;
    }
    Ok(())
}

/// Trains a generator on `train: (rows, encoded_width)` and returns its weight average.
///
/// With `resume`, training continues from that state, whose steps `ledger` already holds; every
/// `checkpoints.every` steps, at the end, and when a signal stops it, the state is saved with the
/// ledger of exactly the steps it has taken.
#[allow(clippy::too_many_arguments)]
pub fn train(
    plan: &TrainingPlan,
    codec: &TableCodec,
    train: &Tensor,
    ledger: &mut PrivacyLedger,
    init: &mut InitRng,
    device: &Device,
    checkpoints: &Checkpointer,
    resume: Option<TrainingState>,
) -> Result<Generator, ModelError> {
    let rows = train.dim(0)?;
    let width = codec.encoded_width();
    let generator = Generator::new(
        plan.latent_dim,
        &plan.generator,
        codec.heads(),
        width,
        init,
        device,
    )?;
    let discriminator = Discriminator::new(width, &plan.discriminator, init, device)?;
    let mut generator_optimizer = adam(generator.vars(), plan.learning_rate)?;
    let mut discriminator_optimizer = adam(discriminator.vars(), plan.learning_rate)?;
    // The released generator is an exponential moving average of the trained one's weights:
    // post-processing, free of privacy cost, and steadier than the last iterate of a GAN.
    let averaged = generator.independent_copy()?;
    let mut generator_updates = 0u64;
    let mut steps_done = 0u64;
    if let Some(state) = resume {
        set_values(&generator.vars(), &state.generator, "generator")?;
        set_values(&averaged.vars(), &state.averaged, "generator average")?;
        set_values(&discriminator.vars(), &state.discriminator, "discriminator")?;
        let (updates, moments) = &state.generator_optimizer;
        generator_optimizer.restore(*updates, moments)?;
        let (updates, moments) = &state.discriminator_optimizer;
        discriminator_optimizer.restore(*updates, moments)?;
        init.0 = state.init_rng.restore().map_err(candle_core::Error::Msg)?;
        generator_updates = state.generator_updates;
        steps_done = state.steps_done;
        if ledger.dp_sgd_steps() != steps_done {
            return Err(ModelError::Tensor(candle_core::Error::Msg(format!(
                "the checkpoint's ledger counts {} steps, its weights {steps_done}",
                ledger.dp_sgd_steps()
            ))));
        }
    }
    let save = |steps_done: u64,
                generator_updates: u64,
                generator_optimizer: &Adam,
                discriminator_optimizer: &Adam,
                init: &InitRng,
                ledger: &PrivacyLedger| {
        let state = TrainingState {
            steps_done,
            generator_updates,
            generator: values(&generator.vars()),
            averaged: values(&averaged.vars()),
            discriminator: values(&discriminator.vars()),
            generator_optimizer: (generator_optimizer.steps(), generator_optimizer.moments()),
            discriminator_optimizer: (
                discriminator_optimizer.steps(),
                discriminator_optimizer.moments(),
            ),
            init_rng: RngState::of(&init.0),
        };
        checkpoints
            .save(&state, ledger)
            .map_err(ModelError::Checkpoint)
    };
    let mut privacy_rng = PrivacyRng::from_os();
    let fake_rows = plan.expected_batch_size.round().max(1.0) as usize;
    let parameters = DpSgdParameters {
        max_grad_norm: plan.max_grad_norm,
        noise_multiplier: plan.noise_multiplier,
        expected_batch_size: plan.expected_batch_size,
    };
    tracing::info!(
        steps = plan.steps,
        resumed_at = steps_done,
        discriminator_parameters = discriminator.parameter_count(),
        encoded_width = width,
        "training started"
    );

    let started = Instant::now();
    let mut progress = crate::progress::Progress::new("training", "steps", plan.steps);
    progress.advance(steps_done, true);
    let mut last_generator_loss = f32::NAN;
    for step in steps_done + 1..=plan.steps {
        if let Err(source) = crate::interrupt::check() {
            save(
                step - 1,
                generator_updates,
                &generator_optimizer,
                &discriminator_optimizer,
                init,
                ledger,
            )?;
            return Err(ModelError::Interrupted {
                step: step - 1,
                source,
            });
        }
        let fake = generate_train(&generator, fake_rows, init, device)?.detach();
        let selected = privacy_rng.poisson_sample(rows, plan.sampling_rate);
        let real = select_rows(train, &selected, width, device)?;
        // Charge before the noisy gradient exists, so no step can escape the ledger.
        ledger.charge_dp_sgd_steps(
            DISCRIMINATOR_PURPOSE,
            plan.sampling_rate,
            plan.noise_multiplier,
            1,
        );
        let stats = private_step(
            &discriminator,
            &mut discriminator_optimizer,
            &real,
            &fake,
            parameters,
            &mut privacy_rng,
        )?;
        if !stats.fake_loss.is_finite() {
            return Err(ModelError::Diverged {
                step,
                which: "discriminator",
            });
        }

        if step % plan.discriminator_steps as u64 == 0 {
            let fake = generate_train(&generator, fake_rows, init, device)?;
            let loss = softplus(&discriminator.forward(&fake)?.neg()?)?.mean_all()?;
            let grads = loss.backward()?;
            generator_optimizer.step(&grads)?;
            averaged.track(&generator, GENERATOR_AVERAGE_DECAY, generator_updates)?;
            generator_updates += 1;
            last_generator_loss = loss.to_scalar::<f32>()?;
            if !last_generator_loss.is_finite() {
                return Err(ModelError::Diverged {
                    step,
                    which: "generator",
                });
            }
        }
        // A checkpoint comes before each progress line: the losses a line shows depend on the
        // noisy gradients so far, so they must belong to steps a resumed run keeps and counts.
        let log_due = progress.advance(1, true);
        if log_due || checkpoints.due(step, plan.steps) {
            save(
                step,
                generator_updates,
                &generator_optimizer,
                &discriminator_optimizer,
                init,
                ledger,
            )?;
        }
        if log_due {
            tracing::info!(
                step,
                of = plan.steps,
                seconds = started.elapsed().as_secs_f64(),
                discriminator_fake_loss = stats.fake_loss,
                generator_loss = last_generator_loss,
                "training progress"
            );
        }
    }
    Ok(averaged)
}

fn generate_train(
    generator: &Generator,
    rows: usize,
    rng: &mut InitRng,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let zs = Tensor::from_vec(
        rng.normal(rows * generator.latent_dim()),
        (rows, generator.latent_dim()),
        device,
    )?;
    let width = generator.output_width();
    let gumbel = Tensor::from_vec(rng.gumbel(rows * width), (rows, width), device)?;
    generator.forward_train(&zs, &gumbel)
}

fn select_rows(
    train: &Tensor,
    selected: &[usize],
    width: usize,
    device: &Device,
) -> candle_core::Result<Tensor> {
    if selected.is_empty() {
        return Tensor::zeros((0, width), candle_core::DType::F32, device);
    }
    let index: Vec<u32> = selected.iter().map(|&i| i as u32).collect();
    let index = Tensor::from_vec(index, selected.len(), device)?;
    train.index_select(&index, 0)
}
