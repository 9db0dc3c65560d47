//! Searches in increasing tables through an index of equal-width buckets, for the decoders'
//! per-value lookups (a generator's quantiles, a distribution function's knots).

/// Buckets over the span of an increasing table, each holding the number of table entries
/// below its start, so that a search looks only at the entries near the query.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Buckets {
    /// per bucket, the entries below its start; then the table's length
    starts: Vec<usize>,
    first: f64,
    /// buckets per unit of the table's values
    scale: f64,
}

impl Buckets {
    /// An index of `count` buckets over `table` (increasing, not empty).
    pub(super) fn new<T: Copy + Into<f64>>(table: &[T], count: usize) -> Self {
        let first: f64 = table[0].into();
        let span = table[table.len() - 1].into() - first;
        let scale = if span > 0.0 { count as f64 / span } else { 0.0 };
        let mut starts: Vec<usize> = (0..count)
            .map(|b| {
                let start = if b == 0 {
                    first
                } else {
                    first + b as f64 / scale
                };
                table.partition_point(|&v| v.into() < start)
            })
            .collect();
        starts.push(table.len());
        Self {
            starts,
            first,
            scale,
        }
    }

    /// The number of entries of `table` (the table indexed) below `value`: what
    /// `table.partition_point(|v| v < value)` answers, by a search of the value's bucket and
    /// its neighbours. Entries before that window start below the value and entries after it
    /// end above it, so the answer lies within it; the two entries just outside are checked
    /// anyway (rounding of the bucket arithmetic on extreme spans), and the whole table is
    /// searched when either check fails.
    pub(super) fn count_below<T: Copy + Into<f64> + PartialOrd>(
        &self,
        table: &[T],
        value: T,
    ) -> usize {
        let buckets = self.starts.len() - 1;
        let position = (value.into() - self.first) * self.scale;
        if !(position >= 0.0 && position < buckets as f64) {
            return table.partition_point(|&v| v < value);
        }
        let bucket = position as usize;
        let low = self.starts[bucket.saturating_sub(1)];
        let high = self.starts[(bucket + 2).min(buckets)];
        let before_is_below = low == 0 || table[low - 1] < value;
        let after_is_above = high == table.len() || table[high] >= value;
        if before_is_below && after_is_above {
            low + table[low..high].partition_point(|&v| v < value)
        } else {
            table.partition_point(|&v| v < value)
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn the_index_finds_what_a_plain_search_finds(
            mut table in prop::collection::vec(-50.0f64..50.0, 1..300),
            bunches in prop::collection::vec(0usize..300, 0..5),
            repeats in prop::collection::vec(0usize..300, 0..5),
            queries in prop::collection::vec(-60.0f64..60.0, 1..60),
            count in 1usize..2000,
        ) {
            // some entries bunched into a tiny span, some repeated
            for &at in &bunches {
                let value = table[at % table.len()];
                table.extend((1..40).map(|k| value + k as f64 * 1e-9));
            }
            for &at in &repeats {
                let value = table[at % table.len()];
                table.extend([value; 3]);
            }
            table.sort_by(f64::total_cmp);
            let index = Buckets::new(&table, count);
            let probes = queries.iter().copied().chain(table.iter().flat_map(|&v| [v, v + 1e-10, v - 1e-10]));
            for value in probes {
                prop_assert_eq!(
                    index.count_below(&table, value),
                    table.partition_point(|&v| v < value),
                    "{}", value
                );
            }
        }
    }

    #[test]
    fn a_table_of_one_value_is_searched_whole() {
        let table = [2.0f32; 5];
        let index = Buckets::new(&table, 16);
        assert_eq!(index.count_below(&table, 2.0), 0);
        assert_eq!(index.count_below(&table, 2.5), 5);
        assert_eq!(index.count_below(&table, 1.0), 0);
    }
}
