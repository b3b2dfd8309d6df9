//! The column pass: nulls, type votes, profile and the typed values of
//! every column, run by persistent worker threads while the reading thread
//! goes on splitting the next rows.
//!
//! The reading thread fills a [`Batch`] of rows and hands it, shared, to
//! every worker; each worker owns a fixed share of the columns, so a column
//! still sees its values in file order. After its first batch a worker
//! settles the type each of its columns is written as ([`Plan`]), then
//! sends each batch's typed arrays to the table's Parquet writer
//! ([`crate::columnar::TableWriter`]), built from the values the type checks
//! already parsed, and hands the batch back for reuse once the last of them
//! is done. At most two batches wait for a worker, so memory stays bounded
//! by a few batches whatever the file's size.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::IngestError;
use crate::columnar::{Output, Part, PartColumn, Written};
use crate::distinct::{Added, Distinct};
use crate::infer::{Examined, FieldType, TypeVotes};
use crate::table::{Cells, is_null};

/// Rows per batch of the column pass.
pub(crate) const BATCH_ROWS: usize = 16 * 1024;
/// A batch is handed over early when its text passes this size (huge cells).
pub(crate) const BATCH_BYTES: usize = 8 * 1024 * 1024;
/// Distinct values counted one by one per column; beyond them the number
/// of distinct values is estimated (see [`Sketch`]).
pub(crate) const DISTINCT_CAP: usize = 10_000;
/// An overflowed column stops looking its values up among the counted ones
/// when fewer than 1 in this many were found there over a batch.
const UNCOUNTED_RATIO: u32 = 100;
/// Failing values remembered per column and candidate type.
const SAMPLE_CAP: usize = 1_000;
/// Longest value counted among a column's distinct values, in bytes.
pub(crate) const DISTINCT_VALUE_MAX: usize = 200;

/// A value as quoted in the report: long ones are cut, at a character boundary.
pub(crate) fn shorten(cell: &str) -> String {
    if cell.len() <= DISTINCT_VALUE_MAX {
        return cell.to_string();
    }
    let mut end = DISTINCT_VALUE_MAX;
    while !cell.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &cell[..end])
}

/// Registers of a [`Sketch`], as a power of two.
const SKETCH_BITS: u32 = 12;

/// A HyperLogLog sketch (Flajolet et al., 2007) of a column's distinct
/// values once there are more than the profile counts one by one: 4,096
/// one-byte registers, a standard error of about 1.6%.
pub(crate) struct Sketch {
    registers: Box<[u8]>,
}

impl Sketch {
    fn new() -> Sketch {
        Sketch { registers: vec![0; 1 << SKETCH_BITS].into_boxed_slice() }
    }

    fn add(&mut self, value: &str) {
        use std::hash::BuildHasher;
        // A fixed seed: the same file gives the same estimate.
        let hash = foldhash::quality::FixedState::with_seed(0x0064_6174_616c_6162).hash_one(value);
        let index = (hash >> (64 - SKETCH_BITS)) as usize;
        // The position of the first 1 in the remaining bits, at most 53.
        let rank = ((hash << SKETCH_BITS) | (1 << (SKETCH_BITS - 1))).leading_zeros() + 1;
        self.registers[index] = self.registers[index].max(rank as u8);
    }

    /// The estimated number of distinct values added.
    pub(crate) fn estimate(&self) -> u64 {
        let m = self.registers.len() as f64;
        let sum: f64 = self.registers.iter().map(|rank| (-f64::from(*rank)).exp2()).sum();
        let zeros = self.registers.iter().filter(|rank| **rank == 0).count();
        let raw = 0.7213 / (1.0 + 1.079 / m) * m * m / sum;
        // Few values: linear counting of the empty registers is closer. It
        // is chosen by its own value, which is less biased than the raw
        // estimate's just above 2.5 m (10,240: where every sketch starts).
        let linear = (zeros > 0).then(|| m * (m / zeros as f64).ln());
        let estimate = match linear {
            Some(linear) if linear <= 2.5 * m => linear,
            _ => raw,
        };
        estimate.round() as u64
    }
}

/// A value's [`Examined`] types, packed into 24 bytes to sit in its
/// distinct-value entry: the fits as bits, the dates as
/// `year << 9 | month << 5 | day` (0 for none; a date's year has four
/// digits).
#[derive(Clone, Copy)]
pub(crate) struct Learned {
    number: f64,
    dates: [u32; 3],
    fits: u8,
}

