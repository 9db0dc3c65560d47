//! Rows as points, and nearest neighbours between tables of them.
//!
//! Rows are embedded over a set of columns: a numeric value scaled by its real range (plus a
//! null indicator), a categorical value one-hot over the real values (plus null) scaled by
//! 1/sqrt(2), so a mismatch adds 1 to the squared distance as a full-range numeric gap does.
//! Nearest neighbours come from blocked matrix products (`|a - b|^2 = |a|^2 + |b|^2 - 2 a.b`,
//! candle's CPU matmul, one block of query rows at a time, never the whole cross product in
//! memory), and the winning distances are recomputed exactly in f64.

use std::collections::HashMap;

use candle_core::{Device, Storage, Tensor};
use datafusion::arrow::array::{Array, ArrayRef, Float64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;

use super::ValidateError;

/// Elements of one block of the distance matrix (32 MiB of f32).
const BLOCK_ELEMENTS: usize = 8 << 20;

/// Embeddings at most this wide skip the matrix product: the distance is a few instructions,
/// and writing out the products would cost more than computing them.
const DIRECT_WIDTH: usize = 16;

/// One column of the embedding.
enum Feature {
    Numeric { low: f64, span: f64 },
    Categorical { index: HashMap<String, usize> },
}

fn failed(what: &str) -> ValidateError {
    ValidateError::Execution {
        what: what.to_owned(),
    }
}

/// A numeric column as f64 (dates, times and decimals by their numeric value).
pub(super) fn as_f64(array: &ArrayRef) -> Result<Float64Array, ValidateError> {
    crate::schema::numeric_values(array).map_err(|e| ValidateError::Execution {
        what: format!("distance embedding ({e})"),
    })
}

/// A categorical column as strings.
pub(super) fn as_strings(array: &ArrayRef) -> Result<StringArray, ValidateError> {
    let strings = cast(array, &DataType::Utf8).map_err(|_| failed("distance embedding"))?;
    strings
        .as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| failed("distance embedding"))
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, ValidateError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| ValidateError::BadKnownColumn {
            column: name.to_owned(),
            reason: "the table has no such column".to_owned(),
        })
}

/// The embedding of some columns (name, numeric?), fitted on the real rows.
pub(super) struct Embedding {
    columns: Vec<(String, Feature)>,
    width: usize,
}

impl Embedding {
    pub(super) fn fit(
        columns: &[(String, bool)],
        real: &[&RecordBatch],
    ) -> Result<Self, ValidateError> {
        let mut features = Vec::new();
        let mut width = 0;
        for (name, numeric) in columns {
            let arrays = real
                .iter()
                .map(|b| column(b, name))
                .collect::<Result<Vec<_>, _>>()?;
            if *numeric {
                let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
                for array in arrays {
                    for value in as_f64(array)?.iter().flatten() {
                        low = low.min(value);
                        high = high.max(value);
                    }
                }
                let span = if high > low { high - low } else { 1.0 };
                features.push((name.clone(), Feature::Numeric { low, span }));
                width += 2;
            } else {
                let mut index = HashMap::new();
                for array in arrays {
                    for value in as_strings(array)?.iter().flatten() {
                        let next = index.len();
                        index.entry(value.to_owned()).or_insert(next);
                    }
                }
                width += index.len() + 1;
                features.push((name.clone(), Feature::Categorical { index }));
            }
        }
        Ok(Self {
            columns: features,
            width,
        })
    }

    /// Floats per embedded row.
    pub(super) fn width(&self) -> usize {
        self.width
    }

    /// Row-major `rows x width` embedding of `batch`'s rows at `rows`.
    pub(super) fn embed(
        &self,
        batch: &RecordBatch,
        rows: &[usize],
    ) -> Result<Vec<f32>, ValidateError> {
        let mut out = vec![0.0f32; rows.len() * self.width];
        let mut offset = 0;
        let half = std::f32::consts::FRAC_1_SQRT_2;
        for (name, feature) in &self.columns {
            let array = column(batch, name)?;
            match feature {
                Feature::Numeric { low, span } => {
                    let values = as_f64(array)?;
                    for (r, &row) in rows.iter().enumerate() {
                        let cell = &mut out[r * self.width + offset..];
                        if values.is_null(row) {
                            cell[1] = 1.0;
                        } else {
                            cell[0] = ((values.value(row) - low) / span) as f32;
                        }
                    }
                    offset += 2;
                }
                Feature::Categorical { index } => {
                    let values = as_strings(array)?;
                    for (r, &row) in rows.iter().enumerate() {
                        let slot = if values.is_null(row) {
                            Some(index.len())
                        } else {
                            index.get(values.value(row)).copied()
                        };
                        if let Some(slot) = slot {
                            out[r * self.width + offset + slot] = half;
                        }
                    }
                    offset += index.len() + 1;
                }
            }
        }
        Ok(out)
    }
}

/// For each row of one table, its nearest row of another and the exact squared distance.
#[derive(Debug, Clone)]
pub(super) struct Neighbours {
    /// index of the nearest row
    pub index: Vec<usize>,
    /// squared distance to it, recomputed in f64
    pub distance: Vec<f64>,
}

