//! Adam whose state (moments and step count) can be saved to a checkpoint and restored.
//!
//! candle's `AdamW` keeps its moments private, so a resumed run could not continue it exactly;
//! this one computes the same update and exposes its state.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::Optimizer;

/// Adam's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamParameters {
    /// learning rate
    pub learning_rate: f64,
    /// decay of the first moment
    pub beta1: f64,
    /// decay of the second moment
    pub beta2: f64,
    /// added to the root of the second moment
    pub eps: f64,
}

/// One variable and its two moments.
#[derive(Debug)]
struct Slot {
    var: Var,
    first: Var,
    second: Var,
}

/// Adam (Kingma and Ba 2015, "Adam: a method for stochastic optimization", algorithm 1):
/// `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`,
/// `theta -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)`.
#[derive(Debug)]
pub struct Adam {
    slots: Vec<Slot>,
    steps: u64,
    parameters: AdamParameters,
}

impl Optimizer for Adam {
    type Config = AdamParameters;

    fn new(vars: Vec<Var>, parameters: AdamParameters) -> candle_core::Result<Self> {
        let slots = vars
            .into_iter()
            .map(|var| {
                let first = Var::zeros(var.shape(), var.dtype(), var.device())?;
                let second = Var::zeros(var.shape(), var.dtype(), var.device())?;
                Ok(Slot { var, first, second })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self {
            slots,
            steps: 0,
            parameters,
        })
    }

    fn learning_rate(&self) -> f64 {
        self.parameters.learning_rate
    }

    fn set_learning_rate(&mut self, learning_rate: f64) {
        self.parameters.learning_rate = learning_rate;
    }

    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        self.steps += 1;
        let AdamParameters {
            learning_rate,
            beta1,
            beta2,
            eps,
        } = self.parameters;
        let t = i32::try_from(self.steps).unwrap_or(i32::MAX);
        let first_scale = 1.0 / (1.0 - beta1.powi(t));
        let second_scale = 1.0 / (1.0 - beta2.powi(t));
        for slot in &self.slots {
            let Some(g) = grads.get(slot.var.as_tensor()) else {
                continue;
            };
            let first = ((slot.first.as_tensor() * beta1)? + (g * (1.0 - beta1))?)?;
            let second = ((slot.second.as_tensor() * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
            let step = ((&first * first_scale)? / ((&second * second_scale)?.sqrt()? + eps)?)?;
            slot.var
                .set(&(slot.var.as_tensor() - (step * learning_rate)?)?)?;
            slot.first.set(&first)?;
            slot.second.set(&second)?;
        }
        Ok(())
    }
}

impl Adam {
    /// Updates taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The moments, first then second, of each variable in the order given to `new`.
    pub fn moments(&self) -> Vec<(Tensor, Tensor)> {
        self.slots
            .iter()
            .map(|s| (s.first.as_tensor().clone(), s.second.as_tensor().clone()))
            .collect()
    }

    /// Restores a saved state: `moments` as [`Adam::moments`] returned them.
    pub fn restore(&mut self, steps: u64, moments: &[(Tensor, Tensor)]) -> candle_core::Result<()> {
        if moments.len() != self.slots.len() {
            return Err(candle_core::Error::Msg(format!(
                "the checkpoint holds {} optimizer moments, the model has {} variables",
                moments.len(),
                self.slots.len()
            )));
        }
        for (slot, (first, second)) in self.slots.iter().zip(moments) {
            slot.first.set(first)?;
            slot.second.set(second)?;
        }
        self.steps = steps;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};
    use candle_nn::{AdamW, ParamsAdamW};

    use super::*;

    const PARAMETERS: AdamParameters = AdamParameters {
        learning_rate: 0.01,
        beta1: 0.5,
        beta2: 0.9,
        eps: 1e-8,
    };

    fn loss(w: &Var) -> Tensor {
        // (w - target)^2 summed: a gradient that changes from step to step
        let target = Tensor::new(&[1.0f32, -2.0, 0.5], &Device::Cpu).unwrap();
        (w.as_tensor() - target)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
    }

    #[test]
    fn matches_candle_adamw_without_weight_decay() {
        let start = Tensor::new(&[0.3f32, 0.1, -0.7], &Device::Cpu).unwrap();
        let ours = Var::from_tensor(&start).unwrap();
        let theirs = Var::from_tensor(&start).unwrap();
        let mut adam = Adam::new(vec![ours.clone()], PARAMETERS).unwrap();
        let mut reference = AdamW::new(
            vec![theirs.clone()],
            ParamsAdamW {
                lr: PARAMETERS.learning_rate,
                beta1: PARAMETERS.beta1,
                beta2: PARAMETERS.beta2,
                eps: PARAMETERS.eps,
                weight_decay: 0.0,
            },
        )
        .unwrap();
        for _ in 0..20 {
            adam.backward_step(&loss(&ours)).unwrap();
            reference.backward_step(&loss(&theirs)).unwrap();
        }
        let a = ours.as_tensor().to_vec1::<f32>().unwrap();
        let b = theirs.as_tensor().to_vec1::<f32>().unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6, "{a:?} against {b:?}");
        }
        assert_ne!(a, start.to_vec1::<f32>().unwrap());
    }

    #[test]
    fn a_restored_state_continues_exactly() {
        let start = Tensor::new(&[0.3f32, 0.1, -0.7], &Device::Cpu).unwrap();
        let straight = Var::from_tensor(&start).unwrap();
        let mut adam = Adam::new(vec![straight.clone()], PARAMETERS).unwrap();
        for _ in 0..5 {
            adam.backward_step(&loss(&straight)).unwrap();
        }
        let saved_weights = straight.as_tensor().copy().unwrap();
        let saved_moments: Vec<(Tensor, Tensor)> = adam
            .moments()
            .into_iter()
            .map(|(m, v)| (m.copy().unwrap(), v.copy().unwrap()))
            .collect();
        for _ in 0..5 {
            adam.backward_step(&loss(&straight)).unwrap();
        }

        let resumed = Var::from_tensor(&saved_weights).unwrap();
        let mut again = Adam::new(vec![resumed.clone()], PARAMETERS).unwrap();
        again.restore(5, &saved_moments).unwrap();
        for _ in 0..5 {
            again.backward_step(&loss(&resumed)).unwrap();
        }
        assert_eq!(again.steps(), 10);
        assert_eq!(
            resumed.as_tensor().to_vec1::<f32>().unwrap(),
            straight.as_tensor().to_vec1::<f32>().unwrap()
        );
        let zeros = Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap();
        let wrong = vec![(zeros.clone(), zeros.clone()); 2];
        assert!(again.restore(1, &wrong).is_err());
    }
}