impl From<Examined> for Learned {
    fn from(examined: Examined) -> Learned {
        let fits = examined.fits.iter().enumerate().fold(0u8, |bits, (index, fit)| bits | (u8::from(*fit) << index));
        let dates = examined
            .dates
            .map(|date| date.map_or(0, |(year, month, day)| ((year.max(0) as u32) << 9) | (month << 5) | day));
        Learned { number: examined.number.unwrap_or(0.0), dates, fits }
    }
}

impl Learned {
    /// Examines a trimmed value (see [`crate::infer::examine`]).
    pub(crate) fn of(trimmed: &str) -> Learned {
        Learned::from(crate::infer::examine(trimmed))
    }

    /// Whether the value fits candidate `index` (the order of [`Examined::fits`]).
    pub(crate) fn fits(self, index: usize) -> bool {
        self.fits & (1 << index) != 0
    }

    /// The value as a number, when it is one.
    pub(crate) fn number(self) -> Option<f64> {
        self.fits(1).then_some(self.number)
    }

    /// The value as a date in order `index` of [`crate::infer::DateFormat::ALL`].
    pub(crate) fn date(self, index: usize) -> Option<(i32, u32, u32)> {
        let packed = self.dates[index];
        (packed != 0).then_some(((packed >> 9) as i32, (packed >> 5) & 15, packed & 31))
    }

    #[cfg(test)]
    fn examined(self) -> Examined {
        Examined {
            fits: std::array::from_fn(|index| self.fits(index)),
            number: self.number(),
            dates: std::array::from_fn(|index| self.date(index)),
        }
    }
}

/// What the column pass learns about one column.
///
/// A value the distinct counts hold is only counted there as it comes:
/// its type votes, number and dates are tallied once per distinct value
/// when the pass is over ([`Column::count_held`]), not once per cell.
/// Other values are tallied as they come.
#[derive(Default)]
pub(crate) struct Column {
    pub(crate) votes: TypeVotes,
    pub(crate) nulls: u64,
    // Keyed by values from an uploaded file: a randomly seeded hasher keeps
    // crafted collisions from making inserts slow, and the cap bounds the
    // damage if one got through.
    pub(crate) distinct: Distinct<Learned>,
    pub(crate) distinct_overflow: bool,
    /// Values are no longer looked up among the counted ones: the counted
    /// values filled their table and then, over a batch of at least a quarter of
    /// [`BATCH_ROWS`] lookups, fewer than 1 value in [`UNCOUNTED_RATIO`] was
    /// one of them (codes, amounts, coordinates). Decided once: a column
    /// whose later values repeat again stays uncounted.
    /// The counted values' counts stop there, so the profile lists no
    /// frequent values for it; everything else stays exact (see
    /// [`Column::add`]).
    pub(crate) uncounted: bool,
    /// Since the counted values filled their table, in the current batch:
    /// values looked up among them, and those found.
    lookups: u32,
    found: u32,
    /// Every value seen once `distinct` could not hold them all.
    pub(crate) sketch: Option<Sketch>,
    /// The numeric values' count, and the sums of their differences from
    /// the first one and of their squares (sums of shifted values: as
    /// accurate as Welford's update, with no division per value).
    numeric: (u64, f64, f64),
    numeric_shift: f64,
    pub(crate) numeric_min: Option<f64>,
    pub(crate) numeric_max: Option<f64>,
    text_min: Option<String>,
    text_max: Option<String>,
    pub(crate) date_min: [Option<(i32, u32, u32)>; 3],
    pub(crate) date_max: [Option<(i32, u32, u32)>; 3],
    /// (row, value) of values failing each candidate: integer, number, boolean, dates ×3, datetime, time.
    pub(crate) failures: [Vec<(u64, String)>; 8],
    /// Bit `i` is set once `failures[i]` holds as many values as it keeps.
    failures_full: u8,
}

