//! The rows seen so far, for duplicate detection: one 64-bit hash per row
//! in an open-addressed table.
//!
//! Every row of a file is added, and past a few hundred thousand rows the
//! table no longer fits in the processor's caches: each addition would wait
//! for memory. So a row's slot is fetched ahead ([`prefetch`]) and the row
//! is added one row later, once the next row has been read and split: by
//! then its slot is in the cache. A row found to repeat an earlier one is
//! therefore told of one row late.

use std::hash::BuildHasher;

/// Slots of the smallest table.
const FIRST_BITS: u32 = 14;

pub(crate) struct SeenRows {
    /// Each row's hash, placed from the slot its top bits name onwards;
    /// 0 marks an empty slot.
    slots: Vec<u64>,
    bits: u32,
    /// Rows added, and hashes in `slots` (a row's is put there one row later).
    len: usize,
    stored: usize,
    /// The row whose slot is being fetched: its hash and number.
    waiting: Option<(u64, u64)>,
    // Keyed by values from an uploaded file: a randomly seeded hash keeps
    // crafted rows from crowding one part of the table.
    hasher: foldhash::fast::RandomState,
}

impl Default for SeenRows {
    fn default() -> SeenRows {
        SeenRows {
            slots: zeroed(1 << FIRST_BITS),
            bits: FIRST_BITS,
            len: 0,
            stored: 0,
            waiting: None,
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

/// `len` empty slots, written now. (`vec![0; len]` would take pages the
/// system maps to its shared zero page when first read: the first write to
/// each then costs a second fault and a flush of every core's TLB.)
#[expect(clippy::slow_vector_initialization, reason = "the point: pages written, not mapped to the zero page")]
fn zeroed(len: usize) -> Vec<u64> {
    let mut slots = Vec::with_capacity(len);
    slots.resize(len, 0);
    slots
}

/// Asks the processor to bring `slot` into its cache, without waiting.
#[inline]
fn prefetch(slot: &u64) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that neither faults nor changes memory,
    // and the address is that of a live slot.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(std::ptr::from_ref(slot).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = slot;
}

impl SeenRows {
    /// How many rows were added.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn key(&self, hash: u64) -> u64 {
        // 0 marks an empty slot.
        self.hasher.hash_one(hash).max(1)
    }

    fn home(&self, key: u64) -> usize {
        (key >> (64 - self.bits)) as usize
    }

    /// Adds row `row`, whose cells hash to `hash`; gives the number of the
    /// row added before it when that one repeats an earlier row.
    pub(crate) fn add(&mut self, hash: u64, row: u64) -> Option<u64> {
        let key = self.key(hash);
        prefetch(&self.slots[self.home(key)]);
        self.len += 1;
        let (key, row) = self.waiting.replace((key, row))?;
        (!self.insert(key)).then_some(row)
    }

    /// The number of the last row added, when it repeats an earlier row.
    pub(crate) fn finish(&mut self) -> Option<u64> {
        let (key, row) = self.waiting.take()?;
        (!self.insert(key)).then_some(row)
    }

    /// Puts `key` in the table; false when it was there.
    fn insert(&mut self, key: u64) -> bool {
        // At most three quarters full: an absent key is found within a few
        // slots of its home, most often in the same cache line.
        if (self.stored + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut index = self.home(key);
        loop {
            match self.slots[index] {
                0 => {
                    self.slots[index] = key;
                    self.stored += 1;
                    return true;
                }
                slot if slot == key => return false,
                _ => index = (index + 1) & mask,
            }
        }
    }

    fn grow(&mut self) {
        self.bits += 1;
        let old = std::mem::replace(&mut self.slots, zeroed(1 << self.bits));
        let mask = self.slots.len() - 1;
        for key in old.into_iter().filter(|key| *key != 0) {
            let mut index = self.home(key);
            while self.slots[index] != 0 {
                index = (index + 1) & mask;
            }
            self.slots[index] = key;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_rows_are_told_one_row_late() {
        let mut seen = SeenRows::default();
        let mut repeats = Vec::new();
        // Enough rows to grow the table several times; every third row
        // repeats the one two rows before it.
        for row in 1..=200_000u64 {
            let hash = if row % 3 == 0 { row - 2 } else { row };
            repeats.extend(seen.add(hash, row));
        }
        repeats.extend(seen.finish());
        assert_eq!(repeats, (1..=200_000u64).filter(|row| row % 3 == 0).collect::<Vec<_>>());
        assert_eq!(seen.len(), 200_000);
        assert_eq!(seen.stored, 200_000 - 66_666);
        assert_eq!(seen.finish(), None);
        // Zero is a hash like any other.
        let mut seen = SeenRows::default();
        assert_eq!(seen.add(0, 1), None);
        assert_eq!(seen.add(0, 2), None);
        assert_eq!(seen.finish(), Some(2));
    }
}
