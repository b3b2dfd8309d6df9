//! Which encoding a file is in. Government CSVs are often Windows-1252;
//! UTF-8 (with or without BOM) and UTF-16 are recognised by their bytes.

use encoding_rs::Encoding;

/// How an encoding was decided, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncodingSource {
    ByteOrderMark,
    ValidUtf8,
    Detected,
    Given,
}

/// Decides the encoding from the first bytes of a file (a sample of at least
/// 64 KiB where the file has it).
pub fn detect(sample: &[u8]) -> (&'static Encoding, EncodingSource) {
    if let Some((encoding, _)) = Encoding::for_bom(sample) {
        return (encoding, EncodingSource::ByteOrderMark);
    }
    // A multibyte character may be cut at the end of the sample: ignore the last 3 bytes' error.
    match std::str::from_utf8(sample) {
        Ok(_) => return (encoding_rs::UTF_8, EncodingSource::ValidUtf8),
        Err(error) if error.error_len().is_none() && sample.len() - error.valid_up_to() < 4 => {
            return (encoding_rs::UTF_8, EncodingSource::ValidUtf8);
        }
        Err(_) => {}
    }
    let mut detector = chardetng::EncodingDetector::new();
    detector.feed(sample, true);
    (detector.guess(Some(b"mx"), false), EncodingSource::Detected)
}

/// Tells binary data from text: NUL bytes outside UTF-16 are not text, and
/// neither is a sample whose `text` (decoded as the file will be) has more
/// than one character in a hundred that is a C0 control character (tab and
/// line ends apart) or DEL (random bytes: about one in nine). Text in any
/// encoding, however rare, has almost none. C1 controls are not counted (a
/// UTF-8 `Á` read as Windows-1252 gives one), nor are undecodable bytes when
/// the encoding was `given` (a wrong given encoding is not binary data).
pub fn looks_binary(sample: &[u8], encoding: &'static Encoding, text: &str, given: bool) -> bool {
    let utf16 = encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE;
    if !utf16 && sample.iter().take(8192).any(|byte| *byte == 0) {
        return true;
    }
    let mut characters = 0usize;
    let mut strange = 0usize;
    for character in text.chars() {
        characters += 1;
        let control = (character < ' ' && !matches!(character, '\t' | '\n' | '\r' | '\u{0C}')) || character == '\u{7F}';
        if control || (!given && character == '\u{FFFD}') {
            strange += 1;
        }
    }
    // A multibyte character cut at the sample's end decodes as one U+FFFD.
    strange > 1 && strange * 100 > characters
}

/// How many lines of a file were in each encoding, when [`LineDecoder`]
/// decoded it: lines of plain ASCII (the same in both) count in neither.
#[derive(Debug, Clone, Default)]
pub struct LineEncodings {
    /// The single-byte encoding of the lines that are not UTF-8.
    pub other: &'static str,
    pub utf8_lines: u64,
    pub other_lines: u64,
    /// The first line numbers (from 1) of each kind, up to [`FIRST_LINES`].
    pub first_utf8: Vec<u64>,
    pub first_other: Vec<u64>,
}

/// How many line numbers of each kind a report names.
pub const FIRST_LINES: usize = 10;

impl LineEncodings {
    /// Counts line `number`, whose pieces were of `kind` (`UTF8`, `OTHER`, both or neither).
    fn count(&mut self, kind: u8, number: u64) {
        let (count, first) = if kind & OTHER != 0 {
            (&mut self.other_lines, &mut self.first_other)
        } else if kind & UTF8 != 0 {
            (&mut self.utf8_lines, &mut self.first_utf8)
        } else {
            return;
        };
        *count += 1;
        if first.len() < FIRST_LINES {
            first.push(number);
        }
    }

    /// The encoding most non-ASCII lines are in, and the lines in the other
    /// one when there are some.
    pub fn verdict(&self) -> (&'static str, Option<crate::table::MixedEncoding>) {
        let utf8 = encoding_rs::UTF_8.name();
        let minority = |encoding: &str, lines: u64, first: &[u64]| crate::table::MixedEncoding {
            encoding: encoding.to_string(),
            lines,
            first_lines: first.to_vec(),
        };
        match (self.utf8_lines, self.other_lines) {
            (_, 0) => (utf8, None),
            (0, _) => (self.other, None),
            (utf8_lines, other_lines) if utf8_lines >= other_lines => {
                (utf8, Some(minority(self.other, other_lines, &self.first_other)))
            }
            (utf8_lines, _) => (self.other, Some(minority(utf8, utf8_lines, &self.first_utf8))),
        }
    }
}

/// Kinds of line pieces (see `LineDecoder::decode`).
const UTF8: u8 = 1;
const OTHER: u8 = 2;

/// The longest run of bytes without a newline held before it is decoded
/// (a line longer than this is decoded in parts, cut between characters).
const MAX_HELD: usize = 1 << 20;

/// Decodes text line by line: a line that is valid UTF-8 as UTF-8, any other
/// in a single-byte encoding. Files concatenated by hand, common in
/// government exports, mix the two; decoding the whole file in one would
/// spoil the lines in the other. Counts the lines of each kind in `lines`.
pub struct LineDecoder<R> {
    inner: R,
    /// The single-byte encoding's decoder (it keeps no state between lines).
    decoder: encoding_rs::Decoder,
    buffer: Vec<u8>,
    held: Vec<u8>,
    output: Vec<u8>,
    position: usize,
    line: u64,
    /// The kinds of the pieces of a line not yet ended (`UTF8`, `OTHER`).
    pending: u8,
    started: bool,
    done: bool,
    lines: std::rc::Rc<std::cell::RefCell<LineEncodings>>,
}