impl Column {
    /// Counts a value present in row `row`: `trimmed` is `cell` without
    /// surrounding spaces. Gives what its type checks say.
    fn add(&mut self, row: u64, cell: &str, trimmed: &str) -> Learned {
        // Long texts (geometries, free text) are not counted one by one:
        // 10,000 of them could take gigabytes. Nor are the values of an
        // uncounted column: a value counted before is then tallied here, not
        // with its count at the end, so the tallies stay exact.
        let (added, learned) = if trimmed.len() > DISTINCT_VALUE_MAX || self.uncounted {
            (None, Learned::of(trimmed))
        } else {
            // A value counted before is not examined again.
            let room = self.distinct.len() < DISTINCT_CAP;
            let (added, learned) = self.distinct.add(trimmed, room, || Learned::of(trimmed));
            if !room {
                self.lookups += 1;
                self.found += u32::from(added == Added::Counted);
            }
            (Some(added), learned)
        };
        let failing = !(learned.fits | self.failures_full);
        if failing != 0 {
            self.fail(row, cell, failing);
        }
        match added {
            // Tallied with its count at the end; already in the sketch, if
            // there is one (added when counted or when it began).
            Some(Added::Counted) => {}
            Some(Added::New) => {
                if let Some(sketch) = &mut self.sketch {
                    sketch.add(trimmed);
                }
            }
            Some(Added::Refused) | None => {
                self.tally(learned, 1);
                self.overflowed().add(trimmed);
                self.text_bounds(trimmed);
            }
        }
        learned
    }

    /// Remembers a value failing the candidates whose bits are set in `failing`.
    #[cold]
    fn fail(&mut self, row: u64, cell: &str, failing: u8) {
        for (index, failures) in self.failures.iter_mut().enumerate() {
            if failing & (1 << index) != 0 {
                failures.push((row, shorten(cell)));
                if failures.len() >= SAMPLE_CAP {
                    self.failures_full |= 1 << index;
                }
            }
        }
    }

    /// Counts `times` values of whose types `learned` tells.
    fn tally(&mut self, learned: Learned, times: u64) {
        self.votes.add_fits(learned.fits, times);
        if let Some(value) = learned.number() {
            let (count, sum, squares) = &mut self.numeric;
            if *count == 0 {
                self.numeric_shift = value;
            }
            *count += times;
            let shifted = value - self.numeric_shift;
            *sum += shifted * times as f64;
            *squares += shifted * shifted * times as f64;
            self.numeric_min = Some(self.numeric_min.map_or(value, |min| min.min(value)));
            self.numeric_max = Some(self.numeric_max.map_or(value, |max| max.max(value)));
        }
        for index in 0..3 {
            if let Some(date) = learned.date(index) {
                self.date_min[index] = Some(self.date_min[index].map_or(date, |min| min.min(date)));
                self.date_max[index] = Some(self.date_max[index].map_or(date, |max| max.max(date)));
            }
        }
    }

    /// The type votes of every value so far, held ones included.
    fn votes_so_far(&self) -> TypeVotes {
        let mut votes = self.votes.clone();
        self.distinct.learned().for_each(|(learned, count)| votes.add_fits(learned.fits, count));
        votes
    }

    /// Tallies the values the distinct counts hold, each with its count:
    /// once, when the pass is over. In the order of their numbers, not the
    /// randomly seeded table's: the same file gives the same mean and
    /// deviation to the last bit.
    pub(crate) fn count_held(&mut self) {
        let mut held: Vec<(Learned, u64)> = self.distinct.learned().collect();
        held.sort_by(|(a, a_count), (b, b_count)| {
            a.number().unwrap_or(0.0).total_cmp(&b.number().unwrap_or(0.0)).then(a_count.cmp(b_count))
        });
        for (learned, count) in held {
            self.tally(learned, count);
        }
    }

    /// Ends a batch: a column whose counted values filled their table and
    /// whose values were nearly all new over the batch stops looking them up.
    fn end_batch(&mut self) {
        if self.lookups >= BATCH_ROWS as u32 / 4 && self.found * UNCOUNTED_RATIO < self.lookups {
            self.uncounted = true;
        }
        (self.lookups, self.found) = (0, 0);
    }

    /// Marks the column as having more values than are counted one by
    /// one; its sketch starts with those counted so far.
    fn overflowed(&mut self) -> &mut Sketch {
        self.distinct_overflow = true;
        let distinct = &self.distinct;
        self.sketch.get_or_insert_with(|| {
            let mut sketch = Sketch::new();
            distinct.iter().for_each(|(value, _)| sketch.add(&value));
            sketch
        })
    }

