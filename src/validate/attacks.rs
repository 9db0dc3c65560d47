//! Privacy attacks: exact copies and the range-query linkage attack.
//!
//! No query compares every target with every synthetic row: copies are hash semi-joins on all
//! learned columns, and range matching hashes each known value into buckets as wide as the
//! attacker's range, joins each target to the 3^k neighbouring buckets and only then filters.
//! Queries carry no literal from the data, only column names and the pipeline's widths.

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;

use super::targets::{Outcome, Tally};
use super::{CheckKind, CheckResult, ValidateError};
use crate::config::LinkageSpec;

/// A SQL identifier in double quotes.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The first row of `sql`'s result as non-negative integers (nulls as 0; no row: zeros).
async fn counts(ctx: &SessionContext, what: &str, sql: &str) -> Result<Vec<u64>, ValidateError> {
    // Over real rows an engine error is reported without its message, which may quote a row
    // value (a failed cast, say). User SQL was planned in `preflight` against empty tables,
    // where its errors were shown in full.
    let query_error = |_: datafusion::error::DataFusionError| ValidateError::Execution {
        what: what.to_owned(),
    };
    let batches = ctx
        .sql(sql)
        .await
        .map_err(query_error)?
        .collect()
        .await
        .map_err(query_error)?;
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        let width = batches.first().map_or(1, |b| b.num_columns());
        return Ok(vec![0; width]);
    };
    batch
        .columns()
        .iter()
        .map(|column| {
            let column = cast(column, &DataType::Int64).map_err(|e| {
                query_error(datafusion::error::DataFusionError::ArrowError(
                    Box::new(e),
                    None,
                ))
            })?;
            let column = column.as_any().downcast_ref::<Int64Array>();
            Ok(column
                .filter(|c| !c.is_null(0))
                .map(|c| c.value(0).max(0) as u64)
                .unwrap_or(0))
        })
        .collect()
}

async fn count(ctx: &SessionContext, what: &str, sql: &str) -> Result<u64, ValidateError> {
    Ok(counts(ctx, what, sql).await?.first().copied().unwrap_or(0))
}

/// Rows of `table`.
async fn rows(ctx: &SessionContext, what: &str, table: &str) -> Result<u64, ValidateError> {
    count(ctx, what, &format!("SELECT count(*) FROM {table}")).await
}

/// The tables an attack runs over: train targets, holdout targets, and whether these are every
/// person or the most exposed.
const GROUPS: [(&str, &str, &str); 2] = [
    ("real", "holdout", ""),
    ("exposed_train", "exposed_holdout", " (most exposed 1 %)"),
];

/// Share of train rows that appear verbatim (on every learned column) in the synthetic table,
/// against the same share of holdout rows; over every person and over the most exposed.
pub async fn exact_copies(
    ctx: &SessionContext,
    columns: &[String],
    max_risk: f64,
) -> Result<Vec<CheckResult>, ValidateError> {
    let what = "exact copies";
    let copied = |targets: &str, table: &str| {
        format!(
            "SELECT count(*) FROM {targets} t LEFT SEMI JOIN {table} s ON {}",
            equal_on(columns, "t", "s")
        )
    };
    let tally = async |targets: &str, table: &str| -> Result<Tally, ValidateError> {
        Ok(Tally {
            successes: count(ctx, what, &copied(targets, table)).await?,
            targets: rows(ctx, what, targets).await?,
        })
    };
    let mut results = Vec::new();
    for (train, holdout, suffix) in GROUPS {
        let outcome = Outcome {
            train: tally(train, "synthetic").await?,
            holdout: tally(holdout, "synthetic").await?,
            baseline: tally(train, "baseline").await?,
        };
        let check = if suffix.is_empty() {
            CheckResult::attack
        } else {
            CheckResult::exposed_attack
        };
        results.push(check(
            format!("exact copies{suffix}"),
            CheckKind::ExactCopies,
            outcome,
            max_risk,
        ));
    }
    let synthetic_copies = count(
        ctx,
        what,
        &format!(
            "SELECT count(*) FROM synthetic s LEFT SEMI JOIN real t ON {}",
            equal_on(columns, "s", "t")
        ),
    )
    .await?;
    results[0].details.insert(
        "synthetic_rows_equal_to_a_train_row".to_owned(),
        synthetic_copies.into(),
    );
    Ok(results)
}

