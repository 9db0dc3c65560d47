//! Generation of the synthetic table in bounded batches.
//!
//! Guarantee: memory does not grow with the number of rows requested; each batch is decoded and
//! handed to the Parquet writer before the next is generated.

use candle_core::{Device, Tensor};
use datafusion::arrow::record_batch::RecordBatch;

use crate::model::{Generator, InitRng};
use crate::schema::TableCodec;

/// Rows generated and decoded at a time.
pub const SAMPLE_BATCH_ROWS: usize = 4096;

/// Errors of generation.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// The generator failed.
    #[error("generation failed")]
    Tensor(#[from] candle_core::Error),
    /// Decoding failed.
    #[error("decoding generated rows failed")]
    Decode(#[from] crate::schema::SchemaError),
}

/// An iterator of decoded batches that together hold `rows` rows.
pub fn sample_batches<'a>(
    generator: &'a Generator,
    codec: &'a TableCodec,
    rows: usize,
    rng: &'a mut InitRng,
    device: &'a Device,
) -> impl Iterator<Item = Result<RecordBatch, SampleError>> + 'a {
    let mut remaining = rows;
    std::iter::from_fn(move || {
        if remaining == 0 {
            return None;
        }
        let batch_rows = remaining.min(SAMPLE_BATCH_ROWS);
        remaining -= batch_rows;
        Some(sample_one(generator, codec, batch_rows, rng, device))
    })
}

fn sample_one(
    generator: &Generator,
    codec: &TableCodec,
    rows: usize,
    rng: &mut InitRng,
    device: &Device,
) -> Result<RecordBatch, SampleError> {
    let latent = generator.latent_dim();
    let zs = Tensor::from_vec(rng.normal(rows * latent), (rows, latent), device)?;
    let generated = generator
        .forward_sample(&zs)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    Ok(codec.decode(&generated, rows, &mut rng.0)?)
}
