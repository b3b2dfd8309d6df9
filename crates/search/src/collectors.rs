//! Collectors over fast string columns, where tantivy's general ones do
//! more work than a catalog needs:
//!
//! * [`FacetCounts`] counts the values of several multi-valued string fields
//!   at once: per segment an array indexed by term ordinal, one increment per
//!   value, strings resolved only for the ordinals seen. The ordinals of each
//!   document are read from an [`OrdinalTable`] built once per immutable
//!   segment and kept in an [`OrdinalTables`] cache: reading them from the
//!   column store on every query cost more than all the rest of a
//!   match-everything search.
//! * [`OrderByText`] keeps the first `offset + limit` documents of each
//!   segment by term ordinal (ordinals follow byte order within a segment),
//!   then resolves only those to text and merges segments by text.

use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::StrColumn;
use tantivy::index::SegmentId;
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

fn string_column(segment: &SegmentReader, field: &str) -> tantivy::Result<Option<StrColumn>> {
    segment.fast_fields().str(field)
}

/// The term ordinals of every document of a segment for one field, in
/// compressed-row form: document `d` has `ordinals[starts[d]..starts[d + 1]]`.
pub struct OrdinalTable {
    starts: Vec<u32>,
    ordinals: Vec<u32>,
}

impl OrdinalTable {
    fn build(column: &StrColumn, max_doc: DocId) -> OrdinalTable {
        let mut starts = Vec::with_capacity(max_doc as usize + 1);
        let mut ordinals = Vec::with_capacity(max_doc as usize);
        starts.push(0);
        for doc in 0..max_doc {
            ordinals.extend(column.term_ords(doc).map(|ordinal| ordinal as u32));
            starts.push(ordinals.len() as u32);
        }
        OrdinalTable { starts, ordinals }
    }

    fn of(&self, doc: DocId) -> &[u32] {
        let doc = doc as usize;
        &self.ordinals[self.starts[doc] as usize..self.starts[doc + 1] as usize]
    }
}

/// Ordinal tables by segment and field. Segments never change once written,
/// so an entry stays valid until its segment is merged away.
#[derive(Default, Clone)]
pub struct OrdinalTables(Arc<Mutex<HashMap<TableKey, Arc<OrdinalTable>>>>);

/// A segment and a field name.
type TableKey = (SegmentId, &'static str);

impl OrdinalTables {
    fn get(&self, segment: &SegmentReader, field: &'static str, column: &StrColumn) -> Arc<OrdinalTable> {
        let key = (segment.segment_id(), field);
        if let Some(table) = self.0.lock().expect("ordinal tables lock").get(&key) {
            return table.clone();
        }
        let table = Arc::new(OrdinalTable::build(column, segment.max_doc()));
        self.0.lock().expect("ordinal tables lock").insert(key, table.clone());
        table
    }

    /// Drops the tables of segments that are gone.
    pub fn retain_segments(&self, live: &[SegmentId]) {
        self.0.lock().expect("ordinal tables lock").retain(|(segment, _), _| live.contains(segment));
    }
}

pub struct FacetCounts {
    pub fields: Vec<&'static str>,
    pub tables: OrdinalTables,
}

/// One field's column, its ordinal table, and a count per term ordinal.
type FieldCounter = (StrColumn, Arc<OrdinalTable>, Vec<u32>);

pub struct FacetCountsSegment {
    columns: Vec<Option<FieldCounter>>,
}

impl Collector for FacetCounts {
    type Fruit = Vec<HashMap<String, u64>>;
    type Child = FacetCountsSegment;

    fn for_segment(&self, _: SegmentOrdinal, segment: &SegmentReader) -> tantivy::Result<FacetCountsSegment> {
        let mut columns = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            columns.push(string_column(segment, field)?.map(|column| {
                let terms = column.num_terms();
                let table = self.tables.get(segment, field, &column);
                (column, table, vec![0u32; terms])
            }));
        }
        Ok(FacetCountsSegment { columns })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, segments: Vec<Vec<HashMap<String, u64>>>) -> tantivy::Result<Self::Fruit> {
        let mut merged = vec![HashMap::new(); self.fields.len()];
        for segment in segments {
            for (total, counts) in merged.iter_mut().zip(segment) {
                for (value, count) in counts {
                    *total.entry(value).or_insert(0) += count;
                }
            }
        }
        Ok(merged)
    }
}

