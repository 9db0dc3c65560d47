//! Workload error: each `[[query]]`, a GROUP BY aggregate the user cares about, runs on the
//! real (train) rows and on the synthetic rows, and its check is the mean relative error
//! |synthetic - real| / |real| over the groups with at least [`MIN_GROUP_ROWS`] real rows.
//!
//! A group the synthetic table lacks, or where its aggregate is null, counts as error 1 (as if
//! it answered 0). Groups whose real answer is 0 or null have no relative error and are left
//! out. Group keys are row values: they stay in memory and appear in no log, error or report.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, Float64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;

use super::{CheckKind, CheckResult, ValidateError};
use crate::config::QuerySpec;

/// Fewest real rows a group needs to be compared: below it the real answer is itself noise.
pub const MIN_GROUP_ROWS: u64 = 30;

/// The SQL name of a column, quoted.
fn quoted(column: &str) -> String {
    format!("\"{}\"", column.replace('"', "\"\""))
}

/// The query over `table`: keys, then the aggregate, then the group's row count.
pub(super) fn sql(spec: &QuerySpec, table: &str) -> String {
    let keys: Vec<String> = spec.group_by.iter().map(|c| quoted(c)).collect();
    let keys = keys.join(", ");
    let filter = spec
        .filter
        .as_ref()
        .map(|f| format!(" WHERE ({f})"))
        .unwrap_or_default();
    format!(
        "SELECT {keys}, ({}) AS synthgate_value, count(*) AS synthgate_rows \
         FROM {table}{filter} GROUP BY {keys}",
        spec.aggregate
    )
}

/// Plans the query on both tables (empty in preflight): errors name the query, and the
/// aggregate must be a number.
pub(super) async fn plan(ctx: &SessionContext, spec: &QuerySpec) -> Result<(), ValidateError> {
    for table in ["real", "synthetic"] {
        let frame =
            ctx.sql(&sql(spec, table))
                .await
                .map_err(|source| ValidateError::InvalidSql {
                    check: spec.name.clone(),
                    source,
                })?;
        let value = frame.schema().field(spec.group_by.len());
        if !value.data_type().is_numeric() {
            return Err(ValidateError::BadShape {
                check: spec.name.clone(),
                reason: format!(
                    "its aggregate returns {}; a query compares numbers",
                    value.data_type()
                ),
            });
        }
    }
    Ok(())
}

/// Group key -> (aggregate, rows).
type Answers = HashMap<Vec<Option<String>>, (Option<f64>, u64)>;

async fn answers(
    ctx: &SessionContext,
    spec: &QuerySpec,
    table: &str,
) -> Result<Answers, ValidateError> {
    // The engine's message over real rows may quote a value: withheld, as for user checks.
    let failed = |_| ValidateError::Execution {
        what: spec.name.clone(),
    };
    let batches = ctx
        .sql(&sql(spec, table))
        .await
        .map_err(failed)?
        .collect()
        .await
        .map_err(failed)?;
    let keys = spec.group_by.len();
    let mut out = HashMap::new();
    for batch in &batches {
        let failed = || ValidateError::Execution {
            what: spec.name.clone(),
        };
        let strings = (0..keys)
            .map(|k| {
                cast(batch.column(k), &DataType::Utf8)
                    .ok()
                    .and_then(|a| a.as_any().downcast_ref::<StringArray>().cloned())
                    .ok_or_else(failed)
            })
            .collect::<Result<Vec<_>, ValidateError>>()?;
        let values = numbers(batch, keys, spec)?;
        let rows = numbers(batch, keys + 1, spec)?;
        for row in 0..batch.num_rows() {
            let key = strings
                .iter()
                .map(|s| (!s.is_null(row)).then(|| s.value(row).to_owned()))
                .collect();
            let value = (!values.is_null(row)).then(|| values.value(row));
            out.insert(key, (value, rows.value(row) as u64));
        }
    }
    Ok(out)
}

