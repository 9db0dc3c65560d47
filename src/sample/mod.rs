//! Generation of the synthetic table: the trained generator frozen, run on batches of latent
//! noise on every core, its raw output calibrated to the DP metadata and decoded to Arrow.
//!
//! Guarantees: memory does not grow with the number of rows requested (a few batches are
//! generated at a time and handed on in order before the next are made); the table depends
//! only on the generator, the codec, the calibration and the seed, not on the number of
//! threads (batch `i` draws from its own stream of the seed); calibration reads only generator
//! output and DP estimates already charged to the ledger, so it is post-processing and costs no
//! budget.

mod calibrate;

use std::cell::RefCell;
use std::collections::VecDeque;

use datafusion::arrow::record_batch::RecordBatch;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

pub use calibrate::Calibration;

use crate::fastmath::fill_standard_normal;
use crate::model::{FrozenGenerator, Generator};
use crate::schema::{RawBatch, TableCodec};

/// Rows generated and decoded at a time by one thread.
pub const SAMPLE_BATCH_ROWS: usize = 8192;

/// Batches generated together, one or more per core; their rows are the most held in memory.
const BATCHES_PER_ROUND: usize = 4;

/// Rows of generator output a calibration is fitted on.
pub const CALIBRATION_ROWS: usize = 8 * SAMPLE_BATCH_ROWS;

/// The stream of the seed that the calibration pool is drawn from (batches use 0, 1, 2, ...).
const CALIBRATION_STREAM: u64 = u64::MAX;

/// Arenas glibc's malloc may keep; see [`limit_malloc_arenas`].
const MALLOC_ARENAS: i32 = 2;

/// Caps glibc's malloc at [`MALLOC_ARENAS`] arenas; call it once, before other threads start.
/// Generation makes Arrow buffers on rayon's threads that the Parquet writer frees on its own;
/// with glibc's default of an arena per thread the freed memory fragments, and the peak grew
/// with the rows written (10M rows 12 % above 1M, against 5 % with two arenas at the same
/// speed: README, Benchmarks). Does nothing with other C libraries.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt sets one allocator parameter and touches no Rust memory.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, MALLOC_ARENAS);
    }
}

/// The batches [`Sampler::with_batches`] hands on, in order.
pub type Batches = std::sync::mpsc::IntoIter<Result<RecordBatch, SampleError>>;

/// Errors of generation.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// The generator's weights could not be read.
    #[error("generation failed")]
    Tensor(#[from] candle_core::Error),
    /// Decoding failed.
    #[error("decoding generated rows failed")]
    Decode(#[from] crate::schema::SchemaError),
}

/// A trained generator ready to produce release rows.
#[derive(Debug)]
pub struct Sampler<'a> {
    generator: FrozenGenerator,
    codec: &'a TableCodec,
    calibration: Calibration,
    seed: u64,
}

/// Buffers one thread reuses from batch to batch: random words, latent noise, the generator's
/// activations and its output.
#[derive(Default)]
struct Scratch {
    words: Vec<u32>,
    latent: Vec<f32>,
    features: Vec<f32>,
    raw: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl<'a> Sampler<'a> {
    /// Freezes `generator` and fits its calibration to `codec`'s DP metadata (one-way
    /// distributions too when `calibrate`, else only null shares). `seed` fixes every draw.
    pub fn new(
        generator: &Generator,
        codec: &'a TableCodec,
        calibrate: bool,
        seed: u64,
    ) -> Result<Self, SampleError> {
        let mut sampler = Self {
            generator: FrozenGenerator::of(generator)?,
            codec,
            calibration: Calibration::default(),
            seed,
        };
        let pool = sampler.raw(CALIBRATION_STREAM, CALIBRATION_ROWS);
        let pool = RawBatch::new(&pool, CALIBRATION_ROWS);
        sampler.calibration = Calibration::fit(codec, &pool, calibrate);
        Ok(sampler)
    }

    /// The generator's raw output for `rows` rows of stream `stream`.
    fn raw(&self, stream: u64, rows: usize) -> Vec<f32> {
        let mut rng = self.stream(stream);
        let mut scratch = Scratch::default();
        self.forward(&mut rng, rows, &mut scratch);
        scratch.raw
    }

    fn stream(&self, stream: u64) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(stream);
        rng
    }

