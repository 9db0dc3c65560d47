//! The discriminator: linear layers with LeakyReLU, no normalisation (examples must stay
//! independent for per-example gradients), one logit out.

use candle_core::{Device, Tensor, Var};

use super::layers::{InitRng, Linear, zeros_var};

const LEAKY_SLOPE: f64 = 0.2;

/// An MLP critic of encoded rows.
#[derive(Debug, Clone)]
pub struct Discriminator {
    layers: Vec<Linear>,
}

/// What a probed forward pass keeps for per-example gradients.
pub struct ProbedForward {
    /// logits, (batch, 1)
    pub logits: Tensor,
    /// one zero variable per layer, (batch, out_l)
    pub probes: Vec<Var>,
    /// each layer's input, (batch, in_l)
    pub inputs: Vec<Tensor>,
}

impl Discriminator {
    /// A discriminator of `input_width` features with `hidden` widths.
    pub fn new(
        input_width: usize,
        hidden: &[usize],
        rng: &mut InitRng,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let mut widths = vec![input_width];
        widths.extend_from_slice(hidden);
        widths.push(1);
        let layers = widths
            .windows(2)
            .map(|pair| Linear::new(pair[0], pair[1], rng, device))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self { layers })
    }

    /// The layers, first to last.
    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// All trainable variables.
    pub fn vars(&self) -> Vec<Var> {
        self.layers.iter().flat_map(Linear::vars).collect()
    }

    /// Number of parameters.
    pub fn parameter_count(&self) -> usize {
        self.layers.iter().map(Linear::parameter_count).sum()
    }

    /// Logits of `xs: (batch, input_width)`, with gradients to the parameters.
    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let mut h = xs.clone();
        for (index, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h)?;
            if index + 1 < self.layers.len() {
                h = candle_nn::ops::leaky_relu(&h, LEAKY_SLOPE)?;
            }
        }
        Ok(h)
    }

    /// Logits with frozen parameters and a probe on every pre-activation.
    pub fn forward_probed(&self, xs: &Tensor) -> candle_core::Result<ProbedForward> {
        let batch = xs.dim(0)?;
        let mut h = xs.clone();
        let mut probes = Vec::with_capacity(self.layers.len());
        let mut inputs = Vec::with_capacity(self.layers.len());
        for (index, layer) in self.layers.iter().enumerate() {
            let probe = zeros_var(batch, layer.bias.dim(0)?, xs.device())?;
            inputs.push(h.detach());
            h = layer.forward_probed(&h, &probe)?;
            probes.push(probe);
            if index + 1 < self.layers.len() {
                h = candle_nn::ops::leaky_relu(&h, LEAKY_SLOPE)?;
            }
        }
        Ok(ProbedForward {
            logits: h,
            probes,
            inputs,
        })
    }
}