    /// The numeric values' count, mean and sample standard deviation.
    pub(crate) fn moments(&self) -> (u64, f64, Option<f64>) {
        let (count, sum, squares) = self.numeric;
        if count == 0 {
            return (0, 0.0, None);
        }
        let n = count as f64;
        let mean = self.numeric_shift + sum / n;
        let stddev = (count > 1).then(|| ((squares - sum * sum / n).max(0.0) / (n - 1.0)).sqrt());
        (count, mean, stddev)
    }

    /// Distinct values: exact, or estimated when there were too many to count.
    pub(crate) fn distinct_count(&self) -> (u64, bool) {
        let counted = self.distinct.len() as u64;
        match &self.sketch {
            Some(sketch) => (sketch.estimate().max(counted), true),
            None => (counted, false),
        }
    }

    /// Keeps the text bounds of a value the distinct counts do not hold
    /// (those of the counted values are found at the end, in
    /// [`Column::text_range`]), so most values cost no comparison here.
    fn text_bounds(&mut self, trimmed: &str) {
        if self.text_min.as_deref().is_none_or(|min| trimmed < min) {
            self.text_min = Some(trimmed.to_string());
        }
        if self.text_max.as_deref().is_none_or(|max| trimmed > max) {
            self.text_max = Some(trimmed.to_string());
        }
    }

    /// The smallest and largest value as text.
    pub(crate) fn text_range(&self) -> (Option<String>, Option<String>) {
        let counted_min = self.distinct.iter().map(|(value, _)| value).min();
        let counted_max = self.distinct.iter().map(|(value, _)| value).max();
        let min = match (counted_min, self.text_min.clone()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let max = match (counted_max, self.text_max.clone()) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        (min, max)
    }
}

/// Rows waiting for the column pass, and their physical row numbers, laid
/// out one after another: all their text in one string, where each cell
/// ends in one list, and where each row starts in both. Workers read a
/// batch from start to end, which the processor's prefetching follows
/// (rows in separate allocations stalled on every row). The buffers are
/// reused from batch to batch: no allocation per row.
#[derive(Default)]
pub(crate) struct Batch {
    text: String,
    /// Where each cell ends in `text`.
    ends: Vec<u32>,
    /// Per row, plus one past the last: where its text starts and its first
    /// cell's place in `ends`.
    starts: Vec<(u32, u32)>,
    rows: Vec<u64>,
}

impl Batch {
    /// Keeps a row; says whether the batch is full.
    pub(crate) fn push(&mut self, record: &impl Cells, row_number: u64) -> Result<bool, IngestError> {
        if self.starts.is_empty() {
            self.starts.push((0, 0));
        }
        let base = self.text.len();
        self.text.push_str(record.joined());
        // Every offset of the batch is at most its text's or its cells' count.
        let (text, cells) = (self.text.len(), self.ends.len() + record.len());
        if u32::try_from(text.max(cells)).is_err() {
            return Err(IngestError::Csv("a row holds more than 4 GB of text".into()));
        }
        self.ends.extend((0..record.len()).map(|index| (base + record.end(index)) as u32));
        self.starts.push((text as u32, cells as u32));
        self.rows.push(row_number);
        Ok(self.rows.len() >= BATCH_ROWS || self.text.len() >= BATCH_BYTES)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
        self.starts.clear();
        self.rows.clear();
    }

    /// Each row's physical number and cells.
    fn records(&self) -> impl Iterator<Item = (u64, BatchRow<'_>)> {
        self.rows.iter().zip(self.starts.windows(2)).map(|(row, bounds)| {
            let ((text_start, first), (_, next)) = (bounds[0], bounds[1]);
            let cells = BatchRow {
                text: &self.text,
                start: text_start as usize,
                ends: &self.ends[first as usize..next as usize],
            };
            (*row, cells)
        })
    }
}

/// One row of a batch.
struct BatchRow<'a> {
    text: &'a str,
    start: usize,
    ends: &'a [u32],
}

impl BatchRow<'_> {
    fn get(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(index)? as usize;
        let start = if index == 0 { self.start } else { self.ends[index - 1] as usize };
        self.text.get(start..end)
    }
}

/// How the type a column is written as is chosen.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Plan {
    /// Known before the first value: the publisher's, a reader's, or one a
    /// first pass over the file found.
    Fixed(Written),
    /// The type the first batch's values suggest.
    Infer,
    /// A date, in the order of day, month and year most of the first
    /// batch's values fit.
    InferDateFormat,
}

