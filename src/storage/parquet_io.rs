//! Parquet reading through DataFusion and writing with the parquet crate.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::arrow_writer::{ArrowColumnWriter, compute_leaves};
use datafusion::parquet::arrow::{ArrowWriter, parquet_to_arrow_schema};
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::ParquetMetaDataReader;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::file::writer::SerializedFileWriter;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use rayon::prelude::*;

use super::remote::{RemoteUrl, redact_credentials};
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
    /// The files, sorted by path: local paths or object-store URLs.
    pub files: Vec<PathBuf>,
    /// The object store the files are in, with the root DataFusion registers it at.
    pub store: Option<(url::Url, Arc<dyn ObjectStore>)>,
    /// The Arrow schema (the same in every file).
    pub schema: SchemaRef,
    /// Total rows, public in synthgate's privacy model.
    pub row_count: usize,
}

/// Lists the source's files and reads their footers: schema and row counts.
pub async fn inspect_source(location: &Location) -> Result<SourceInfo, StorageError> {
    match location {
        Location::Local(path) => inspect_local(path),
        Location::Remote(url) => inspect_remote(url).await,
    }
}

/// Checks that every file has the first one's schema.
fn same_schema(
    schema: &mut Option<SchemaRef>,
    file_schema: SchemaRef,
    first: &Path,
    bad: impl FnOnce(String) -> StorageError,
) -> Result<(), StorageError> {
    match schema {
        None => *schema = Some(file_schema),
        Some(known) if known.fields() != file_schema.fields() => {
            return Err(bad(format!(
                "its schema differs from that of {}",
                first.display()
            )));
        }
        Some(_) => {}
    }
    Ok(())
}

async fn inspect_remote(url: &RemoteUrl) -> Result<SourceInfo, StorageError> {
    let store = url.store()?;
    let objects = if url.object_path().as_ref().ends_with(".parquet") {
        let meta = store
            .head(&url.object_path())
            .await
            .map_err(url.error("read"))?;
        vec![(meta.location, meta.size)]
    } else if url.is_writable() {
        url.list_parquet(&*store).await?
    } else {
        return Err(StorageError::BadUrl {
            url: url.to_string(),
            reason: "an http(s):// source must name one .parquet file; folders can only be \
                     listed in s3://, gs:// and az://"
                .to_owned(),
        });
    };
    if objects.is_empty() {
        return Err(StorageError::EmptyFolder {
            path: PathBuf::from(url.to_string()),
        });
    }
    let mut files = Vec::with_capacity(objects.len());
    let mut schema: Option<SchemaRef> = None;
    let mut row_count = 0usize;
    for (object, size) in objects {
        let file = PathBuf::from(url.url_of(&object));
        let bad = |reason: String| StorageError::BadParquet {
            path: file.clone(),
            reason,
        };
        let (rows, file_schema) =
            remote_footer(&*store, &object, size)
                .await
                .map_err(|reason| match reason {
                    Footer::Store(error) => StorageError::Store {
                        url: file.display().to_string(),
                        operation: "read",
                        reason: redact_credentials(&error.to_string()),
                    },
                    Footer::Parquet(error) => bad(format!("not a Parquet file ({error})")),
                })?;
        row_count += rows;
        let first = files.first().cloned().unwrap_or_else(|| file.clone());
        same_schema(&mut schema, file_schema, &first, bad)?;
        files.push(file);
    }
    let schema = schema.ok_or_else(|| StorageError::EmptyFolder {
        path: PathBuf::from(url.to_string()),
    })?;
    Ok(SourceInfo {
        files,
        store: Some((url.root(), store)),
        schema,
        row_count,
    })
}

enum Footer {
    Store(object_store::Error),
    Parquet(ParquetError),
}

