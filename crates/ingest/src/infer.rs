//! Type inference from every value of a column, as Mexican government data
//! writes them: dates as dd/mm/yyyy, numbers with thousands separators and
//! currency ("$1,234.50"), percentages, sí/no booleans, and markers such as
//! "N/D" or "S/D" for missing values.

use serde::Serialize;

/// Values that mean "no value".
pub const MISSING_MARKERS: &[&str] =
    &["", "n/d", "nd", "na", "n/a", "-", "--", "s/d", "sd", "null", "nulo", "sin dato", "sin datos"];

/// `str::trim`, answered at once for the common value that starts and ends
/// with a visible ASCII character (every whitespace character is either
/// ASCII at or below the space, or starts and ends with bytes above 0x7F).
#[inline]
pub fn trim(cell: &str) -> &str {
    match (cell.as_bytes().first(), cell.as_bytes().last()) {
        (Some(first), Some(last)) if (b'!'..0x80).contains(first) && (b'!'..0x80).contains(last) => cell,
        _ => cell.trim(),
    }
}

pub fn is_missing(cell: &str) -> bool {
    let trimmed = trim(cell);
    // Every marker is ASCII and starts with "n", "s" or "-" (or is empty):
    // most values are ruled out by their first byte, and none allocates.
    match trimmed.as_bytes().first() {
        None => true,
        Some(b'n' | b'N' | b's' | b'S' | b'-') if trimmed.len() <= 9 => {
            MISSING_MARKERS.iter().any(|marker| trimmed.eq_ignore_ascii_case(marker))
        }
        Some(_) => false,
    }
}

/// "$1,234.50" → 1234.5; "12%" → 12; "-3" → -3. Thousands separators must
/// group by three.
pub fn parse_number(cell: &str) -> Option<f64> {
    parse_number_and_point(cell).map(|(value, _)| value)
}

/// 10^0 to 10^15, each exact as f64.
const POWERS_OF_TEN: [f64; 16] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/// [`parse_number`], and whether the text has neither a decimal point nor
/// a percent sign (what an integer also needs).
fn parse_number_and_point(cell: &str) -> Option<(f64, bool)> {
    let mut text = trim(cell);
    // The common case, plain digits with an optional sign and point, parses without allocating.
    let (mut digits, mut dots, mut signs, mut plain) = (0usize, 0usize, 0usize, true);
    for byte in text.bytes() {
        match byte {
            b'0'..=b'9' => digits += 1,
            b'.' => dots += 1,
            b'-' | b'+' => signs += 1,
            _ => {
                plain = false;
                break;
            }
        }
    }
    if plain && digits > 0 {
        let body = text.strip_prefix(['-', '+']).unwrap_or(text);
        let sign = if text.starts_with('-') { -1.0 } else { 1.0 };
        // At most one sign, in front, and a point only between digits.
        let simple = signs == usize::from(body.len() != text.len()) && !body.starts_with('.') && !body.ends_with('.');
        if simple && dots <= 1 && digits <= 15 {
            // Digits and at most a point (codes, counts, coordinates,
            // amounts): the digits and the power of ten are both exact as
            // f64 (below 2^53), so one division rounds correctly, as the
            // float parser would (Clinger's fast path); whole digits are
            // divided by 1.
            let (mut digits, mut decimals, mut after) = (0u64, 0usize, false);
            for byte in body.bytes() {
                if byte == b'.' {
                    after = true;
                } else {
                    digits = digits * 10 + u64::from(byte - b'0');
                    decimals += usize::from(after);
                }
            }
            return Some((sign * (digits as f64 / POWERS_OF_TEN[decimals]), dots == 0));
        }
        if simple
            && dots <= 1
            && let Ok(value) = body.parse::<f64>()
        {
            return Some((sign * value, dots == 0));
        }
        // Anything unusual takes the careful path below.
    }
    let bare = !text.contains('.') && !text.ends_with('%');
    let negative = text.starts_with('-');
    if negative || text.starts_with('+') {
        text = &text[1..];
    }
    text = text.strip_prefix('$').unwrap_or(text).trim_start();
    text = text.strip_suffix('%').unwrap_or(text).trim_end();
    if text.is_empty() {
        return None;
    }
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    if whole.is_empty() && fraction.is_none() {
        return None;
    }
    // Most text is not a number: say so before allocating anything.
    if !whole.bytes().all(|byte| byte.is_ascii_digit() || byte == b',') {
        return None;
    }
    if whole.contains(',') {
        let groups: Vec<&str> = whole.split(',').collect();
        let first_ok = !groups[0].is_empty() && groups[0].len() <= 3;
        if !first_ok || groups[1..].iter().any(|group| group.len() != 3) {
            return None;
        }
    }
    let digits: String = whole.chars().filter(|character| *character != ',').collect();
    if !digits.chars().all(|character| character.is_ascii_digit()) {
        return None;
    }
    if let Some(fraction) = fraction
        && (fraction.is_empty() || !fraction.chars().all(|character| character.is_ascii_digit()))
    {
        return None;
    }
    let value: f64 = format!(
        "{}{}.{}",
        if negative { "-" } else { "" },
        if digits.is_empty() { "0" } else { &digits },
        fraction.unwrap_or("0")
    )
    .parse()
    .ok()?;
    value.is_finite().then_some((value, bare))
}