impl SegmentCollector for FacetCountsSegment {
    type Fruit = Vec<HashMap<String, u64>>;

    fn collect(&mut self, doc: DocId, _: Score) {
        for (_, table, counts) in self.columns.iter_mut().flatten() {
            for ordinal in table.of(doc) {
                counts[*ordinal as usize] += 1;
            }
        }
    }

    fn harvest(self) -> Self::Fruit {
        self.columns
            .into_iter()
            .map(|entry| {
                let mut values = HashMap::new();
                if let Some((column, _, counts)) = entry {
                    for (ordinal, count) in counts.into_iter().enumerate().filter(|(_, count)| *count > 0) {
                        let mut text = String::new();
                        if column.ord_to_str(ordinal as u64, &mut text).unwrap_or(false) {
                            values.insert(text, count as u64);
                        }
                    }
                }
                values
            })
            .collect()
    }
}

pub struct OrderByText {
    pub field: &'static str,
    pub descending: bool,
    pub offset: usize,
    pub limit: usize,
}

pub struct OrderByTextSegment {
    segment: SegmentOrdinal,
    column: Option<StrColumn>,
    descending: bool,
    keep: usize,
    /// For ascending order a max-heap of the smallest ordinals (the largest
    /// on top, to evict); for descending, ordinals are stored complemented.
    heap: BinaryHeap<(u64, DocId)>,
}

impl Collector for OrderByText {
    type Fruit = Vec<DocAddress>;
    type Child = OrderByTextSegment;

    fn for_segment(&self, segment: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<OrderByTextSegment> {
        Ok(OrderByTextSegment {
            segment,
            column: string_column(reader, self.field)?,
            descending: self.descending,
            keep: self.offset + self.limit,
            heap: BinaryHeap::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, segments: Vec<Vec<(String, DocAddress)>>) -> tantivy::Result<Vec<DocAddress>> {
        let mut all: Vec<(String, DocAddress)> = segments.into_iter().flatten().collect();
        all.sort_by(|a, b| {
            let by_text = if self.descending { b.0.cmp(&a.0) } else { a.0.cmp(&b.0) };
            by_text.then_with(|| a.1.cmp(&b.1))
        });
        Ok(all.into_iter().skip(self.offset).take(self.limit).map(|(_, address)| address).collect())
    }
}

impl SegmentCollector for OrderByTextSegment {
    type Fruit = Vec<(String, DocAddress)>;

    fn collect(&mut self, doc: DocId, _: Score) {
        if self.keep == 0 {
            return;
        }
        let ordinal = self.column.as_ref().and_then(|column| column.term_ords(doc).next()).unwrap_or(u64::MAX);
        let key = if self.descending { u64::MAX - ordinal } else { ordinal };
        if self.heap.len() < self.keep {
            self.heap.push((key, doc));
        } else if let Some(top) = self.heap.peek()
            && (key, doc) < *top
        {
            self.heap.pop();
            self.heap.push((key, doc));
        }
    }

    fn harvest(self) -> Self::Fruit {
        let segment = self.segment;
        let descending = self.descending;
        self.heap
            .into_iter()
            .map(|(key, doc)| {
                let ordinal = if descending { u64::MAX - key } else { key };
                let mut text = String::new();
                if let Some(column) = &self.column
                    && ordinal != u64::MAX
                {
                    let _ = column.ord_to_str(ordinal, &mut text);
                }
                (text, DocAddress::new(segment, doc))
            })
            .collect()
    }
}
