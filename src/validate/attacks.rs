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

use super::stats::risk;
use super::{CheckKind, CheckResult, ValidateError};
use crate::config::LinkageSpec;

/// A SQL identifier in double quotes.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn count(ctx: &SessionContext, what: &str, sql: &str) -> Result<u64, ValidateError> {
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
    let batch = batches.iter().find(|b| b.num_rows() > 0);
    let Some(batch) = batch else { return Ok(0) };
    let column = cast(batch.column(0), &DataType::Int64).map_err(|e| {
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
}

/// Share of train rows that appear verbatim (on every learned column) in the synthetic table,
/// against the same share of holdout rows.
pub async fn exact_copies(
    ctx: &SessionContext,
    columns: &[String],
    max_risk: f64,
) -> Result<CheckResult, ValidateError> {
    let on = |left: &str, right: &str| equal_on(columns, left, right);
    let copied = |targets: &str| {
        format!(
            "SELECT count(*) FROM {targets} t LEFT SEMI JOIN synthetic s ON {}",
            on("t", "s")
        )
    };
    let what = "exact copies";
    let train_copied = count(ctx, what, &copied("real")).await?;
    let holdout_copied = count(ctx, what, &copied("holdout")).await?;
    let train_rows = count(ctx, what, "SELECT count(*) FROM real").await?;
    let holdout_rows = count(ctx, what, "SELECT count(*) FROM holdout").await?;
    let synthetic_copies = count(
        ctx,
        what,
        &format!(
            "SELECT count(*) FROM synthetic s LEFT SEMI JOIN real t ON {}",
            on("s", "t")
        ),
    )
    .await?;

    let risk = risk(train_copied, train_rows, holdout_copied, holdout_rows);
    let mut result = CheckResult::bounded(
        "exact copies".to_owned(),
        CheckKind::ExactCopies,
        risk.high,
        None,
        Some(max_risk),
    );
    result.risk = Some(risk);
    result.details.insert(
        "synthetic_rows_equal_to_a_train_row".to_owned(),
        synthetic_copies.into(),
    );
    Ok(result)
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

/// The prototype's range query run for every train and every holdout person: a person is found
/// when exactly one synthetic row lies within the range on every known column.
pub async fn linkage(
    ctx: &SessionContext,
    spec: &LinkageSpec,
) -> Result<CheckResult, ValidateError> {
    let found = |targets: &str| linkage_sql(targets, spec);
    let what = "linkage";
    let train_found = count(ctx, what, &found("real")).await?;
    let holdout_found = count(ctx, what, &found("holdout")).await?;
    let train_rows = count(ctx, what, "SELECT count(*) FROM real").await?;
    let holdout_rows = count(ctx, what, "SELECT count(*) FROM holdout").await?;
    let risk = risk(train_found, train_rows, holdout_found, holdout_rows);
    let mut result = CheckResult::bounded(
        "linkage".to_owned(),
        CheckKind::Linkage,
        risk.high,
        None,
        Some(spec.max_risk),
    );
    result.risk = Some(risk);
    Ok(result)
}

fn linkage_sql(targets: &str, spec: &LinkageSpec) -> String {
    let keys: Vec<(String, String)> = spec
        .known
        .iter()
        .map(|(column, width)| {
            let value = format!("CAST({} AS DOUBLE)", quote(column));
            (format!("CAST(floor({value} / {width:?}) AS BIGINT)"), value)
        })
        .collect();
    let projection = |with_id: bool| {
        let mut parts: Vec<String> = keys
            .iter()
            .enumerate()
            .flat_map(|(i, (bucket, value))| {
                [format!("{bucket} AS b{i}"), format!("{value} AS v{i}")]
            })
            .collect();
        if with_id {
            parts.insert(0, "row_number() OVER () AS tid".to_owned());
        }
        parts.join(", ")
    };
    let expanded_columns: Vec<String> = (0..keys.len())
        .flat_map(|i| [format!("t.b{i} + o{i}.d AS b{i}"), format!("t.v{i}")])
        .collect();
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
    format!(
        "WITH offsets AS (SELECT column1 AS d FROM (VALUES (-1), (0), (1))), \
         syn AS (SELECT {syn} FROM synthetic), \
         tgt AS (SELECT {tgt} FROM {targets}), \
         expanded AS (SELECT t.tid, {expanded} FROM tgt t {offsets}), \
         matched AS (SELECT e.tid, count(*) AS matches FROM expanded e JOIN syn s ON {join_on} \
                     WHERE {within} GROUP BY e.tid) \
         SELECT count(*) FROM matched WHERE matches = 1",
        syn = projection(false),
        tgt = projection(true),
        expanded = expanded_columns.join(", "),
        offsets = offsets.join(" "),
        join_on = join_on.join(" AND "),
        within = within.join(" AND "),
    )
}
