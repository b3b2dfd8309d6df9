//! How moments are written in answers and pages.

use time::OffsetDateTime;

/// UTC, without a zone, with microseconds: CKAN's shape, which its
/// clients parse, and the pages' too.
pub fn ckan_time(moment: OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]");
    moment.to_offset(time::UtcOffset::UTC).format(&format).expect("timestamps format")
}
