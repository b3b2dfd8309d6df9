//! Every matching row of a table, encoded while it streams: CSV, TSV,
//! NDJSON or Parquet. One batch at a time is held, so exporting millions
//! of rows takes constant memory; the client's pace sets the query's (the
//! channel is bounded), and a client that goes away stops the query.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use futures_util::StreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use tokio::sync::mpsc;
use tokio::time::{Duration, Instant};

use crate::{QueryEngine, QueryError, QueryResult, ROW_ID, RowsRequest, Table};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Tsv,
    Ndjson,
    Parquet,
    /// An Excel workbook, written in constant memory to a temporary file and
    /// then streamed; Excel's limit of 1,048,576 rows (with the header) applies.
    Xlsx,
}

/// Data rows an Excel sheet can hold under its header.
pub const XLSX_MAX_ROWS: u32 = 1_048_575;

impl ExportFormat {
    pub fn from_extension(extension: &str) -> Option<ExportFormat> {
        Some(match extension {
            "csv" => ExportFormat::Csv,
            "tsv" => ExportFormat::Tsv,
            "ndjson" | "jsonl" => ExportFormat::Ndjson,
            "parquet" => ExportFormat::Parquet,
            "xlsx" => ExportFormat::Xlsx,
            _ => return None,
        })
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Tsv => "text/tab-separated-values; charset=utf-8",
            ExportFormat::Ndjson => "application/x-ndjson",
            ExportFormat::Parquet => "application/vnd.apache.parquet",
            ExportFormat::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Tsv => "tsv",
            ExportFormat::Ndjson => "ndjson",
            ExportFormat::Parquet => "parquet",
            ExportFormat::Xlsx => "xlsx",
        }
    }
}

/// Bytes of an export as they are produced; an `Err` ends it early. An
/// export cut short (its client stalled past the idle timeout, or it ran
/// past its time limit) ends with an `Err` too, never as if it were whole.
pub struct ExportStream {
    receiver: mpsc::Receiver<Result<Bytes, QueryError>>,
    cut: Arc<AtomicBool>,
    ended: bool,
}

impl ExportStream {
    /// The next chunk; `None` once the export is whole.
    pub async fn recv(&mut self) -> Option<Result<Bytes, QueryError>> {
        if self.ended {
            return None;
        }
        match self.receiver.recv().await {
            Some(chunk) => Some(chunk),
            None => {
                self.ended = true;
                self.cut.load(Ordering::Acquire).then(|| {
                    Err(QueryError::Failed(
                        "the export was cut: its client stopped reading or it ran out of time".into(),
                    ))
                })
            }
        }
    }
}

/// How an export's chunks reach its client: within `idle` of the client
/// being ready for more, and before `deadline`. `false`: stop producing
/// (the client left, stalled or ran out of time), which drops the query;
/// a stall or the deadline also marks the export as cut.
#[derive(Clone)]
struct Delivery {
    sender: mpsc::Sender<Result<Bytes, QueryError>>,
    idle: Duration,
    deadline: Instant,
    cut: Arc<AtomicBool>,
}

impl Delivery {
    async fn send(&self, chunk: Result<Bytes, QueryError>) -> bool {
        if Instant::now() >= self.deadline {
            self.cut.store(true, Ordering::Release);
            return false;
        }
        let wait = self.idle.min(self.deadline.saturating_duration_since(Instant::now()));
        match tokio::time::timeout(wait, self.sender.send(chunk)).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) => false, // The client went away.
            Err(_) => {
                self.cut.store(true, Ordering::Release);
                false
            }
        }
    }

    /// The next batch of `stream`, or `None` when the client went away or
    /// the deadline passed first (a query that finds nothing for long holds
    /// no slot past it).
    async fn next(
        &self,
        stream: &mut datafusion::execution::SendableRecordBatchStream,
    ) -> Option<datafusion::error::Result<RecordBatch>> {
        tokio::select! {
            next = tokio::time::timeout_at(self.deadline, stream.next()) => match next {
                Ok(next) => next,
                Err(_) => {
                    self.cut.store(true, Ordering::Release);
                    None
                }
            },
            () = self.sender.closed() => None,
        }
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
        ExportFormat::Parquet | ExportFormat::Xlsx => unreachable!("written by their own writers"),
    }
}

