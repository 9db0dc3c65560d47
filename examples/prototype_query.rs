//! The prototype's leak test: how many rows of a table lie in its box around one person
//! (feature 1 between -150 and -100, features 2 and 3 between 0 and 5). Prints counts only.
//!
//! `cargo run --release --example prototype_query -- TABLE.parquet...`

use datafusion::prelude::{ParquetReadOptions, SessionContext};

const BOX: &str = "sensitive_feature1 BETWEEN -150 AND -100 \
                   AND sensitive_feature2 BETWEEN 0 AND 5 \
                   AND sensitive_feature3 BETWEEN 0 AND 5";

#[tokio::main]
async fn main() -> datafusion::error::Result<()> {
    let tables: Vec<String> = std::env::args().skip(1).collect();
    if tables.is_empty() {
        eprintln!("usage: prototype_query TABLE.parquet...");
        std::process::exit(2);
    }
    for path in tables {
        let ctx = SessionContext::new();
        ctx.register_parquet("t", &path, ParquetReadOptions::default())
            .await?;
        let sql = format!(
            "SELECT count(*) AS rows, sum(CASE WHEN {BOX} THEN 1 ELSE 0 END) AS in_box FROM t"
        );
        let batches = ctx.sql(&sql).await?.collect().await?;
        let column = |i: usize| {
            datafusion::arrow::compute::cast(
                batches[0].column(i),
                &datafusion::arrow::datatypes::DataType::Int64,
            )
            .map(|a| {
                a.as_any()
                    .downcast_ref::<datafusion::arrow::array::Int64Array>()
                    .map_or(0, |a| a.value(0))
            })
        };
        println!("{path}: {} rows, {} in the box", column(0)?, column(1)?);
    }
    Ok(())
}
