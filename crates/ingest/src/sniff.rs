//! The dialect of delimited text: which delimiter, whether the first row is
//! a header, and how many preamble lines (titles, notes) come before it.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dialect {
    pub delimiter: char,
    pub header: bool,
    /// Lines before the table (a title, a note) that are skipped.
    pub preamble_lines: usize,
}

const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];

fn field_counts(sample: &str, delimiter: u8) -> Vec<usize> {
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(sample.as_bytes());
    let mut counts: Vec<usize> = reader.records().take(200).filter_map(Result::ok).map(|record| record.len()).collect();
    // The last line of a sample may be cut short.
    if counts.len() > 2 {
        counts.pop();
    }
    counts
}

/// Sniffs from the first decoded lines of a file.
pub fn sniff(sample: &str) -> Dialect {
    let mut best = (b',', 0usize, 0.0f64, 0usize);
    for delimiter in CANDIDATES {
        let counts = field_counts(sample, delimiter);
        if counts.is_empty() {
            continue;
        }
        let mut frequency = std::collections::HashMap::new();
        for count in &counts {
            *frequency.entry(*count).or_insert(0usize) += 1;
        }
        let (mode, hits) = frequency.into_iter().max_by_key(|(count, hits)| (*hits, *count)).unwrap_or((1, 0));
        let consistency = hits as f64 / counts.len() as f64;
        // More columns, consistently, wins; a single column says nothing.
        let score = if mode > 1 { consistency * (1.0 + (mode as f64).ln()) } else { 0.0 };
        if score > best.2 {
            let preamble = counts.iter().take_while(|count| **count != mode).count();
            best = (delimiter, mode, score, preamble);
        }
    }
    let (delimiter, _, _, preamble_lines) = best;
    let header = first_row_is_header(sample, delimiter, preamble_lines);
    Dialect { delimiter: delimiter as char, header, preamble_lines }
}

/// A first row of labels: no cell of it is a number, while some later row has one,
/// or all its cells are filled and distinct.
fn first_row_is_header(sample: &str, delimiter: u8, skip: usize) -> bool {
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(sample.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().skip(skip).take(20).filter_map(Result::ok).collect();
    let Some(first) = rows.first() else { return true };
    let numeric = |cell: &str| crate::infer::parse_number(cell.trim()).is_some();
    if first.iter().any(numeric) {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_headers_and_preambles() {
        assert_eq!(sniff("a,b,c\n1,2,3\n4,5,6\n"), Dialect { delimiter: ',', header: true, preamble_lines: 0 });
        assert_eq!(sniff("nombre;monto\n\"Pérez, Ana\";1.200,50\nLuis;300\n").delimiter, ';');
        assert_eq!(sniff("x\ty\n1\t2\n").delimiter, '\t');
        let with_title = "Reporte de incidentes 2024\nFuente: Secretaría\nfolio,fecha,municipio\n1,01/02/2024,Monterrey\n2,03/02/2024,García\n3,04/02/2024,Apodaca\n";
        assert_eq!(sniff(with_title), Dialect { delimiter: ',', header: true, preamble_lines: 2 });
        assert!(!sniff("1,2,3\n4,5,6\n").header);
    }
}