fn exact(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum()
}

fn recheck(index: Vec<usize>, from: &[f32], to: &[f32], width: usize) -> Neighbours {
    let distance = index
        .iter()
        .enumerate()
        .map(|(i, &j)| {
            exact(
                &from[i * width..(i + 1) * width],
                &to[j * width..(j + 1) * width],
            )
        })
        .collect();
    Neighbours { index, distance }
}

/// Nearest `reference` row of each `queries` row (both row-major, `width` wide) and, when
/// `both_ways`, the nearest `queries` row of each `reference` row, from one pass of blocked
/// matrix products. Neither side may be empty.
pub(super) fn nearest(
    queries: &[f32],
    reference: &[f32],
    width: usize,
    both_ways: bool,
) -> Result<(Neighbours, Option<Neighbours>), ValidateError> {
    let what = "nearest neighbours";
    let n_ref = reference.len() / width;
    let n_queries = queries.len() / width;
    if n_ref == 0 || n_queries == 0 {
        return Err(failed(what));
    }
    if width <= DIRECT_WIDTH {
        let (forward, backward) = nearest_direct(queries, reference, width, both_ways);
        let forward = recheck(forward, queries, reference, width);
        let backward = backward.map(|index| recheck(index, reference, queries, width));
        return Ok((forward, backward));
    }
    let candle = |_: candle_core::Error| failed(what);
    let device = Device::Cpu;
    let reference_t = Tensor::from_slice(reference, (n_ref, width), &device)
        .and_then(|t| t.t()?.contiguous())
        .map_err(candle)?;
    let norm = |row: &[f32]| row.iter().map(|x| x * x).sum::<f32>();
    let reference_norms: Vec<f32> = reference.chunks(width).map(norm).collect();
    let mut best_reference = Vec::with_capacity(n_queries);
    let mut best_query = vec![(f32::INFINITY, 0usize); if both_ways { n_ref } else { 0 }];
    let block_rows = (BLOCK_ELEMENTS / n_ref).clamp(16, 4096);
    for (b, block) in queries.chunks(block_rows * width).enumerate() {
        let rows = block.len() / width;
        let dots = Tensor::from_slice(block, (rows, width), &device)
            .and_then(|q| q.matmul(&reference_t))
            .map_err(candle)?;
        let (storage, layout) = dots.storage_and_layout();
        let Storage::Cpu(cpu) = &*storage else {
            return Err(failed(what));
        };
        let dots = &cpu.as_slice::<f32>().map_err(candle)?[layout.start_offset()..];
        for r in 0..rows {
            let q_norm = norm(&block[r * width..(r + 1) * width]);
            let row = &dots[r * n_ref..(r + 1) * n_ref];
            let (mut best, mut best_j) = (f32::INFINITY, 0);
            for (j, (&dot, &r_norm)) in row.iter().zip(&reference_norms).enumerate() {
                // the query's own norm does not change which reference row is nearest
                let d = r_norm - 2.0 * dot;
                if d < best {
                    best = d;
                    best_j = j;
                }
            }
            best_reference.push(best_j);
            if both_ways {
                let query = b * block_rows + r;
                for (j, (&dot, &r_norm)) in row.iter().zip(&reference_norms).enumerate() {
                    let d = q_norm + r_norm - 2.0 * dot;
                    if d < best_query[j].0 {
                        best_query[j] = (d, query);
                    }
                }
            }
        }
    }
    let forward = recheck(best_reference, queries, reference, width);
    let backward = both_ways.then(|| {
        let index = best_query.into_iter().map(|(_, q)| q).collect();
        recheck(index, reference, queries, width)
    });
    Ok((forward, backward))
}

/// `rows` (row-major, `width` wide) padded with zeros to `W` wide; zeros add nothing to a
/// distance.
fn padded<const W: usize>(rows: &[f32], width: usize) -> Vec<[f32; W]> {
    rows.chunks_exact(width)
        .map(|row| {
            let mut out = [0.0; W];
            out[..width].copy_from_slice(row);
            out
        })
        .collect()
}

/// [`nearest`] for narrow embeddings: every distance computed directly, rows padded to a fixed
/// width the compiler vectorises, the query rows split over the machine's threads.
fn nearest_direct(
    queries: &[f32],
    reference: &[f32],
    width: usize,
    both_ways: bool,
) -> (Vec<usize>, Option<Vec<usize>>) {
    if width <= 4 {
        scan::<4>(
            &padded(queries, width),
            &padded(reference, width),
            both_ways,
        )
    } else if width <= 8 {
        scan::<8>(
            &padded(queries, width),
            &padded(reference, width),
            both_ways,
        )
    } else {
        scan::<DIRECT_WIDTH>(
            &padded(queries, width),
            &padded(reference, width),
            both_ways,
        )
    }
}

/// One thread's nearest reference row per query, and its best (distance, query) per reference
/// row.
type ThreadPart = (Vec<usize>, Vec<(f32, usize)>);

