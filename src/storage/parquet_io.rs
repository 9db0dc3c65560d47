//! Parquet reading through DataFusion and writing with the parquet crate.

use std::fs::File;
use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use super::{Location, StorageError, io_error};

/// A DataFusion session that keeps Parquet's Arrow types as written (no view types), so the
/// release has the source's schema.
pub fn session_context() -> SessionContext {
    let config = datafusion::prelude::SessionConfig::new().set_bool(
        "datafusion.execution.parquet.schema_force_view_types",
        false,
    );
    SessionContext::new_with_config(config)
}

/// What the Parquet footers say about a source, without reading a row.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    /// The files, sorted by path.
    pub files: Vec<PathBuf>,
    /// The Arrow schema (the same in every file).
    pub schema: SchemaRef,
    /// Total rows, public in synthgate's privacy model.
    pub row_count: usize,
}

/// Lists the source's files and reads their footers: schema and row counts.
pub fn inspect_source(location: &Location) -> Result<SourceInfo, StorageError> {
    let path = location.path();
    if !path.exists() {
        return Err(StorageError::NotFound {
            path: path.to_owned(),
        });
    }
    let files = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(io_error(path))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|ext| ext == "parquet"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(StorageError::EmptyFolder {
                path: path.to_owned(),
            });
        }
        files
    } else {
        vec![path.to_owned()]
    };

    let mut schema: Option<SchemaRef> = None;
    let mut row_count = 0usize;
    for file in &files {
        let bad = |reason: String| StorageError::BadParquet {
            path: file.clone(),
            reason,
        };
        let handle = File::open(file).map_err(io_error(file))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(handle)
            .map_err(|error| bad(format!("not a Parquet file ({error})")))?;
        row_count += builder.metadata().file_metadata().num_rows() as usize;
        let file_schema = builder.schema().clone();
        match &schema {
            None => schema = Some(file_schema),
            Some(first) if first.fields() != file_schema.fields() => {
                return Err(bad(format!(
                    "its schema differs from that of {}",
                    files[0].display()
                )));
            }
            Some(_) => {}
        }
    }
    let schema = schema.ok_or_else(|| StorageError::EmptyFolder {
        path: path.to_owned(),
    })?;
    Ok(SourceInfo {
        files,
        schema,
        row_count,
    })
}

/// Reads every row of the source through DataFusion, keeping the file's Arrow types.
pub async fn read_source(
    ctx: &SessionContext,
    info: &SourceInfo,
) -> Result<Vec<RecordBatch>, StorageError> {
    let mut batches = Vec::new();
    for file in &info.files {
        let query_error = |source| StorageError::Query {
            path: file.clone(),
            source,
        };
        let path = file.to_str().ok_or_else(|| StorageError::BadParquet {
            path: file.clone(),
            reason: "the path is not valid UTF-8".to_owned(),
        })?;
        let options = ParquetReadOptions::default().schema(&info.schema);
        let frame = ctx.read_parquet(path, options).await.map_err(query_error)?;
        batches.extend(frame.collect().await.map_err(query_error)?);
    }
    Ok(batches)
}

/// A Parquet file written to staging.
#[derive(Debug, Clone)]
pub struct StagedFile {
    /// Where it is.
    pub path: PathBuf,
    /// Rows in it.
    pub rows: usize,
}

/// Writes batches produced one at a time to one Parquet file (zstd), so memory stays bounded by
/// one batch and the writer's row group buffer.
pub fn write_parquet<I, E>(path: &Path, schema: SchemaRef, batches: I) -> Result<StagedFile, E>
where
    I: IntoIterator<Item = Result<RecordBatch, E>>,
    E: From<StorageError>,
{
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    let write_error = |source| StorageError::Write {
        path: path.to_owned(),
        source,
    };
    let file = File::create(path).map_err(io_error(path))?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut writer = ArrowWriter::try_new(file, schema, Some(properties)).map_err(write_error)?;
    let mut rows = 0;
    for batch in batches {
        let batch = batch?;
        rows += batch.num_rows();
        writer.write(&batch).map_err(write_error)?;
    }
    let file = writer.into_inner().map_err(write_error)?;
    file.sync_all().map_err(io_error(path))?;
    Ok(StagedFile {
        path: path.to_owned(),
        rows,
    })
}
