//! Text cells written to CSV files that people open in spreadsheets.
//!
//! A spreadsheet reads a cell that starts with `=`, `+`, `-` or `@` (and,
//! in some, a tab or a carriage return) as a formula, so text typed by
//! anyone (a blocker's reason, an inventory entry) could make a reader's
//! spreadsheet fetch a link or run a command. Such cells are written with
//! a leading apostrophe, which spreadsheets show as text and
//! [`restore`] removes when the file comes back (a bulk update).

use std::borrow::Cow;

/// Characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `cell` as a spreadsheet will show it, never as a formula.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) { Cow::Owned(format!("'{cell}")) } else { Cow::Borrowed(cell) }
}

/// A cell read back from a file [`neutralise`] wrote: the apostrophe it
/// added taken off.
pub fn restore(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_become_text_and_come_back() {
        for formula in ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            let written = neutralise(formula);
            assert!(written.starts_with('\''), "{formula:?}");
            assert_eq!(restore(&written), formula);
        }
        for plain in ["Secretaría de Economía", "", "'quoted", "1-2", "a=b"] {
            assert_eq!(neutralise(plain), plain);
            assert_eq!(restore(plain), plain);
        }
    }
}