pub fn parse_integer(cell: &str) -> Option<i64> {
    let (value, bare) = parse_number_and_point(cell)?;
    whole(value, bare)
}

/// The integer a number parsed by [`parse_number_and_point`] is: written
/// without a point or a percent sign, whole, and exact as f64.
fn whole(value: f64, bare: bool) -> Option<i64> {
    (bare && value.fract() == 0.0 && value.abs() < 9.0e15).then_some(value as i64)
}

pub fn parse_boolean(cell: &str) -> Option<bool> {
    const TRUE: [&str; 4] = ["si", "true", "verdadero", "yes"];
    const FALSE: [&str; 3] = ["no", "false", "falso"];
    let text = trim(cell);
    if text.len() > 9 {
        return None;
    }
    // Compared without allocating; only "sí" is not ASCII.
    if TRUE.iter().any(|word| text.eq_ignore_ascii_case(word)) || matches!(text, "sí" | "Sí" | "SÍ" | "sÍ") {
        Some(true)
    } else if FALSE.iter().any(|word| text.eq_ignore_ascii_case(word)) {
        Some(false)
    } else {
        None
    }
}

/// The date formats a column may use; one is chosen for the whole column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DateFormat {
    /// 2024-03-31
    YearMonthDay,
    /// 31/03/2024 or 31-03-2024, as Mexico writes dates
    DayMonthYear,
    /// 03/31/2024
    MonthDayYear,
}

impl DateFormat {
    pub const ALL: [DateFormat; 3] = [DateFormat::YearMonthDay, DateFormat::DayMonthYear, DateFormat::MonthDayYear];

    /// The format's place in [`DateFormat::ALL`] (and in the dates of an
    /// [`Examined`] value).
    pub fn index(self) -> usize {
        match self {
            DateFormat::YearMonthDay => 0,
            DateFormat::DayMonthYear => 1,
            DateFormat::MonthDayYear => 2,
        }
    }

    /// The Table Schema `format` pattern.
    pub fn pattern(self) -> &'static str {
        match self {
            DateFormat::YearMonthDay => "%Y-%m-%d",
            DateFormat::DayMonthYear => "%d/%m/%Y",
            DateFormat::MonthDayYear => "%m/%d/%Y",
        }
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// A date in `format` as (year, month, day), or `None`.
pub fn parse_date(cell: &str, format: DateFormat) -> Option<(i32, u32, u32)> {
    parse_dates(trim(cell))[format.index()]
}

/// The date a trimmed text is in each order of [`DateFormat::ALL`],
/// splitting the text once: three groups of digits split by '/' or '-',
/// the year's of four digits (year-month-day only with '-', month-day-year
/// only with '/'), and a day the month has.
pub fn parse_dates(text: &str) -> [Option<(i32, u32, u32)>; 3] {
    let mut pieces = text.split(['/', '-']);
    let (Some(first), Some(second), Some(third), None) = (pieces.next(), pieces.next(), pieces.next(), pieces.next())
    else {
        return [None; 3];
    };
    let parts = [first, second, third];
    if !parts.iter().all(|part| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit())) {
        return [None; 3];
    }
    let numbers = parts.map(|part| part.parse::<u32>().ok());
    let date = |year: usize, month: usize, day: usize| {
        let (year, month, day) = (numbers[year]? as i32, numbers[month]?, numbers[day]?);
        ((1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)).then_some((year, month, day))
    };
    let (dash, slash) = (text.contains('-'), text.contains('/'));
    [
        if parts[0].len() == 4 && dash { date(0, 1, 2) } else { None },
        if parts[2].len() == 4 { date(2, 1, 0) } else { None },
        if parts[2].len() == 4 && slash { date(2, 0, 1) } else { None },
    ]
}

