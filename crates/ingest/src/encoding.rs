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

/// Tells binary data from text: NUL bytes outside UTF-16 are not text.
pub fn looks_binary(sample: &[u8], encoding: &'static Encoding) -> bool {
    if encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE {
        return false;
    }
    sample.iter().take(8192).any(|byte| *byte == 0)
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
        assert!(looks_binary(b"PK\x03\x04\x00\x00", encoding_rs::UTF_8));
    }
}