/// Row count and Arrow schema from the footer of a Parquet object of `size` bytes: fetches a
/// tail of the object, more if the footer asks for it, never the rows.
async fn remote_footer(
    store: &dyn ObjectStore,
    object: &ObjectPath,
    size: u64,
) -> Result<(usize, SchemaRef), Footer> {
    let mut tail = size.min(64 * 1024);
    let mut reader = ParquetMetaDataReader::new();
    loop {
        let bytes = store
            .get_range(object, size - tail..size)
            .await
            .map_err(Footer::Store)?;
        match reader.try_parse_sized(&bytes, size) {
            Ok(()) => break,
            Err(ParquetError::NeedMoreData(needed)) if (needed as u64) > tail => {
                tail = (needed as u64).min(size);
            }
            Err(error) => return Err(Footer::Parquet(error)),
        }
    }
    let metadata = reader.finish().map_err(Footer::Parquet)?;
    let file = metadata.file_metadata();
    let schema = parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata())
        .map_err(Footer::Parquet)?;
    Ok((file.num_rows() as usize, Arc::new(schema)))
}

fn inspect_local(path: &Path) -> Result<SourceInfo, StorageError> {
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
        same_schema(&mut schema, builder.schema().clone(), &files[0], bad)?;
    }
    let schema = schema.ok_or_else(|| StorageError::EmptyFolder {
        path: path.to_owned(),
    })?;
    Ok(SourceInfo {
        files,
        store: None,
        schema,
        row_count,
    })
}

/// Reads every row of the source through DataFusion, keeping the file's Arrow types.
pub async fn read_source(
    ctx: &SessionContext,
    info: &SourceInfo,
) -> Result<Vec<RecordBatch>, StorageError> {
    if let Some((root, store)) = &info.store {
        ctx.register_object_store(root, store.clone());
    }
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

/// Rows in each row group the writer closes (the parquet crate's own default size).
const ROW_GROUP_ROWS: usize = 1024 * 1024;

/// Writes batches produced one at a time to one Parquet file (zstd), so memory stays bounded by
/// one batch and the encoded row group in progress. Each batch's columns are encoded in
/// parallel on rayon's threads (one column writer each), and the row group's column chunks are
/// appended in schema order when it reaches [`ROW_GROUP_ROWS`] rows, so the file is the same as
/// a serial writer's.
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
    let (mut file_writer, factory) = ArrowWriter::try_new(file, schema.clone(), Some(properties))
        .and_then(ArrowWriter::into_serialized_writer)
        .map_err(write_error)?;
    // the row group being written; the next one's writers are made only once the last one
    // is closed, so two row groups' buffers are never held at once
    let mut group: Option<RowGroup> = None;
    let mut rows = 0;
    for batch in batches {
        let batch = batch?;
        rows += batch.num_rows();
        let mut current = match group.take() {
            Some(current) => current,
            None => RowGroup {
                writers: factory
                    .create_column_writers(file_writer.flushed_row_groups().len())
                    .map_err(write_error)?,
                rows: 0,
            },
        };
        current.write(&schema, &batch).map_err(write_error)?;
        if current.rows >= ROW_GROUP_ROWS {
            current.append_to(&mut file_writer).map_err(write_error)?;
        } else {
            group = Some(current);
        }
    }
    if let Some(last) = group {
        last.append_to(&mut file_writer).map_err(write_error)?;
    }
    let file = file_writer.into_inner().map_err(write_error)?;
    file.sync_all().map_err(io_error(path))?;
    Ok(StagedFile {
        path: path.to_owned(),
        rows,
    })
}

/// The column writers of the row group being written.
struct RowGroup {
    writers: Vec<ArrowColumnWriter>,
    rows: usize,
}

impl RowGroup {
    /// Encodes `batch` into the writers, one column per rayon task.
    fn write(&mut self, schema: &SchemaRef, batch: &RecordBatch) -> Result<(), ParquetError> {
        let mut leaves = Vec::with_capacity(self.writers.len());
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            leaves.extend(compute_leaves(field, column)?);
        }
        self.writers
            .par_iter_mut()
            .zip(leaves.par_iter())
            .try_for_each(|(writer, leaf)| writer.write(leaf))?;
        self.rows += batch.num_rows();
        Ok(())
    }

    /// Closes the writers and appends their chunks to the file as one row group.
    fn append_to(self, file: &mut SerializedFileWriter<File>) -> Result<(), ParquetError> {
        let mut group = file.next_row_group()?;
        for writer in self.writers {
            writer.close()?.append_to_row_group(&mut group)?;
        }
        group.close()?;
        Ok(())
    }
}