impl Plan {
    /// The type the column is written as under this plan, given its
    /// values' votes: those of the first batch when the pass settles it,
    /// those of every value when the table decides.
    pub(crate) fn decide(self, votes: &TypeVotes) -> Written {
        match self {
            Plan::Fixed(written) => written,
            Plan::Infer => {
                let (field_type, format) = votes.decide();
                Written::new(field_type, format)
            }
            Plan::InferDateFormat => Written::new(FieldType::Date, Some(votes.best_date_format())),
        }
    }
}

/// One column in a worker: what is learned, and its typed values.
struct Share {
    index: usize,
    column: Column,
    plan: Plan,
    /// Settled after the first batch, when the table is written.
    output: Option<(Written, Output)>,
    /// The first batch's values were mostly different from each other.
    many_values: bool,
}

impl Share {
    /// Settles the type the column is written as, from its plan and the
    /// values seen so far.
    fn settle(&mut self) {
        let written = self.plan.decide(&self.column.votes_so_far());
        self.many_values = self.column.distinct_overflow || self.column.distinct.len() > DISTINCT_CAP / 2;
        self.output = Some((written, Output::new(written)));
    }
}

/// Runs a worker's columns over a batch, row by row: each row's text is
/// brought into the cache once (a column at a time would fetch the whole
/// batch again for every column).
fn run_share(shares: &mut [Share], batch: &Batch, missing: &Option<Vec<String>>) {
    for (row, record) in batch.records() {
        for share in shares.iter_mut() {
            let Share { index, column, output, .. } = share;
            match record.get(*index) {
                Some(cell) if !is_null(missing, cell) => {
                    let trimmed = crate::infer::trim(cell);
                    let learned = column.add(row, cell, trimmed);
                    if let Some((_, output)) = output {
                        output.append(trimmed, Some(learned));
                    }
                }
                present => {
                    if present.is_some() {
                        column.nulls += 1;
                    }
                    if let Some((_, output)) = output {
                        output.append_null();
                    }
                }
            }
        }
    }
    shares.iter_mut().for_each(|share| share.column.end_batch());
}

/// Adds a batch's values to the outputs just settled (the first batch,
/// already counted by [`run_share`]).
fn replay(shares: &mut [Share], batch: &Batch, missing: &Option<Vec<String>>) {
    for (_, record) in batch.records() {
        for share in shares.iter_mut() {
            let Some((_, output)) = &mut share.output else { continue };
            match record.get(share.index) {
                Some(cell) if !is_null(missing, cell) => output.append(crate::infer::trim(cell), None),
                _ => output.append_null(),
            }
        }
    }
}

/// A column as the pass leaves it: what was learned, and the type it was
/// written as (none when nothing was written).
pub(crate) type Finished = (Column, Option<Written>);

struct Worker {
    sender: Option<SyncSender<Arc<Batch>>>,
    handle: Option<JoinHandle<Vec<(usize, Finished)>>>,
}

/// The workers of one table's column pass.
pub(crate) struct ColumnPass {
    workers: Vec<Worker>,
    /// Batches the workers are done with, for the reading thread to refill.
    recycled: Receiver<Batch>,
    /// The batch being filled.
    batch: Batch,
}

