//! Collectors over fast string columns, where tantivy's general ones do
//! more work than a catalog needs:
//!
//! * [`FacetCounts`] counts the values of several multi-valued string fields
//!   at once: per segment an array indexed by term ordinal, one increment per
//!   value, strings resolved only for the ordinals seen.
//! * [`OrderByText`] keeps the first `offset + limit` documents of each
//!   segment by term ordinal (ordinals follow byte order within a segment),
//!   then resolves only those to text and merges segments by text.

use std::collections::{BinaryHeap, HashMap};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::StrColumn;
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

fn string_column(segment: &SegmentReader, field: &str) -> tantivy::Result<Option<StrColumn>> {
    segment.fast_fields().str(field)
}

pub struct FacetCounts {
    pub fields: Vec<&'static str>,
}

pub struct FacetCountsSegment {
    columns: Vec<Option<(StrColumn, Vec<u32>)>>,
}

impl Collector for FacetCounts {
    type Fruit = Vec<HashMap<String, u64>>;
    type Child = FacetCountsSegment;

    fn for_segment(&self, _: SegmentOrdinal, segment: &SegmentReader) -> tantivy::Result<FacetCountsSegment> {
        let mut columns = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            columns.push(string_column(segment, field)?.map(|column| {
                let terms = column.num_terms();
                (column, vec![0u32; terms])
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
        for (column, counts) in self.columns.iter_mut().flatten() {
            for ordinal in column.term_ords(doc) {
                counts[ordinal as usize] += 1;
            }
        }
    }

    fn harvest(self) -> Self::Fruit {
        self.columns
            .into_iter()
            .map(|entry| {
                let mut values = HashMap::new();
                if let Some((column, counts)) = entry {
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
