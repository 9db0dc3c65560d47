//! Made-up personal names for identifier columns.
//!
//! Names are built from syllables with the pipeline's seeded generator. They depend on nothing
//! in the data, so they reveal nothing, and built syllable by syllable they are unlikely to be
//! anybody's real name.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::Field;
use rand::Rng;
use rand::seq::IndexedRandom;

use super::SchemaError;

const ONSETS: &[&str] = &[
    "b", "br", "d", "dr", "f", "g", "gr", "h", "k", "kl", "l", "m", "n", "p", "r", "s", "sh", "t",
    "th", "v", "z",
];
const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ae", "io", "ou"];
const CODAS: &[&str] = &["", "", "", "n", "r", "l", "s", "th", "m", "x"];

fn word<R: Rng>(rng: &mut R, syllables: usize) -> String {
    let mut text = String::new();
    for _ in 0..syllables {
        text.push_str(ONSETS.choose(rng).copied().unwrap_or("b"));
        text.push_str(VOWELS.choose(rng).copied().unwrap_or("a"));
    }
    text.push_str(CODAS.choose(rng).copied().unwrap_or(""));
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

/// `rows` made-up "Given Family" names in `field`'s string type.
pub(super) fn fake_names<R: Rng>(
    field: &Field,
    rows: usize,
    rng: &mut R,
) -> Result<ArrayRef, SchemaError> {
    let names: StringArray = (0..rows)
        .map(|_| {
            let given = rng.random_range(2..=3);
            let family = rng.random_range(2..=3);
            Some(format!("{} {}", word(rng, given), word(rng, family)))
        })
        .collect();
    let names: ArrayRef = Arc::new(names);
    cast(&names, field.data_type()).map_err(|source| SchemaError::Arrow {
        column: field.name().clone(),
        source,
    })
}