/// `left.c IS NOT DISTINCT FROM right.c` over every column, joined by AND.
fn equal_on(columns: &[String], left: &str, right: &str) -> String {
    columns
        .iter()
        .map(|c| {
            format!(
                "({left}.{c} IS NOT DISTINCT FROM {right}.{c})",
                c = quote(c)
            )
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Share of synthetic rows equal (on every learned column) to a row that occurs exactly once in
/// the real table, train and holdout together: an absolute check, which the train-against-holdout
/// baseline of [`exact_copies`] cannot make for a table that copies everyone. The holdout's own
/// rate against rows unique in train is reported as a fresh sample's baseline.
pub async fn unique_copies(
    ctx: &SessionContext,
    columns: &[String],
    max_share: f64,
) -> Result<CheckResult, ValidateError> {
    let what = "unique copies";
    let list = columns
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(", ");
    let unique_in = |tables: &str| {
        format!("(SELECT {list} FROM ({tables}) GROUP BY {list} HAVING count(*) = 1)")
    };
    let real = format!("SELECT {list} FROM real UNION ALL SELECT {list} FROM holdout");
    let copied = count(
        ctx,
        what,
        &format!(
            "SELECT count(*) FROM synthetic s LEFT SEMI JOIN {} u ON {}",
            unique_in(&real),
            equal_on(columns, "s", "u")
        ),
    )
    .await?;
    let synthetic_rows = count(ctx, what, "SELECT count(*) FROM synthetic").await?;
    let baseline = count(
        ctx,
        what,
        &format!(
            "SELECT count(*) FROM holdout h LEFT SEMI JOIN {} u ON {}",
            unique_in(&format!("SELECT {list} FROM real")),
            equal_on(columns, "h", "u")
        ),
    )
    .await?;
    let holdout_rows = count(ctx, what, "SELECT count(*) FROM holdout").await?;
    let share = |part: u64, whole: u64| {
        if whole == 0 {
            0.0
        } else {
            part as f64 / whole as f64
        }
    };
    let mut result = CheckResult::bounded(
        "copies of unique real rows".to_owned(),
        CheckKind::UniqueCopies,
        share(copied, synthetic_rows),
        None,
        Some(max_share),
    );
    result.details.insert(
        "holdout_share_equal_to_a_row_unique_in_train".to_owned(),
        share(baseline, holdout_rows).into(),
    );
    Ok(result)
}

/// A column the linkage attack compares after a unique match: numbers within a tolerance of
/// their real range, anything else exactly.
pub struct Revealed {
    /// column name
    pub name: String,
    /// whether it is compared as a number within the tolerance
    pub within_tolerance: bool,
}

/// The prototype's range query run for every train and every holdout person: a person is found
/// when exactly one synthetic row lies within the range on every known column, and that row
/// reveals them when it also matches every other learned column (`others`), numbers within
/// `spec.tolerance` of the column's real range. Four checks: found and revealed, over every
/// person and over the most exposed.
pub async fn linkage(
    ctx: &SessionContext,
    spec: &LinkageSpec,
    others: &[Revealed],
) -> Result<Vec<CheckResult>, ValidateError> {
    let what = "linkage";
    let mut found = Vec::new();
    let mut revealed = Vec::new();
    for (train, holdout, suffix) in GROUPS {
        let mut tallies = Vec::new();
        for (targets, table) in [
            (train, "synthetic"),
            (holdout, "synthetic"),
            (train, "baseline"),
        ] {
            let hits = counts(ctx, what, &linkage_sql(targets, table, spec, others)).await?;
            let people = rows(ctx, what, targets).await?;
            let tally = |successes| Tally {
                successes,
                targets: people,
            };
            tallies.push((tally(hits[0]), tally(hits[1])));
        }
        let outcome = |pick: fn(&(Tally, Tally)) -> Tally| Outcome {
            train: pick(&tallies[0]),
            holdout: pick(&tallies[1]),
            baseline: pick(&tallies[2]),
        };
        let check = if suffix.is_empty() {
            CheckResult::attack
        } else {
            CheckResult::exposed_attack
        };
        found.push(check(
            format!("linkage{suffix}"),
            CheckKind::Linkage,
            outcome(|t| t.0),
            spec.max_risk,
        ));
        revealed.push(check(
            format!("linkage revealing the other columns{suffix}"),
            CheckKind::LinkageRevealing,
            outcome(|t| t.1),
            spec.max_risk,
        ));
    }
    found.extend(revealed);
    Ok(found)
}

fn linkage_sql(targets: &str, table: &str, spec: &LinkageSpec, others: &[Revealed]) -> String {
    let keys: Vec<(String, String)> = spec
        .known
        .iter()
        .map(|(column, width)| {
            let value = format!("CAST({} AS DOUBLE)", quote(column));
            (format!("CAST(floor({value} / {width:?}) AS BIGINT)"), value)
        })
        .collect();
    let other_value = |other: &Revealed| {
        if other.within_tolerance {
            format!("CAST({} AS DOUBLE)", quote(&other.name))
        } else {
            quote(&other.name)
        }
    };
    let projection = |with_id: bool| {
        let mut parts: Vec<String> = keys
            .iter()
            .enumerate()
            .flat_map(|(i, (bucket, value))| {
                [format!("{bucket} AS b{i}"), format!("{value} AS v{i}")]
            })
            .collect();
        parts.extend(
            others
                .iter()
                .enumerate()
                .map(|(j, other)| format!("{} AS r{j}", other_value(other))),
        );
        if with_id {
            parts.insert(0, "row_number() OVER () AS tid".to_owned());
        }
        parts.join(", ")
    };
    // the real range of each column compared within a tolerance, from the train rows
    let mut spreads: Vec<String> = others
        .iter()
        .enumerate()
        .filter(|(_, other)| other.within_tolerance)
        .map(|(j, other)| {
            let value = other_value(other);
            format!("max({value}) - min({value}) AS w{j}")
        })
        .collect();
    if spreads.is_empty() {
        spreads.push("1 AS w".to_owned());
    }
    let mut expanded_columns: Vec<String> = (0..keys.len())
        .flat_map(|i| [format!("t.b{i} + o{i}.d AS b{i}"), format!("t.v{i}")])
        .collect();
    expanded_columns.extend((0..others.len()).map(|j| format!("t.r{j}")));
    expanded_columns.push("w.*".to_owned());
    let offsets: Vec<String> = (0..keys.len())
        .map(|i| format!("CROSS JOIN offsets o{i}"))
        .collect();
    let join_on: Vec<String> = (0..keys.len())
        .map(|i| format!("e.b{i} = s.b{i}"))
        .collect();
    let within: Vec<String> = spec
        .known
        .iter()
        .enumerate()
        .map(|(i, (_, width))| format!("abs(s.v{i} - e.v{i}) <= {width:?}"))
        .collect();
    let mut reveals: Vec<String> = others
        .iter()
        .enumerate()
        .map(|(j, other)| {
            if other.within_tolerance {
                format!(
                    "((s.r{j} IS NULL AND e.r{j} IS NULL) OR abs(s.r{j} - e.r{j}) <= {tol:?} * e.w{j})",
                    tol = spec.tolerance
                )
            } else {
                format!("(s.r{j} IS NOT DISTINCT FROM e.r{j})")
            }
        })
        .collect();
    if reveals.is_empty() {
        reveals.push("TRUE".to_owned());
    }
    format!(
        "WITH offsets AS (SELECT column1 AS d FROM (VALUES (-1), (0), (1))), \
         spread AS (SELECT {spreads} FROM real), \
         syn AS (SELECT {syn} FROM {table}), \
         tgt AS (SELECT {tgt} FROM {targets}), \
         expanded AS (SELECT t.tid, {expanded} FROM tgt t CROSS JOIN spread w {offsets}), \
         matched AS (SELECT e.tid, count(*) AS matches, \
                            min(CASE WHEN {reveals} THEN 1 ELSE 0 END) AS reveals \
                     FROM expanded e JOIN syn s ON {join_on} WHERE {within} GROUP BY e.tid) \
         SELECT sum(CASE WHEN matches = 1 THEN 1 ELSE 0 END), \
                sum(CASE WHEN matches = 1 AND reveals = 1 THEN 1 ELSE 0 END) FROM matched",
        spreads = spreads.join(", "),
        syn = projection(false),
        tgt = projection(true),
        expanded = expanded_columns.join(", "),
        offsets = offsets.join(" "),
        join_on = join_on.join(" AND "),
        within = within.join(" AND "),
        reveals = reveals.join(" AND "),
    )
}