/// Writes the rows of `stream` as a one-sheet workbook at `path`: numbers as
/// numbers, booleans as booleans, everything else (dates too) as text.
fn write_xlsx(
    handle: &tokio::runtime::Handle,
    mut stream: datafusion::execution::SendableRecordBatchStream,
    path: &std::path::Path,
    deadline: Instant,
    limit: Duration,
) -> QueryResult<()> {
    use rust_xlsxwriter::Workbook;
    use serde_json::Value;
    let failed = |error: rust_xlsxwriter::XlsxError| QueryError::Failed(error.to_string());
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet_with_constant_memory().map_err(failed)?;
    let schema = stream.schema();
    for (column, field) in schema.fields().iter().enumerate() {
        sheet.write_string(0, column as u16, field.name()).map_err(failed)?;
    }
    let mut row: u32 = 1;
    'batches: while let Some(batch) = handle.block_on(stream.next()) {
        let batch = batch?;
        if Instant::now() > deadline {
            return Err(QueryError::TimedOut(limit));
        }
        let columns: Vec<Vec<Value>> = batch.columns().iter().map(crate::values::column_json).collect();
        for index in 0..batch.num_rows() {
            if row > XLSX_MAX_ROWS {
                break 'batches;
            }
            for (column, values) in columns.iter().enumerate() {
                let column = column as u16;
                match &values[index] {
                    Value::Number(number) => {
                        sheet.write_number(row, column, number.as_f64().unwrap_or(0.0)).map_err(failed)?;
                    }
                    Value::Bool(flag) => {
                        sheet.write_boolean(row, column, *flag).map_err(failed)?;
                    }
                    Value::String(text) => {
                        sheet.write_string(row, column, text).map_err(failed)?;
                    }
                    _ => {}
                }
            }
            row += 1;
        }
    }
    workbook.save(path).map_err(failed)?;
    Ok(())
}

impl QueryEngine {
    /// Streams the rows `request` selects (its filters, search, sort and
    /// columns; not its paging), without the internal row id unless asked for.
    pub async fn export(&self, table: Table, request: RowsRequest, format: ExportFormat) -> QueryResult<ExportStream> {
        let permit = self.slot(&self.exports).await?;
        let idle = self.settings.export_idle_timeout;
        let limit = self.settings.export_time_limit;
        let deadline = Instant::now() + limit;
        let context = self.context();
        let (sender, receiver) = mpsc::channel::<Result<Bytes, QueryError>>(4);
        let cut = Arc::new(AtomicBool::new(false));
        let delivery = Delivery { sender: sender.clone(), idle, deadline, cut: cut.clone() };
        let receiver = ExportStream { receiver, cut, ended: false };
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
        if format == ExportFormat::Xlsx {
            let handle = self.handle.clone();
            let path = self.root.join("tmp").join(format!("{}.xlsx", uuid::Uuid::new_v4()));
            self.handle.spawn_blocking(move || {
                let _permit = permit;
                let outcome = write_xlsx(&handle, stream, &path, deadline, limit);
                let result = outcome.and_then(|()| {
                    use std::io::Read;
                    let mut file = std::fs::File::open(&path).map_err(|error| QueryError::Failed(error.to_string()))?;
                    let mut buffer = vec![0u8; 256 * 1024];
                    loop {
                        let read = file.read(&mut buffer).map_err(|error| QueryError::Failed(error.to_string()))?;
                        if read == 0 {
                            return Ok(());
                        }
                        let chunk = Ok(Bytes::copy_from_slice(&buffer[..read]));
                        if !handle.block_on(delivery.send(chunk)) {
                            return Ok(()); // The client went away, stalled or ran out of time.
                        }
                    }
                });
                let _ = std::fs::remove_file(&path);
                if let Err(error) = result {
                    let _ = sender.blocking_send(Err(error));
                }
            });
            return Ok(receiver);
        }
        drop(sender);
        let sender = delivery;
        self.handle.spawn(async move {
            let _permit = permit;
            let mut stream = stream;
            let schema = stream.schema();
            let mut parquet = if format == ExportFormat::Parquet {
                let properties = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .set_max_row_group_row_count(Some(64 * 1024))
                    .build();
                // Written to a buffer that is emptied into the channel after every batch.
                match ArrowWriter::try_new(Vec::new(), Arc::clone(&schema), Some(properties)) {
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
                            if !sender.send(Ok(Bytes::from(bytes))).await {
                                return;
                            }
                        }
                        Err(error) => {
                            let _ = sender.send(Err(error)).await;
                            return;
                        }
                    }
                }
            }
            while let Some(batch) = sender.next(&mut stream).await {
                let chunk = batch.map_err(QueryError::from).and_then(|batch| match parquet.as_mut() {
                    Some(writer) => {
                        writer.write(&batch).map_err(|error| QueryError::Failed(error.to_string()))?;
                        Ok(std::mem::take(writer.inner_mut()))
                    }
                    // The header went out above.
                    None => encode_text(&batch, format, false),
                });
                let failed = chunk.is_err();
                match chunk {
                    Ok(bytes) if bytes.is_empty() => continue,
                    Ok(bytes) => {
                        if !sender.send(Ok(Bytes::from(bytes))).await {
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
                        let _ = sender.send(Ok(Bytes::from(rest))).await;
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