impl ColumnPass {
    /// Starts `count` workers (see [`worker_count`]) for the columns
    /// planned in `plans`, sharing them out evenly. When `parts` is given
    /// (one per worker, see [`crate::columnar::TableWriter::start`]), each
    /// worker sends its columns' typed values to it after every batch.
    pub(crate) fn start(
        plans: &[Plan],
        count: usize,
        missing: Option<Vec<String>>,
        parts: Option<Vec<SyncSender<Part>>>,
    ) -> Result<ColumnPass, IngestError> {
        let (recycle, recycled) = sync_channel::<Batch>(4);
        let mut parts = parts.map(|parts| parts.into_iter().map(Some).collect::<Vec<_>>());
        let mut workers = Vec::with_capacity(count);
        for number in 0..count {
            let mut shares: Vec<Share> = (number..plans.len())
                .step_by(count)
                .map(|index| Share {
                    index,
                    column: Column::default(),
                    plan: plans[index],
                    output: None,
                    many_values: false,
                })
                .collect();
            let part = parts.as_mut().and_then(|parts| parts.get_mut(number).and_then(Option::take));
            let missing = missing.clone();
            let recycle = recycle.clone();
            let (sender, receiver) = sync_channel::<Arc<Batch>>(1);
            let handle = std::thread::Builder::new().name("ingest-columns".into()).spawn(move || {
                for batch in receiver {
                    run_share(&mut shares, &batch, &missing);
                    if let Some(part) = &part {
                        if shares.iter().any(|share| share.output.is_none()) {
                            // The first batch: its values settle the types.
                            shares.iter_mut().for_each(Share::settle);
                            replay(&mut shares, &batch, &missing);
                        }
                        let arrays: Part = shares
                            .iter_mut()
                            .filter_map(|share| {
                                let (_, output) = share.output.as_mut()?;
                                Some(PartColumn {
                                    index: share.index,
                                    array: output.finish(),
                                    many_values: share.many_values,
                                })
                            })
                            .collect();
                        if part.send(arrays).is_err() {
                            // The writer stopped: the reading thread learns
                            // it when its next batch is refused.
                            break;
                        }
                    }
                    if let Ok(mut batch) = Arc::try_unwrap(batch) {
                        batch.clear();
                        let _ = recycle.try_send(batch);
                    }
                }
                shares
                    .into_iter()
                    .map(|mut share| {
                        share.column.count_held();
                        (share.index, (share.column, share.output.map(|(written, _)| written)))
                    })
                    .collect()
            })?;
            workers.push(Worker { sender: Some(sender), handle: Some(handle) });
        }
        Ok(ColumnPass { workers, recycled, batch: Batch::default() })
    }

    /// Keeps a row, and hands the batch to the workers when it is full.
    pub(crate) fn push(&mut self, record: &impl Cells, row_number: u64) -> Result<(), IngestError> {
        if self.batch.push(record, row_number)? {
            self.dispatch()?;
        }
        Ok(())
    }

    /// Hands the batch being filled to every worker.
    fn dispatch(&mut self) -> Result<(), IngestError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        // A batch the workers are done with, or a new one while they are busy.
        let next = self.recycled.try_recv().unwrap_or_default();
        let full = Arc::new(std::mem::replace(&mut self.batch, next));
        for worker in &self.workers {
            let sent = worker.sender.as_ref().is_some_and(|sender| sender.send(full.clone()).is_ok());
            if !sent {
                return Err(IngestError::Parquet("the column pass stopped".into()));
            }
        }
        Ok(())
    }

    /// Runs the last rows, stops the workers and gives back every column, in order.
    pub(crate) fn finish(mut self) -> Result<Vec<Finished>, IngestError> {
        let dispatched = self.dispatch();
        let mut columns = self.stop()?;
        dispatched?;
        columns.sort_by_key(|(index, _)| *index);
        Ok(columns.into_iter().map(|(_, column)| column).collect())
    }

    /// Closes every worker's queue and waits for them: each gives back its
    /// columns once the batches already queued are done.
    fn stop(&mut self) -> Result<Vec<(usize, Finished)>, IngestError> {
        for worker in &mut self.workers {
            worker.sender = None;
        }
        let mut columns = Vec::new();
        let mut panicked = false;
        for worker in &mut self.workers {
            match worker.handle.take().map(JoinHandle::join) {
                Some(Ok(share)) => columns.extend(share),
                Some(Err(_)) => panicked = true,
                None => {}
            }
        }
        if panicked {
            return Err(IngestError::Parquet("the column pass panicked".into()));
        }
        Ok(columns)
    }
}

impl Drop for ColumnPass {
    fn drop(&mut self) {
        // An abandoned pass stops its workers.
        let _ = self.stop();
    }
}