    /// Draws `rows` latent rows from `rng` and runs the generator on them into `scratch.raw`
    /// (slot-major).
    fn forward(&self, rng: &mut ChaCha8Rng, rows: usize, scratch: &mut Scratch) {
        let (latent, stride) = (self.generator.latent_dim(), self.generator.features_width());
        scratch.latent.resize(rows * latent, 0.0);
        fill_standard_normal(rng, &mut scratch.latent, &mut scratch.words);
        scratch.features.resize(rows * stride, 0.0);
        for (row, noise) in scratch
            .features
            .chunks_exact_mut(stride)
            .zip(scratch.latent.chunks_exact(latent))
        {
            row[..latent].copy_from_slice(noise);
        }
        scratch
            .raw
            .resize(rows * self.generator.output_width(), 0.0);
        self.generator
            .forward(&mut scratch.features, rows, &mut scratch.raw);
    }

    /// Batch `index` of the table: `rows` rows from stream `index` of the seed.
    pub fn batch(&self, index: u64, rows: usize) -> Result<RecordBatch, SampleError> {
        let mut rng = self.stream(index);
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            self.forward(&mut rng, rows, &mut scratch);
            let raw = RawBatch::new(&scratch.raw, rows);
            Ok(self
                .codec
                .decode(&raw, self.calibration.adjustments(), &mut rng)?)
        })
    }

    /// Calls `consume` with the table's `rows` rows as [`Self::batches`] makes them, made on
    /// a thread of their own so that the next batches are generated while `consume` handles
    /// the last (writing Parquet, say): both share rayon's threads, and the cores stay busy
    /// through both. At most [`BATCHES_PER_ROUND`] batches wait for `consume`; when it returns
    /// before taking them all, generation stops.
    pub fn with_batches<T>(&self, rows: usize, consume: impl FnOnce(Batches) -> T) -> T {
        std::thread::scope(|scope| {
            let (sender, receiver) = std::sync::mpsc::sync_channel(1);
            scope.spawn(move || {
                for batch in self.batches(rows) {
                    if sender.send(batch).is_err() {
                        break;
                    }
                }
            });
            consume(receiver.into_iter())
        })
    }

    /// The table's `rows` rows as batches of at most [`SAMPLE_BATCH_ROWS`], in order, made
    /// [`BATCHES_PER_ROUND`] at a time on rayon's threads.
    pub fn batches(
        &self,
        rows: usize,
    ) -> impl Iterator<Item = Result<RecordBatch, SampleError>> + '_ {
        let count = rows.div_ceil(SAMPLE_BATCH_ROWS);
        let rows_of = move |index: usize| SAMPLE_BATCH_ROWS.min(rows - index * SAMPLE_BATCH_ROWS);
        let mut next = 0;
        let mut ready = VecDeque::new();
        std::iter::from_fn(move || {
            if ready.is_empty() && next < count {
                let end = (next + BATCHES_PER_ROUND).min(count);
                let round: Vec<_> = (next..end)
                    .into_par_iter()
                    .map(|index| self.batch(index as u64, rows_of(index)))
                    .collect();
                ready.extend(round);
                next = end;
            }
            ready.pop_front()
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use candle_core::Device;
    use datafusion::arrow::array::{Array, Int64Array, StringArray};
    use datafusion::arrow::compute::concat_batches;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::model::InitRng;
    use crate::privacy::PrivacyRng;
    use crate::schema::SchemaPlan;

    /// A codec of an integer and a string column, fitted with DP metadata on a small table.
    fn codec() -> TableCodec {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("c", DataType::Utf8, true),
        ]));
        let rows = 20_000;
        let numbers: Int64Array = (0..rows)
            .map(|i| (i % 9 != 0).then_some(i64::from(i % 50) * (i64::from(i % 7))))
            .collect();
        let words: StringArray = (0..rows)
            .map(|i| Some(["x", "y", "z"][(i % 3) as usize]))
            .collect();
        let table =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(numbers), Arc::new(words)]).unwrap();
        let plan = SchemaPlan::build(
            &schema,
            &Default::default(),
            crate::schema::NumericEncoding::Quantile,
        )
        .unwrap();
        let design =
            crate::schema::PreprocessingDesign::new(&plan.needs(), 0.5, 1e-7, table.num_rows());
        plan.fit(&table, Some(&design), &mut PrivacyRng::from_os())
            .unwrap()
    }

    fn sampler(codec: &TableCodec) -> Sampler<'_> {
        let generator = Generator::new(
            8,
            &[16, 16],
            codec.heads(),
            codec.encoded_width(),
            &mut InitRng::from_seed(3),
            &Device::Cpu,
        )
        .unwrap();
        Sampler::new(&generator, codec, true, 42).unwrap()
    }

    #[test]
    fn the_table_does_not_depend_on_how_batches_are_scheduled() {
        let codec = codec();
        let sampler = sampler(&codec);
        let rows = 2 * SAMPLE_BATCH_ROWS + 123;
        let parallel: Vec<RecordBatch> = sampler.batches(rows).map(Result::unwrap).collect();
        let sizes: Vec<usize> = parallel.iter().map(RecordBatch::num_rows).collect();
        assert_eq!(sizes, [SAMPLE_BATCH_ROWS, SAMPLE_BATCH_ROWS, 123]);
        // one thread, last batch first
        let mut serial: Vec<RecordBatch> = (0..3)
            .rev()
            .map(|i| sampler.batch(i as u64, sizes[i]).unwrap())
            .collect();
        serial.reverse();
        let schema = codec.output_schema();
        assert_eq!(
            concat_batches(&schema, &parallel).unwrap(),
            concat_batches(&schema, &serial).unwrap()
        );
    }

    #[test]
    fn batches_made_on_their_own_thread_are_the_same_batches() {
        let codec = codec();
        let sampler = sampler(&codec);
        let rows = 5 * SAMPLE_BATCH_ROWS + 7;
        let direct: Vec<RecordBatch> = sampler.batches(rows).map(Result::unwrap).collect();
        let handed: Vec<RecordBatch> =
            sampler.with_batches(rows, |batches| batches.map(Result::unwrap).collect());
        assert_eq!(direct, handed);
        // a consumer that stops early stops generation, and nothing hangs
        let first = sampler.with_batches(rows, |mut batches| batches.next().unwrap().unwrap());
        assert_eq!(first, direct[0]);
    }

    #[test]
    fn calibrated_columns_follow_their_dp_shares() {
        let codec = codec();
        let sampler = sampler(&codec);
        let rows = 40_000;
        let batches: Vec<RecordBatch> = sampler.batches(rows).map(Result::unwrap).collect();
        let table = concat_batches(&codec.output_schema(), &batches).unwrap();
        // the real shares: one in nine numbers null, the letters a third each
        let numbers = table.column(0);
        let null_share = numbers.null_count() as f64 / rows as f64;
        assert!(
            (null_share - 1.0 / 9.0).abs() < 0.03,
            "null share {null_share}"
        );
        let words = table
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        for letter in ["x", "y", "z"] {
            let share = words.iter().filter(|w| *w == Some(letter)).count() as f64 / rows as f64;
            assert!(
                (share - 1.0 / 3.0).abs() < 0.03,
                "share of {letter}: {share}"
            );
        }
    }
}
