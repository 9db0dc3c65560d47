//! The generator frozen for sampling: its weights copied out of candle into plain row-major
//! buffers, and a forward pass that allocates nothing per batch.
//!
//! Generation runs the same network millions of times with no gradient, so it skips candle's
//! graph: each residual block's matrix product writes straight into its columns of one
//! concatenated activation buffer (the block's input is every column to its left), bias and
//! ReLU are applied in the same pass, and the matrix products go to `gemm`, the kernel candle
//! itself calls, on the calling thread. Callers run one batch per thread.
//!
//! Guarantee: [`FrozenGenerator::forward`] gives the raw head outputs of
//! [`Generator`](super::Generator) for the same latent rows (tested to 1e-5), slot-major (each
//! output slot's values for every row together), the layout decoding reads.

use super::generator::Generator;

/// One linear layer's weights: `weight` is (outputs, inputs) row-major.
#[derive(Debug, Clone)]
struct Dense {
    inputs: usize,
    outputs: usize,
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl Dense {
    fn of(layer: &super::Linear) -> candle_core::Result<Self> {
        let (outputs, inputs) = layer.weight.as_tensor().dims2()?;
        Ok(Self {
            inputs,
            outputs,
            weight: layer.weight.as_tensor().flatten_all()?.to_vec1()?,
            bias: layer.bias.as_tensor().to_vec1()?,
        })
    }
}

/// A generator's weights for inference only.
#[derive(Debug, Clone)]
pub struct FrozenGenerator {
    latent_dim: usize,
    blocks: Vec<Dense>,
    head: Dense,
}

impl FrozenGenerator {
    /// Copies `generator`'s current weights.
    pub fn of(generator: &Generator) -> candle_core::Result<Self> {
        let (blocks, head) = generator.layers();
        Ok(Self {
            latent_dim: generator.latent_dim(),
            blocks: blocks
                .iter()
                .map(Dense::of)
                .collect::<candle_core::Result<_>>()?,
            head: Dense::of(head)?,
        })
    }

    /// Width of the latent noise.
    pub fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    /// Width of the concatenated activations: the latent, then each block's output.
    pub fn features_width(&self) -> usize {
        self.latent_dim + self.blocks.iter().map(|b| b.outputs).sum::<usize>()
    }

    /// Width of a raw output row.
    pub fn output_width(&self) -> usize {
        self.head.outputs
    }

    /// Raw head outputs (before each column's activation) for `rows` latent rows.
    ///
    /// `features` is (rows, [`features_width`](Self::features_width)) row-major with the latent
    /// noise in each row's first `latent_dim` values; the rest is overwritten with the blocks'
    /// activations. `out` receives ([`output_width`](Self::output_width), rows): slot-major.
    pub fn forward(&self, features: &mut [f32], rows: usize, out: &mut [f32]) {
        let stride = self.features_width();
        assert_eq!(
            features.len(),
            rows * stride,
            "features buffer of the wrong size"
        );
        assert_eq!(
            out.len(),
            rows * self.output_width(),
            "output buffer of the wrong size"
        );
        let mut filled = self.latent_dim;
        for block in &self.blocks {
            debug_assert_eq!(block.inputs, filled);
            // SAFETY: in every row the product reads columns [0, filled) and writes columns
            // [filled, filled + outputs) of the same buffer: disjoint elements, all inside
            // `features` by the length check above and `filled + outputs <= stride`.
            unsafe {
                let base = features.as_mut_ptr();
                let dst = (base.add(filled), 1, stride);
                product_into(dst, (base, stride), block, rows);
            }
            for row in features.chunks_exact_mut(stride) {
                let part = &mut row[filled..filled + block.outputs];
                for (value, bias) in part.iter_mut().zip(&block.bias) {
                    *value = (*value + bias).max(0.0);
                }
            }
            filled += block.outputs;
        }
        // SAFETY: `out` holds rows * outputs values and `features` rows * stride, checked
        // above; the two buffers are distinct borrows.
        unsafe {
            let dst = (out.as_mut_ptr(), rows, 1);
            product_into(dst, (features.as_ptr(), stride), &self.head, rows);
        }
        for (slot, bias) in out.chunks_exact_mut(rows.max(1)).zip(&self.head.bias) {
            slot.iter_mut().for_each(|value| *value += bias);
        }
    }
}

/// `dst[r, c] = sum_k lhs[r, k] * weight[c, k]` for `rows` rows, `c < layer.outputs`,
/// `k < layer.inputs`. `dst` is `(pointer, column stride, row stride)`, `lhs` row-major
/// `(pointer, row stride)`.
///
/// # Safety
/// `dst` must be valid for writes and `lhs` for reads of every element addressed, and no
/// element may be both read and written.
unsafe fn product_into(
    (dst, dst_column_stride, dst_row_stride): (*mut f32, usize, usize),
    (lhs, lhs_stride): (*const f32, usize),
    layer: &Dense,
    rows: usize,
) {
    // The weight is (outputs, inputs) row-major, so as the (inputs, outputs) right-hand side
    // its rows step by 1 and its columns by `inputs`.
    unsafe {
        gemm::gemm(
            rows,
            layer.outputs,
            layer.inputs,
            dst,
            dst_column_stride as isize,
            dst_row_stride as isize,
            false,
            lhs,
            1,
            lhs_stride as isize,
            layer.weight.as_ptr(),
            layer.inputs as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;
    use crate::model::InitRng;
    use crate::schema::OutputHead;

    #[test]
    fn the_frozen_forward_pass_equals_the_generators() {
        let device = Device::Cpu;
        let heads = vec![
            OutputHead::Continuous { offset: 0 },
            OutputHead::Categorical {
                offset: 1,
                width: 4,
                null_slot: Some(3),
            },
        ];
        let mut rng = InitRng::from_seed(11);
        let generator = Generator::new(7, &[16, 9], heads, 5, &mut rng, &device).unwrap();
        let frozen = FrozenGenerator::of(&generator).unwrap();
        let rows = 37;
        let latent = rng.normal(rows * 7);
        let zs = Tensor::from_vec(latent.clone(), (rows, 7), &device).unwrap();
        let expected: Vec<f32> = generator
            .raw_outputs(&zs)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();

        let stride = frozen.features_width();
        assert_eq!(stride, 7 + 16 + 9);
        let mut features = vec![f32::NAN; rows * stride];
        for (row, z) in features
            .chunks_exact_mut(stride)
            .zip(latent.chunks_exact(7))
        {
            row[..7].copy_from_slice(z);
        }
        let width = frozen.output_width();
        let mut out = vec![f32::NAN; rows * width];
        frozen.forward(&mut features, rows, &mut out);
        assert_eq!(out.len(), expected.len());
        for row in 0..rows {
            for slot in 0..width {
                let (a, b) = (out[slot * rows + row], expected[row * width + slot]);
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
            }
        }
    }
}