/// One worker per core, but never more than there are columns (and at
/// least one, so an empty table still finishes).
pub(crate) fn worker_count(columns: usize) -> usize {
    let cores = std::thread::available_parallelism().map(|count| count.get()).unwrap_or(2);
    cores.clamp(1, 4).min(columns).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a value's entry keeps of its types gives back what examining
    /// it again would.
    #[test]
    fn learned_types_give_back_the_examined_ones() {
        for value in [
            "12",
            "-3.5",
            "$1,234.50",
            "15/07/2020",
            "2024-02-29",
            "03/04/2021",
            "9999-12-31",
            "sí",
            "12:30",
            "2020-07-15 12:30",
            "Monterrey",
            "",
        ] {
            let examined = crate::infer::examine(value);
            assert_eq!(Learned::from(examined).examined(), examined, "{value}");
        }
    }

    /// A column whose values keep coming back is counted to the end; one
    /// whose values are nearly all new stops looking them up once it
    /// overflows, and its tallies stay exact all the same.
    #[test]
    fn all_but_unique_columns_stop_counting_and_keep_their_tallies() {
        let (mut repeating, mut unique) = (Column::default(), Column::default());
        let batches = 4;
        for batch in 0..batches {
            for index in 0..BATCH_ROWS {
                let row = (batch * BATCH_ROWS + index) as u64;
                // Every other value is "0"; the rest, and every value of
                // the other column, are different from each other.
                let value = if index % 2 == 0 { "0".to_string() } else { row.to_string() };
                repeating.add(row, &value, &value);
                let value = row.to_string();
                unique.add(row, &value, &value);
            }
            repeating.end_batch();
            unique.end_batch();
        }
        let rows = (batches * BATCH_ROWS) as u64;
        assert!(repeating.distinct_overflow && !repeating.uncounted);
        assert!(unique.distinct_overflow && unique.uncounted, "all new values: not looked up");
        let zeros = repeating.distinct.iter().find(|(value, _)| value == "0").map(|(_, count)| count);
        assert_eq!(zeros, Some(rows / 2), "counted to the end");
        for column in [&mut repeating, &mut unique] {
            column.count_held();
            assert_eq!(column.votes.values, rows);
            assert_eq!(column.votes.integers, rows);
            assert_eq!(column.moments().0, rows);
        }
        assert_eq!((unique.numeric_min, unique.numeric_max), (Some(0.0), Some(rows as f64 - 1.0)));
        // A long value marks a column as overflowed, but new values it still
        // has room to count are not misses: it goes on counting them.
        let mut roomy = Column::default();
        let long = "x".repeat(DISTINCT_VALUE_MAX + 1);
        roomy.add(0, &long, &long);
        for row in 1..=BATCH_ROWS as u64 / 2 {
            let value = row.to_string();
            roomy.add(row, &value, &value);
        }
        roomy.end_batch();
        assert!(roomy.distinct_overflow && !roomy.uncounted);
        assert_eq!(unique.text_range(), (Some("0".to_string()), Some("9999".to_string())));
        let (estimate, estimated) = unique.distinct_count();
        assert!(estimated && (estimate as f64 - rows as f64).abs() / (rows as f64) < 0.05, "{estimate}");
    }

    /// Held values are tallied in the order of their numbers, not of their
    /// randomly seeded tables: two columns of the same values give the
    /// same mean and deviation to the bit.
    #[test]
    fn the_same_values_give_the_same_moments() {
        let columns: Vec<Column> = (0..4)
            .map(|_| {
                let mut column = Column::default();
                for row in 0..20_000u64 {
                    let text = format!("{}.{}", row % 997, row % 13);
                    column.add(row, &text, &text);
                }
                column.count_held();
                column
            })
            .collect();
        let (count, mean, stddev) = columns[0].moments();
        assert_eq!(count, 20_000);
        for column in &columns[1..] {
            let (_, other_mean, other_stddev) = column.moments();
            assert_eq!(other_mean.to_bits(), mean.to_bits());
            assert_eq!(other_stddev.map(f64::to_bits), stddev.map(f64::to_bits));
        }
    }

    /// Mean and standard deviation from shifted sums match a two-pass
    /// computation, also for values far from zero with a small spread
    /// (coordinates), where plain sums of squares lose every digit.
    #[test]
    fn moments_stay_accurate_far_from_zero() {
        let values: Vec<f64> = (0..100_000).map(|index| 25.6 + f64::from(index % 1000) * 1e-6).collect();
        let mut column = Column::default();
        for (row, value) in values.iter().enumerate() {
            let text = value.to_string();
            column.add(row as u64, &text, &text);
        }
        column.count_held();
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let stddev = (values.iter().map(|value| (value - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let (count, got_mean, got_stddev) = column.moments();
        assert_eq!(count, 100_000);
        assert!((got_mean - mean).abs() < 1e-9, "{got_mean} against {mean}");
        assert!((got_stddev.unwrap() - stddev).abs() / stddev < 1e-6, "{got_stddev:?} against {stddev}");
        assert_eq!(Column::default().moments(), (0, 0.0, None));
    }
}