/// "13:45" or "13:45:10".
pub fn parse_time(cell: &str) -> Option<(u32, u32, u32)> {
    let text = trim(cell).as_bytes();
    if !(text.len() == 5 || text.len() == 8) {
        return None;
    }
    // Two digits, then ":" and two digits once or twice.
    let pair = |at: usize| -> Option<u32> {
        let (tens, units) = (text[at], text[at + 1]);
        (tens.is_ascii_digit() && units.is_ascii_digit()).then(|| u32::from(tens - b'0') * 10 + u32::from(units - b'0'))
    };
    if text[2] != b':' || (text.len() == 8 && text[5] != b':') {
        return None;
    }
    let hour = pair(0)?;
    let minute = pair(3)?;
    let second = if text.len() == 8 { pair(6)? } else { 0 };
    (hour < 24 && minute < 60 && second < 60).then_some((hour, minute, second))
}

/// "2024-03-31 13:45", "2024-03-31T13:45:00Z", "31/03/2024 13:45", as
/// microseconds since 1970-01-01 00:00 (the time zone, if any, is not applied).
pub fn parse_datetime(cell: &str) -> Option<i64> {
    let text = trim(cell).trim_end_matches('Z');
    let (date, time) = text.split_once(['T', ' '])?;
    let (hour, minute, second) = parse_time(time)?;
    let (year, month, day) = parse_dates(trim(date)).into_iter().flatten().next()?;
    let seconds = i64::from(days_from_civil(year, month, day)) * 86_400
        + i64::from(hour) * 3_600
        + i64::from(minute) * 60
        + i64::from(second);
    Some(seconds * 1_000_000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i32 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = if year >= 0 { year } else { year - 399 } / 400;
    let year_of_era = year - era * 400;
    let month = month as i32;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day as i32 - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Table Schema field types this inference produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Integer,
    Number,
    Boolean,
    Date,
    Datetime,
    Time,
    String,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Integer => "integer",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Datetime => "datetime",
            FieldType::Time => "time",
            FieldType::String => "string",
        }
    }
}

/// Share of values that must fit a type for the column to get it; the rest
/// become type errors (and null), as frictionless-py does with its default confidence.
pub const CONFIDENCE: f64 = 0.9;

/// Counters of one column, fed every value.
#[derive(Debug, Default, Clone)]
pub struct TypeVotes {
    pub values: u64,
    pub integers: u64,
    pub numbers: u64,
    pub booleans: u64,
    pub dates: [u64; 3],
    pub datetimes: u64,
    pub times: u64,
}

/// Which candidate types a value fits: integer, number, boolean, the three
/// date formats, datetime, time. Cheap tests first: most values are ruled
/// out of most types by a glance at their characters.
pub fn candidates(cell: &str) -> [bool; 8] {
    examine(trim(cell)).fits
}

/// What one value could be, with the number and dates it parsed as (so
/// nothing is parsed twice).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Examined {
    /// Fits integer, number, boolean, the three date orders, datetime, time.
    pub fits: [bool; 8],
    pub number: Option<f64>,
    /// The date in each order of [`DateFormat::ALL`].
    pub dates: [Option<(i32, u32, u32)>; 3],
}

