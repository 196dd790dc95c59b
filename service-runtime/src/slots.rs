//! [`Slots`]: a set with stable indices and O(1) insert and remove.

/// A vector with stable indices and O(1) insert and remove (a minimal slab): vacant
/// entries form a free list threaded through the vector.
pub(crate) struct Slots<T> {
    entries: Vec<Entry<T>>,
    /// Head of the free list, `NONE` when empty.
    next_free: usize,
    len: usize,
}

enum Entry<T> {
    Occupied(T),
    /// The next vacant index, `NONE` at the end of the free list.
    Vacant(usize),
}

const NONE: usize = usize::MAX;

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            entries: Vec::new(),
            next_free: NONE,
            len: 0,
        }
    }
}

impl<T> Slots<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The index the next [`Slots::insert`] will use.
    pub(crate) fn next_slot(&self) -> usize {
        if self.next_free == NONE {
            self.entries.len()
        } else {
            self.next_free
        }
    }

    pub(crate) fn insert(&mut self, value: T) -> usize {
        self.len += 1;
        if self.next_free == NONE {
            self.entries.push(Entry::Occupied(value));
            return self.entries.len() - 1;
        }
        let slot = self.next_free;
        match std::mem::replace(&mut self.entries[slot], Entry::Occupied(value)) {
            Entry::Vacant(next) => self.next_free = next,
            Entry::Occupied(_) => unreachable!("the free list only holds vacant entries"),
        }
        slot
    }

    pub(crate) fn remove(&mut self, slot: usize) -> Option<T> {
        let entry = self.entries.get_mut(slot)?;
        if matches!(entry, Entry::Vacant(_)) {
            return None;
        }
        let Entry::Occupied(value) = std::mem::replace(entry, Entry::Vacant(self.next_free)) else {
            return None;
        };
        self.next_free = slot;
        self.len -= 1;
        if self.len == 0 {
            self.next_free = NONE;
            if self.entries.capacity() > 64 {
                // Give the memory of a burst of children back once it is over (small sets
                // keep theirs: a task that starts children one at a time would reallocate).
                self.entries = Vec::new();
            } else {
                self.entries.clear();
            }
        }
        Some(value)
    }

    /// Mutable access to the value at `slot`, if occupied.
    pub(crate) fn get_mut(&mut self, slot: usize) -> Option<&mut T> {
        match self.entries.get_mut(slot)? {
            Entry::Occupied(value) => Some(value),
            Entry::Vacant(_) => None,
        }
    }

    /// Takes every value out, leaving the set empty.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> {
        self.next_free = NONE;
        self.len = 0;
        std::mem::take(&mut self.entries)
            .into_iter()
            .filter_map(|entry| match entry {
                Entry::Occupied(value) => Some(value),
                Entry::Vacant(_) => None,
            })
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().filter_map(|entry| match entry {
            Entry::Occupied(value) => Some(value),
            Entry::Vacant(_) => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Slots;

    #[test]
    fn slots_reuse_indices() {
        let mut slots = Slots::default();
        let a = slots.insert('a');
        let b = slots.insert('b');
        assert_eq!(slots.remove(a), Some('a'));
        assert_eq!(slots.next_slot(), a);
        assert_eq!(slots.insert('c'), a);
        assert_eq!(slots.len(), 2);
        assert_eq!(slots.remove(a), Some('c'));
        assert_eq!(slots.remove(a), None);
        assert_eq!(slots.remove(b), Some('b'));
        assert!(slots.is_empty());
        // Many inserts and removes in any order keep indices stable.
        let keys: Vec<usize> = (0..100)
            .map(|i| slots.insert(char::from(b'a' + (i % 26) as u8)))
            .collect();
        for key in keys.iter().step_by(2) {
            assert!(slots.remove(*key).is_some());
        }
        assert_eq!(slots.len(), 50);
        for key in keys.iter().skip(1).step_by(2) {
            assert!(slots.remove(*key).is_some());
        }
        assert!(slots.is_empty());
        assert_eq!(slots.iter().count(), 0);
    }
}
