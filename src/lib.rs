//! synthgate turns a sensitive table into a synthetic one that is safe to publish.
//!
//! ```text
//! pipeline.toml ──► config::load ──► plan::make_plan (footers only: schema, row count;
//!                                     noise multiplier calibrated for the exact steps)
//! source ──► storage::read_source ──► run::split: train | holdout (holdout never trains)
//! train ──► schema::TableCodec::encode ──► train::train (DP-SGD DPGAN, privacy ledger)
//! generator ──► sample::Sampler (frozen, batches on every core) ──► staging Parquet
//! staging + train + holdout ──► validate (DataFusion SQL) ──► gate::GateVerdict
//!        ──► pass: storage::publish (data, then manifest.json, then latest)   fail: exit 3
//! ```
//!
//! Guarantees, each kept by the module named:
//! - the run spends at most the pipeline's epsilon, at its delta, accounted over every
//!   discriminator step with PLD or RDP ([`privacy`]);
//! - per-example gradients are clipped and noised with OS-seeded randomness ([`model`]);
//! - identifier columns never reach the model ([`schema`]);
//! - nothing is published unless every check passes, and a release is never partial
//!   ([`gate`], [`storage`]);
//! - no log line, error or released file holds a row value ([`report`], [`validate`]).

#![deny(missing_docs)]

pub mod budget;
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod evaluate;
pub mod fastmath;
pub mod gate;
pub mod interrupt;
pub mod model;
pub mod plan;
pub mod privacy;
pub mod progress;
pub mod report;
pub mod run;
pub mod sample;
pub mod schema;
pub mod storage;
pub mod train;
pub mod validate;

pub use error::Error;