/// Examines a trimmed value against every candidate type (see [`candidates`]).
pub fn examine(text: &str) -> Examined {
    if let Some((value, bare)) = parse_number_and_point(text) {
        // A number is nothing else: its characters (digits, one sign, '.',
        // ',', '$', '%') hold no word, no ':' of a time, and no '/' or
        // inner '-' between the three parts of a date.
        return Examined {
            fits: [whole(value, bare).is_some(), true, false, false, false, false, false, false],
            number: Some(value),
            dates: [None; 3],
        };
    }
    let boolean = text.len() <= 9 && parse_boolean(text).is_some();
    // One look at the bytes rules most values out of dates and times.
    let (mut has_digit, mut has_separator, mut has_colon) = (false, false, false);
    for byte in text.bytes() {
        has_digit |= byte.is_ascii_digit();
        has_separator |= byte == b'/' || byte == b'-';
        has_colon |= byte == b':';
    }
    let date_like = has_digit && text.len() <= 10 && has_separator;
    let dates = if date_like { parse_dates(text) } else { [None; 3] };
    let time_like = has_digit && has_colon;
    let datetime = time_like && text.len() > 10 && parse_datetime(text).is_some();
    let time = time_like && text.len() <= 8 && parse_time(text).is_some();
    Examined {
        fits: [false, false, boolean, dates[0].is_some(), dates[1].is_some(), dates[2].is_some(), datetime, time],
        number: None,
        dates,
    }
}

impl TypeVotes {
    /// Counts `times` values that fit the candidates whose bits are set in
    /// `fits` (bit `i` for candidate `i` of [`Examined::fits`]).
    pub(crate) fn add_fits(&mut self, fits: u8, times: u64) {
        let fit = |index: u32| u64::from((fits >> index) & 1) * times;
        self.values += times;
        self.integers += fit(0);
        self.numbers += fit(1);
        self.booleans += fit(2);
        for index in 0..3 {
            self.dates[index as usize] += fit(3 + index);
        }
        self.datetimes += fit(6);
        self.times += fit(7);
    }

    pub fn add(&mut self, cell: &str) {
        self.values += 1;
        if parse_integer(cell).is_some() {
            self.integers += 1;
        }
        if parse_number(cell).is_some() {
            self.numbers += 1;
        }
        if parse_boolean(cell).is_some() {
            self.booleans += 1;
        }
        for (index, date) in parse_dates(trim(cell)).iter().enumerate() {
            if date.is_some() {
                self.dates[index] += 1;
            }
        }
        if parse_datetime(cell).is_some() {
            self.datetimes += 1;
        }
        if parse_time(cell).is_some() {
            self.times += 1;
        }
    }

    /// The date order most values fit (the earliest of [`DateFormat::ALL`] on a tie).
    pub fn best_date_format(&self) -> DateFormat {
        let index = (0..3).max_by_key(|index| (self.dates[*index], 3 - index)).unwrap_or(1);
        DateFormat::ALL[index]
    }

    /// The column's type and, for dates, its format.
    pub fn decide(&self) -> (FieldType, Option<DateFormat>) {
        if self.values == 0 {
            return (FieldType::String, None);
        }
        let share = |count: u64| count as f64 / self.values as f64;
        if self.booleans == self.values {
            return (FieldType::Boolean, None);
        }
        if share(self.numbers) >= CONFIDENCE {
            return if self.integers == self.numbers { (FieldType::Integer, None) } else { (FieldType::Number, None) };
        }
        // Day-month-year first: that is how Mexico writes dates.
        let order = [1usize, 0, 2];
        if let Some(index) = order
            .iter()
            .copied()
            .filter(|index| share(self.dates[*index]) >= CONFIDENCE)
            .max_by_key(|index| (self.dates[*index], usize::from(*index == 1)))
        {
            return (FieldType::Date, Some(DateFormat::ALL[index]));
        }
        if share(self.datetimes) >= CONFIDENCE {
            return (FieldType::Datetime, None);
        }
        if share(self.times) >= CONFIDENCE {
            return (FieldType::Time, None);
        }
        (FieldType::String, None)
    }
}

