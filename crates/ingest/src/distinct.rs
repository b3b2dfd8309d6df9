//! A column's distinct values and how often each appears, for the profile.
//!
//! Every present value of every column is looked up here, so the lookup is
//! kept cheap: a value of up to 16 bytes (most codes, numbers, dates and
//! names) sits in its entry, compared in one 16-byte step with no pointer
//! to follow; longer ones sit one after another in a single string. The
//! table is keyed by a randomly seeded hash, against crafted collisions.
//! Each value held also keeps what was learned of it the first time (its
//! type checks), so a value seen before is not examined again.

use std::hash::BuildHasher;

use hashbrown::HashTable;

/// Values up to this long are kept in their entry.
const INLINE: usize = 16;

struct Entry<T> {
    /// A short value's bytes, padded with zeros; a long value's first
    /// bytes (see [`head`]).
    head: u128,
    /// Where a long value starts in [`Distinct::long`].
    start: u32,
    len: u32,
    count: u64,
    /// What was learned of the value the first time: in the entry, so a
    /// repeated value costs one look into memory.
    learned: T,
}

/// What [`Distinct::add`] did with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Added {
    /// It was held: one more occurrence.
    Counted,
    /// It is held from now on, seen once.
    New,
    /// It is not held and there was no room for it.
    Refused,
}

pub(crate) struct Distinct<T> {
    table: HashTable<Entry<T>>,
    long: String,
    hasher: foldhash::fast::RandomState,
}

impl<T> Default for Distinct<T> {
    fn default() -> Self {
        Distinct { table: HashTable::new(), long: String::new(), hasher: foldhash::fast::RandomState::default() }
    }
}

/// A value's first 16 bytes (all of a short one), zero-padded, as one
/// number: built from a few overlapping loads rather than a call to copy
/// memory, which costs more than the rest of a lookup.
fn head(value: &str) -> u128 {
    let bytes = value.as_bytes();
    let length = bytes.len().min(INLINE);
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"));
    let half = |at: usize| u64::from(u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes")));
    // Bytes `at..length` of the value, placed from bit 0, from a load that
    // ends at `length`: its first `at + width - length` bytes are dropped.
    let (low, high) = match length {
        16.. => (word(0), word(8)),
        9..=15 => (word(0), word(length - 8) >> (8 * (16 - length))),
        8 => (word(0), 0),
        4..=7 => (half(0) | (half(length - 4) >> (8 * (8 - length))) << 32, 0),
        _ => (bytes[..length].iter().rev().fold(0u64, |word, byte| (word << 8) | u64::from(*byte)), 0),
    };
    u128::from(low) | (u128::from(high) << 64)
}

fn text<'a, T>(entry: &'a Entry<T>, long: &'a str, buffer: &'a mut [u8; INLINE]) -> &'a str {
    let length = entry.len as usize;
    if length <= INLINE {
        *buffer = entry.head.to_le_bytes();
        // A whole value of a `&str`, so whole characters.
        std::str::from_utf8(&buffer[..length]).expect("a short value is kept whole")
    } else {
        &long[entry.start as usize..entry.start as usize + length]
    }
}

impl<T: Copy> Distinct<T> {
    /// How many distinct values are held.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Counts `value`: one more occurrence when it is held, else, when
    /// `room`, held from now on with what `learn` says of it. Gives what
    /// was learned of the value, the first time or now.
    pub(crate) fn add(&mut self, value: &str, room: bool, learn: impl FnOnce() -> T) -> (Added, T) {
        let hash = self.hasher.hash_one(value);
        let probe = head(value);
        let length = value.len();
        let long = &self.long;
        let found = self.table.find_mut(hash, |entry| {
            entry.len as usize == length
                && entry.head == probe
                && (length <= INLINE || &long[entry.start as usize..entry.start as usize + length] == value)
        });
        if let Some(entry) = found {
            entry.count += 1;
            return (Added::Counted, entry.learned);
        }
        let learned = learn();
        if !room {
            return (Added::Refused, learned);
        }
        let start = if length > INLINE {
            let start = self.long.len();
            self.long.push_str(value);
            start
        } else {
            0
        };
        let entry = Entry { head: probe, start: start as u32, len: length as u32, count: 1, learned };
        let (hasher, long) = (&self.hasher, &self.long);
        self.table.insert_unique(hash, entry, |entry| hasher.hash_one(text(entry, long, &mut [0; INLINE])));
        (Added::New, learned)
    }

    /// Every value held, with its count, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (String, u64)> + '_ {
        self.table.iter().map(|entry| (text(entry, &self.long, &mut [0; INLINE]).to_string(), entry.count))
    }

    /// What was learned of every value held, with its count, in no particular order.
    pub(crate) fn learned(&self) -> impl Iterator<Item = (T, u64)> + '_ {
        self.table.iter().map(|entry| (entry.learned, entry.count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_hold_the_first_sixteen_bytes() {
        let text = "abcdefghijklmnopqrstuvwxyz";
        for length in 0..=text.len() {
            let value = &text[..length];
            let mut expected = [0u8; 16];
            expected[..length.min(16)].copy_from_slice(&value.as_bytes()[..length.min(16)]);
            assert_eq!(head(value), u128::from_le_bytes(expected), "{length} bytes");
        }
    }

    #[test]
    fn values_short_and_long_are_counted_apart() {
        let mut distinct = Distinct::default();
        let long = "una observación bastante más larga que dieciséis bytes";
        let values = ["", "a", "Monterrey", "abcdefghijklmnop", "abcdefghijklmnopq", long, "ñandú", "Monterrey", long];
        let added: Vec<(Added, usize)> = values.iter().map(|value| distinct.add(value, true, || value.len())).collect();
        assert_eq!(added.iter().map(|(added, _)| *added).collect::<Vec<_>>()[..7], [Added::New; 7]);
        assert_eq!(&added[7..], &[(Added::Counted, 9), (Added::Counted, long.len())], "learned once, kept");
        // Same first 16 bytes, different lengths and tails.
        let twin = "una observación bastante más larga que dieciséis bytez";
        assert_eq!(distinct.add(twin, false, || 0), (Added::Refused, 0));
        assert_eq!(distinct.add("abcdefghijklmnop", false, || 0), (Added::Counted, 16));
        let mut counts: Vec<(String, u64)> = distinct.iter().collect();
        counts.sort();
        assert_eq!(counts.len(), 7);
        assert!(counts.contains(&("Monterrey".into(), 2)));
        assert!(counts.contains(&(long.into(), 2)));
        assert!(counts.contains(&("abcdefghijklmnop".into(), 2)));
        assert!(counts.contains(&("abcdefghijklmnopq".into(), 1)));
        assert!(counts.contains(&("".into(), 1)));
        // Grows past its first allocation without losing anything.
        for number in 0..5_000 {
            distinct.add(&format!("valor {number} con algo de texto"), true, || number);
        }
        assert_eq!(distinct.len(), 5_007);
        assert_eq!(distinct.add("valor 4999 con algo de texto", false, || 0), (Added::Counted, 4_999));
    }
}