impl<R: std::io::Read> LineDecoder<R> {
    /// `other` must be a single-byte encoding.
    pub fn new(inner: R, other: &'static Encoding) -> (LineDecoder<R>, std::rc::Rc<std::cell::RefCell<LineEncodings>>) {
        let lines =
            std::rc::Rc::new(std::cell::RefCell::new(LineEncodings { other: other.name(), ..Default::default() }));
        let decoder = LineDecoder {
            inner,
            decoder: other.new_decoder_without_bom_handling(),
            buffer: vec![0; 256 * 1024],
            held: Vec::new(),
            output: Vec::new(),
            position: 0,
            line: 0,
            pending: 0,
            started: false,
            done: false,
            lines: lines.clone(),
        };
        (decoder, lines)
    }

    /// Decodes `bytes`, whole lines (the last may lack its newline), into the output.
    fn decode(&mut self, bytes: &[u8], ends_line: bool) {
        let mut guard = self.lines.borrow_mut();
        let lines = &mut *guard;
        let mut start = 0;
        let ends = memchr::memchr_iter(b'\n', bytes).map(|end| (end + 1, true));
        let tail = (!bytes.is_empty()).then_some((bytes.len(), ends_line));
        for (end, complete) in ends.chain(tail) {
            if end <= start {
                continue;
            }
            let line = &bytes[start..end];
            start = end;
            // What this piece was: plain ASCII, UTF-8, or the other encoding.
            let kind = if line.is_ascii() {
                self.output.extend_from_slice(line);
                0
            } else if simdutf8::basic::from_utf8(line).is_ok() {
                self.output.extend_from_slice(line);
                UTF8
            } else {
                // Straight into the output: a single byte is at most three in UTF-8.
                let at = self.output.len();
                self.output.resize(at + line.len() * 3, 0);
                let (_, _, written, _) = self.decoder.decode_to_utf8(line, &mut self.output[at..], false);
                self.output.truncate(at + written);
                OTHER
            };
            // A line decoded in pieces counts once, when it ends.
            if !complete {
                self.pending |= kind;
                continue;
            }
            self.line += 1;
            lines.count(kind | std::mem::take(&mut self.pending), self.line);
        }
        // The file ended within a line decoded in pieces.
        if ends_line && self.pending != 0 {
            self.line += 1;
            lines.count(std::mem::take(&mut self.pending), self.line);
        }
    }

    fn fill(&mut self) -> std::io::Result<()> {
        self.output.clear();
        self.position = 0;
        let mut buffer = std::mem::take(&mut self.buffer);
        let filled = self.fill_from(&mut buffer);
        self.buffer = buffer;
        filled
    }

    fn fill_from(&mut self, buffer: &mut [u8]) -> std::io::Result<()> {
        while self.output.is_empty() && !self.done {
            let read = self.inner.read(buffer)?;
            if read == 0 {
                self.done = true;
                let held = std::mem::take(&mut self.held);
                self.decode(&held, true);
                break;
            }
            self.held.extend_from_slice(&buffer[..read]);
            if !self.started && self.held.len() >= 3 {
                self.started = true;
                if self.held.starts_with(b"\xEF\xBB\xBF") {
                    self.held.drain(..3);
                }
            }
            let cut = match memchr::memrchr(b'\n', &self.held) {
                Some(newline) => newline + 1,
                // A line longer than the bound: decoded up to a character's start.
                None if self.held.len() > MAX_HELD => {
                    let mut cut = self.held.len();
                    while cut > self.held.len() - 4 && (self.held[cut - 1] & 0xC0) == 0x80 {
                        cut -= 1;
                    }
                    cut.saturating_sub(1).max(1)
                }
                None => continue,
            };
            let held = std::mem::take(&mut self.held);
            let complete = held[cut - 1] == b'\n';
            self.decode(&held[..cut], complete);
            self.held = held[cut..].to_vec();
        }
        Ok(())
    }
}

impl<R: std::io::Read> std::io::Read for LineDecoder<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        if self.position == self.output.len() {
            self.fill()?;
        }
        let available = &self.output[self.position..];
        let count = available.len().min(buffer.len());
        buffer[..count].copy_from_slice(&available[..count]);
        self.position += count;
        Ok(count)
    }
}

/// A sample decoded as [`LineDecoder`] decodes the file.
pub fn decode_lines(sample: &[u8], other: &'static Encoding) -> String {
    let (mut decoder, _) = LineDecoder::new(sample, other);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut decoder, &mut text).expect("decoded lines are UTF-8");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_are_recognised() {
        assert_eq!(
            detect("año,municipio\n2024,Monterrey\n".as_bytes()),
            (encoding_rs::UTF_8, EncodingSource::ValidUtf8)
        );
        assert_eq!(detect(b"\xEF\xBB\xBFa,b\n").0, encoding_rs::UTF_8);
        assert_eq!(detect(b"\xFF\xFEa\x00,\x00").0, encoding_rs::UTF_16LE);
        let (cp1252, _, _) = encoding_rs::WINDOWS_1252
            .encode("municipio,población,año\nGarcía,1200,2024\nAnáhuac,19000,2024\nPesquería,5,2023\n");
        assert_eq!(detect(&cp1252), (encoding_rs::WINDOWS_1252, EncodingSource::Detected));
        assert!(looks_binary(b"PK\x03\x04\x00\x00", encoding_rs::UTF_8, "PK\u{3}\u{4}", false));
        // Upper-case Spanish in UTF-8, read as Windows-1252: C1 controls, still text.
        let accents = "GARCÍA,SAN NICOLÁS DE LOS GARZA\n".repeat(20);
        let (as_1252, _, _) = encoding_rs::WINDOWS_1252.decode(accents.as_bytes());
        assert!(!looks_binary(accents.as_bytes(), encoding_rs::WINDOWS_1252, &as_1252, false));
    }
}