/// Whether a value fits the decided type.
pub fn fits(cell: &str, field_type: FieldType, format: Option<DateFormat>) -> bool {
    match field_type {
        FieldType::Integer => parse_integer(cell).is_some(),
        FieldType::Number => parse_number(cell).is_some(),
        FieldType::Boolean => parse_boolean(cell).is_some(),
        FieldType::Date => parse_date(cell, format.unwrap_or(DateFormat::DayMonthYear)).is_some(),
        FieldType::Datetime => parse_datetime(cell).is_some(),
        FieldType::Time => parse_time(cell).is_some(),
        FieldType::String => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(values: &[&str]) -> (FieldType, Option<DateFormat>) {
        let mut votes = TypeVotes::default();
        for value in values.iter().filter(|value| !is_missing(value)) {
            votes.add(value);
        }
        votes.decide()
    }

    #[test]
    fn numbers_as_published() {
        assert_eq!(parse_number("$1,234.50"), Some(1234.5));
        assert_eq!(parse_number("007"), Some(7.0));
        assert_eq!(parse_number("-0012"), Some(-12.0));
        assert_eq!(parse_number("+123456789012345"), Some(123_456_789_012_345.0));
        assert_eq!(parse_number("12345678901234567"), Some(12_345_678_901_234_567.0));
        assert_eq!(parse_number("5-"), None);
        assert_eq!(parse_integer("123456789012345"), Some(123_456_789_012_345));
        assert_eq!(parse_number("12%"), Some(12.0));
        assert_eq!(parse_number("-3"), Some(-3.0));
        assert_eq!(parse_number("1,23"), None, "not a thousands grouping");
        assert_eq!(parse_number("12abc"), None);
        assert_eq!(parse_number(".5"), Some(0.5), "the fast path leaves odd forms to the careful one");
        assert_eq!(parse_number("1-2"), None);
        assert_eq!(parse_number("-"), None);
        assert_eq!(parse_integer("1,200"), Some(1200));
        assert_eq!(parse_integer("1.5"), None);
    }

    /// Decimals read without the float parser are the same f64, to the
    /// bit, as the float parser reads: every split of up to 15 digits
    /// around the point, both signs, leading and trailing zeros.
    #[test]
    fn decimals_read_as_the_float_parser_reads_them() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut checked = 0;
        for digits in 2..=15usize {
            for point in 1..digits {
                for _ in 0..2_000 {
                    // xorshift: reproducible digits of every kind.
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let number = format!("{:015}", state % 1_000_000_000_000_000);
                    let number = &number[15 - digits..];
                    let text =
                        format!("{}{}.{}", if state & 1 == 0 { "-" } else { "" }, &number[..point], &number[point..]);
                    let expected: f64 = text.parse().unwrap();
                    let (value, bare) = parse_number_and_point(&text).unwrap();
                    assert_eq!(value.to_bits(), expected.to_bits(), "{text}");
                    assert!(!bare);
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 105 * 2_000);
        assert_eq!(parse_number("25.958455"), Some(25.958455));
        assert_eq!(parse_number("-0.0").map(f64::to_bits), Some((-0.0f64).to_bits()));
        assert_eq!(parse_number("1234567890123.456"), Some(1_234_567_890_123.456), "16 digits: the float parser");
    }

    #[test]
    fn booleans_in_spanish_and_english_any_case() {
        for yes in ["sí", "Sí", "SÍ", "si", "SI", "true", "TRUE", "Verdadero", "yes"] {
            assert_eq!(parse_boolean(yes), Some(true), "{yes}");
        }
        for no in ["no", "NO", "false", "Falso", " falso "] {
            assert_eq!(parse_boolean(no), Some(false), "{no}");
        }
        for neither in ["", "s", "maybe", "verdaderos", "1"] {
            assert_eq!(parse_boolean(neither), None, "{neither}");
        }
    }

    #[test]
    fn times_and_trimming() {
        assert_eq!(parse_time("13:45"), Some((13, 45, 0)));
        assert_eq!(parse_time(" 06:09:30 "), Some((6, 9, 30)));
        for wrong in ["24:00", "12:60", "1:30", "12:30:", "12-30", "12:3a", "12:30:61", "123:45"] {
            assert_eq!(parse_time(wrong), None, "{wrong}");
        }
        assert_eq!(trim("\u{a0}N/D\t"), "N/D", "non-ASCII spaces are trimmed too");
        assert_eq!(trim("x"), "x");
        assert!(is_missing(" n/d\u{3000}"));
        assert!(
            MISSING_MARKERS
                .iter()
                .all(|marker| marker.is_empty() || matches!(marker.as_bytes()[0], b'n' | b's' | b'-')),
            "is_missing rules values out by their first byte"
        );
        assert!(is_missing("N/D") && is_missing("Sin Datos") && is_missing("--") && !is_missing("nada"));
    }

    #[test]
    fn examine_agrees_with_the_parsers() {
        let values = [
            "12",
            "-3",
            "+4",
            "1,200",
            "1.5",
            "-99.706963",
            "12%",
            "$1,234.50",
            "$ 5",
            "9000000000000000",
            "abc",
            "15/07/2020",
            "2020-07-15",
            "1-2-2020",
            "-1-2-2020",
            "12:30",
            "2020-07-15 12:30",
            "2020-07-15T12:30:05Z",
            "sí",
            "no",
            "1.2.3",
            "007",
            "29/02/2023",
            "29/02/2024",
            "2024/02/29",
            "2024-13-01",
            "00/01/2024",
            "1/1/99999999999",
        ];
        for value in values {
            let examined = examine(value);
            assert_eq!(examined.fits[0], parse_integer(value).is_some(), "integer {value}");
            assert_eq!(examined.fits[1], parse_number(value).is_some(), "number {value}");
            assert_eq!(examined.fits[2], parse_boolean(value).is_some(), "boolean {value}");
            for (index, format) in DateFormat::ALL.iter().enumerate() {
                assert_eq!(examined.dates[index], parse_date(value, *format), "date {value}");
                assert_eq!(examined.fits[3 + index], examined.dates[index].is_some(), "date {value}");
            }
            assert_eq!(examined.fits[6], parse_datetime(value).is_some(), "datetime {value}");
            assert_eq!(examined.fits[7], parse_time(value).is_some(), "time {value}");
        }
    }

    #[test]
    fn columns_get_one_type_from_all_values() {
        assert_eq!(decide(&["1", "2", "N/D", "3"]), (FieldType::Integer, None));
        assert_eq!(decide(&["1", "2.5", "$3,000.00"]), (FieldType::Number, None));
        assert_eq!(decide(&["sí", "no", "Sí"]), (FieldType::Boolean, None));
        assert_eq!(
            decide(&["15/07/2020", "05/12/2015", "28/02/2024"]),
            (FieldType::Date, Some(DateFormat::DayMonthYear))
        );
        assert_eq!(
            decide(&["07/15/2020", "12/05/2015"]),
            (FieldType::Date, Some(DateFormat::MonthDayYear)),
            "15 cannot be a month"
        );
        assert_eq!(
            decide(&["01/02/2020", "03/04/2021"]),
            (FieldType::Date, Some(DateFormat::DayMonthYear)),
            "ambiguous: as Mexico writes"
        );
        assert_eq!(decide(&["2024-01-31", "2023-12-01"]), (FieldType::Date, Some(DateFormat::YearMonthDay)));
        assert_eq!(decide(&["19:36", "06:09"]), (FieldType::Time, None));
        assert_eq!(decide(&["2024-01-31 10:00", "2024-02-01T11:30:00Z"]), (FieldType::Datetime, None));
        assert_eq!(decide(&["Monterrey", "García"]), (FieldType::String, None));
        let mostly: Vec<String> = (0..95).map(|n| n.to_string()).chain((0..5).map(|_| "abc".to_string())).collect();
        let refs: Vec<&str> = mostly.iter().map(String::as_str).collect();
        assert_eq!(decide(&refs), (FieldType::Integer, None), "95 % integers: the rest are type errors");
        assert_eq!(decide(&["N/D", "", "S/D"]), (FieldType::String, None));
        assert!(!fits("31/02/2024", FieldType::Date, Some(DateFormat::DayMonthYear)));
    }
}
