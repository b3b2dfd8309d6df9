//! Every matching row of a table, encoded while it streams: CSV, TSV,
//! NDJSON or Parquet. One batch at a time is held, so exporting millions
//! of rows takes constant memory; the client's pace sets the query's (the
//! channel is bounded), and a client that goes away stops the query.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use futures_util::StreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use tokio::sync::mpsc;

use crate::{QueryEngine, QueryError, QueryResult, ROW_ID, RowsRequest, Table};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Tsv,
    Ndjson,
    Parquet,
}

impl ExportFormat {
    pub fn from_extension(extension: &str) -> Option<ExportFormat> {
        Some(match extension {
            "csv" => ExportFormat::Csv,
            "tsv" => ExportFormat::Tsv,
            "ndjson" | "jsonl" => ExportFormat::Ndjson,
            "parquet" => ExportFormat::Parquet,
            _ => return None,
        })
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Tsv => "text/tab-separated-values; charset=utf-8",
            ExportFormat::Ndjson => "application/x-ndjson",
            ExportFormat::Parquet => "application/vnd.apache.parquet",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Tsv => "tsv",
            ExportFormat::Ndjson => "ndjson",
            ExportFormat::Parquet => "parquet",
        }
    }
}

/// Bytes of an export as they are produced; an `Err` ends it early.
pub type ExportStream = mpsc::Receiver<Result<Bytes, QueryError>>;

/// A `Write` that hands what it gets to the channel in chunks.
struct ChannelWriter {
    buffer: Vec<u8>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn encode_text(batch: &RecordBatch, format: ExportFormat, header: bool) -> QueryResult<Vec<u8>> {
    let failed = |error: arrow::error::ArrowError| QueryError::Failed(error.to_string());
    match format {
        ExportFormat::Csv | ExportFormat::Tsv => {
            let delimiter = if format == ExportFormat::Tsv { b'\t' } else { b',' };
            let mut writer =
                arrow::csv::WriterBuilder::new().with_header(header).with_delimiter(delimiter).build(Vec::new());
            writer.write(batch).map_err(failed)?;
            Ok(writer.into_inner())
        }
        ExportFormat::Ndjson => {
            let mut writer = arrow::json::LineDelimitedWriter::new(Vec::new());
            writer.write(batch).map_err(failed)?;
            writer.finish().map_err(failed)?;
            Ok(writer.into_inner())
        }
        ExportFormat::Parquet => unreachable!("Parquet is written by its own writer"),
    }
}

impl QueryEngine {
    /// Streams the rows `request` selects (its filters, search, sort and
    /// columns; not its paging), without the internal row id unless asked for.
    pub async fn export(&self, table: Table, request: RowsRequest, format: ExportFormat) -> QueryResult<ExportStream> {
        let permit = self.heavy.clone().acquire_owned().await.expect("the semaphore is never closed");
        let context = self.context();
        let (sender, receiver) = mpsc::channel::<Result<Bytes, QueryError>>(4);
        // Plan first, so a bad filter is an error response rather than a broken download.
        let stream = self
            .run(async move {
                let (frame, order) = Self::rows_frame(&context, &table, &request).await?;
                let mut frame = frame.sort(order)?;
                let keep: Vec<String> =
                    frame
                        .schema()
                        .fields()
                        .iter()
                        .map(|field| field.name().clone())
                        .filter(|name| {
                            if request.columns.is_empty() { name != ROW_ID } else { request.columns.contains(name) }
                        })
                        .collect();
                frame = frame.select_columns(&keep.iter().map(String::as_str).collect::<Vec<_>>())?;
                Ok(frame.execute_stream().await?)
            })
            .await?;
        self.handle.spawn(async move {
            let _permit = permit;
            let mut stream = stream;
            let mut first = true;
            let schema = stream.schema();
            let mut parquet = if format == ExportFormat::Parquet {
                let properties = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .set_max_row_group_row_count(Some(64 * 1024))
                    .build();
                match ArrowWriter::try_new(ChannelWriter { buffer: Vec::new() }, Arc::clone(&schema), Some(properties))
                {
                    Ok(writer) => Some(writer),
                    Err(error) => {
                        let _ = sender.send(Err(QueryError::Failed(error.to_string()))).await;
                        return;
                    }
                }
            } else {
                None
            };
            if format != ExportFormat::Parquet && schema.fields().is_empty() {
                return;
            }
            if format != ExportFormat::Parquet {
                // The header goes out even when no row matches.
                let empty = RecordBatch::new_empty(schema.clone());
                if matches!(format, ExportFormat::Csv | ExportFormat::Tsv) {
                    match encode_text(&empty, format, true) {
                        Ok(bytes) => {
                            if sender.send(Ok(Bytes::from(bytes))).await.is_err() {
                                return;
                            }
                        }
                        Err(error) => {
                            let _ = sender.send(Err(error)).await;
                            return;
                        }
                    }
                }
                first = false;
            }
            while let Some(batch) = stream.next().await {
                let chunk = batch.map_err(QueryError::from).and_then(|batch| match parquet.as_mut() {
                    Some(writer) => {
                        writer.write(&batch).map_err(|error| QueryError::Failed(error.to_string()))?;
                        Ok(std::mem::take(&mut writer.inner_mut().buffer))
                    }
                    None => encode_text(&batch, format, first),
                });
                let failed = chunk.is_err();
                match chunk {
                    Ok(bytes) if bytes.is_empty() => continue,
                    Ok(bytes) => {
                        if sender.send(Ok(Bytes::from(bytes))).await.is_err() {
                            return; // The client went away: dropping the stream stops the query.
                        }
                    }
                    Err(error) => {
                        let _ = sender.send(Err(error)).await;
                    }
                }
                if failed {
                    return;
                }
            }
            if let Some(writer) = parquet {
                match writer.into_inner() {
                    Ok(rest) => {
                        let _ = sender.send(Ok(Bytes::from(rest.buffer))).await;
                    }
                    Err(error) => {
                        let _ = sender.send(Err(QueryError::Failed(error.to_string()))).await;
                    }
                }
            }
        });
        Ok(receiver)
    }
}