fn scan<const W: usize>(
    queries: &[[f32; W]],
    reference: &[[f32; W]],
    both_ways: bool,
) -> (Vec<usize>, Option<Vec<usize>>) {
    let n_ref = reference.len();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rows_per_thread = queries.len().div_ceil(threads).max(1);
    let distance = |a: &[f32; W], b: &[f32; W]| -> f32 {
        let mut d = [0.0f32; W];
        for k in 0..W {
            d[k] = (a[k] - b[k]) * (a[k] - b[k]);
        }
        d.iter().sum()
    };
    let parts: Vec<ThreadPart> = std::thread::scope(|scope| {
        let handles: Vec<_> = queries
            .chunks(rows_per_thread)
            .enumerate()
            .map(|(t, chunk)| {
                scope.spawn(move || {
                    let mut forward = Vec::with_capacity(chunk.len());
                    let mut backward = vec![(f32::INFINITY, 0); if both_ways { n_ref } else { 0 }];
                    for (r, q) in chunk.iter().enumerate() {
                        let (mut best, mut best_j) = (f32::INFINITY, 0);
                        for (j, row) in reference.iter().enumerate() {
                            let d = distance(q, row);
                            if d < best {
                                best = d;
                                best_j = j;
                            }
                            if both_ways && d < backward[j].0 {
                                backward[j] = (d, t * rows_per_thread + r);
                            }
                        }
                        forward.push(best_j);
                    }
                    (forward, backward)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a nearest-neighbour thread panicked"))
            .collect()
    });
    let mut forward = Vec::with_capacity(queries.len());
    let mut backward = vec![(f32::INFINITY, 0); if both_ways { n_ref } else { 0 }];
    for (part_forward, part_backward) in parts {
        forward.extend(part_forward);
        for (best, candidate) in backward.iter_mut().zip(part_backward) {
            if candidate.0 < best.0 {
                *best = candidate;
            }
        }
    }
    let backward = both_ways.then(|| backward.into_iter().map(|(_, q)| q).collect());
    (forward, backward)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close<'a>(pairs: impl Iterator<Item = (&'a f64, f64)>, tolerance: f64) {
        for (got, want) in pairs {
            assert!((got - want).abs() < tolerance, "{got} vs {want}");
        }
    }

    fn brute_force(from: &[f32], to: &[f32], width: usize) -> Vec<f64> {
        from.chunks(width)
            .map(|q| {
                to.chunks(width)
                    .map(|r| exact(q, r))
                    .fold(f64::INFINITY, f64::min)
            })
            .collect()
    }

    #[test]
    fn nearest_neighbours_match_a_brute_force_search_both_ways() {
        let width = 3;
        let reference: Vec<f32> = (0..300).map(|i| ((i * 37) % 101) as f32 / 101.0).collect();
        let queries: Vec<f32> = (0..90).map(|i| ((i * 53) % 97) as f32 / 97.0).collect();
        let (forward, backward) = nearest(&queries, &reference, width, true).unwrap();
        assert_close(
            forward
                .distance
                .iter()
                .zip(brute_force(&queries, &reference, width)),
            1e-6,
        );
        let backward = backward.unwrap();
        assert_eq!(backward.index.len(), 100);
        assert_close(
            backward
                .distance
                .iter()
                .zip(brute_force(&reference, &queries, width)),
            1e-6,
        );
    }

    #[test]
    fn wide_embeddings_through_the_matrix_product_match_a_brute_force_search() {
        let width = DIRECT_WIDTH + 5;
        let reference: Vec<f32> = (0..400 * width)
            .map(|i| ((i * 37) % 101) as f32 / 101.0)
            .collect();
        let queries: Vec<f32> = (0..70 * width)
            .map(|i| ((i * 53) % 97) as f32 / 97.0)
            .collect();
        let (forward, backward) = nearest(&queries, &reference, width, true).unwrap();
        assert_close(
            forward
                .distance
                .iter()
                .zip(brute_force(&queries, &reference, width)),
            1e-5,
        );
        assert_close(
            backward
                .unwrap()
                .distance
                .iter()
                .zip(brute_force(&reference, &queries, width)),
            1e-5,
        );
    }

    #[test]
    fn blocks_smaller_than_the_table_give_the_same_neighbours() {
        // more query rows than one block holds at this reference size
        let width = DIRECT_WIDTH + 1;
        let n_ref = BLOCK_ELEMENTS / 16 + 3;
        let reference: Vec<f32> = (0..n_ref * width)
            .map(|i| ((i * 7919) % 10007) as f32 / 10007.0)
            .collect();
        let queries: Vec<f32> = (0..40 * width)
            .map(|i| ((i * 104_729) % 1009) as f32 / 1009.0)
            .collect();
        let (forward, backward) = nearest(&queries, &reference, width, true).unwrap();
        assert_close(
            forward
                .distance
                .iter()
                .zip(brute_force(&queries, &reference, width)),
            1e-5,
        );
        let backward = backward.unwrap();
        let sample: Vec<f32> = reference[..50 * width].to_vec();
        assert_close(
            backward.distance[..50]
                .iter()
                .zip(brute_force(&sample, &queries, width)),
            1e-5,
        );
    }
}