fn numbers(
    batch: &RecordBatch,
    column: usize,
    spec: &QuerySpec,
) -> Result<Float64Array, ValidateError> {
    cast(batch.column(column), &DataType::Float64)
        .ok()
        .and_then(|a| a.as_any().downcast_ref::<Float64Array>().cloned())
        .ok_or_else(|| ValidateError::Execution {
            what: spec.name.clone(),
        })
}

/// The relative errors of the synthetic answers on the real groups that qualify, and how many
/// groups were left out (too few rows; a real answer of 0 or null).
pub fn relative_errors(real: &Answers, synthetic: &Answers) -> (Vec<f64>, usize, usize) {
    let (mut errors, mut small, mut undefined) = (Vec::new(), 0, 0);
    for (key, (value, rows)) in real {
        if *rows < MIN_GROUP_ROWS {
            small += 1;
            continue;
        }
        let Some(value) = value.filter(|v| *v != 0.0 && v.is_finite()) else {
            undefined += 1;
            continue;
        };
        let error = match synthetic.get(key).and_then(|(s, _)| *s) {
            Some(answer) => (answer - value).abs() / value.abs(),
            None => 1.0,
        };
        errors.push(error);
    }
    (errors, small, undefined)
}

/// The check of one query.
pub(super) async fn workload_check(
    ctx: &SessionContext,
    spec: &QuerySpec,
) -> Result<CheckResult, ValidateError> {
    let real = answers(ctx, spec, "real").await?;
    let synthetic = answers(ctx, spec, "synthetic").await?;
    let (errors, small, undefined) = relative_errors(&real, &synthetic);
    let mean = if errors.is_empty() {
        f64::NAN
    } else {
        errors.iter().sum::<f64>() / errors.len() as f64
    };
    let mut result = CheckResult::bounded(
        spec.name.clone(),
        CheckKind::Workload,
        mean,
        None,
        Some(spec.max_error),
    );
    result
        .details
        .insert("groups_compared".into(), errors.len().into());
    result
        .details
        .insert("groups_too_small".into(), small.into());
    result
        .details
        .insert("groups_without_relative_error".into(), undefined.into());
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(entries: &[(&str, Option<f64>, u64)]) -> Answers {
        entries
            .iter()
            .map(|(key, value, rows)| (vec![Some((*key).to_owned())], (*value, *rows)))
            .collect()
    }

    #[test]
    fn relative_errors_of_a_worked_example() {
        let real = answers(&[
            ("a", Some(10.0), 100), // synthetic 12: error 0.2
            ("b", Some(-4.0), 30),  // synthetic -3: error 0.25
            ("c", Some(5.0), 29),   // too small
            ("d", Some(0.0), 50),   // no relative error
            ("e", Some(8.0), 40),   // missing in synthetic: error 1
            ("f", Some(2.0), 40),   // null in synthetic: error 1
        ]);
        let synthetic = answers(&[
            ("a", Some(12.0), 90),
            ("b", Some(-3.0), 3),
            ("c", Some(50.0), 30),
            ("f", None, 12),
            ("z", Some(1.0), 500),
        ]);
        let (mut errors, small, undefined) = relative_errors(&real, &synthetic);
        errors.sort_by(f64::total_cmp);
        assert_eq!((small, undefined), (1, 1));
        assert_eq!(errors.len(), 4);
        let expected = [0.2, 0.25, 1.0, 1.0];
        for (got, want) in errors.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{got} != {want}");
        }
    }

    #[test]
    fn the_query_quotes_its_columns_and_applies_its_filter() {
        let spec = QuerySpec {
            name: "q".into(),
            group_by: vec!["education".into(), "marital-status".into()],
            aggregate: "avg(age)".into(),
            filter: Some("age > 30".into()),
            max_error: 0.1,
        };
        assert_eq!(
            sql(&spec, "real"),
            "SELECT \"education\", \"marital-status\", (avg(age)) AS synthgate_value, \
             count(*) AS synthgate_rows FROM real WHERE (age > 30) GROUP BY \"education\", \
             \"marital-status\""
        );
    }
}
