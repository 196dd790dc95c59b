//! [`Slots`]: a set with stable indices and O(1) insert and remove.

/// A set with stable indices and O(1) insert and remove (a minimal slab). Slot 0 is held
/// inline — most nodes and events never hold more than one value at a time, and then need
/// no heap — and the others in a vector whose vacant entries form a free list.
pub(crate) struct Slots<T> {
    first: Option<T>,
    /// Slots `1..`: slot `i` is `rest[i - 1]`.
    rest: Vec<Entry<T>>,
    /// Head of the free list in `rest`, `NONE` when empty. (`u32`s keep a task's node
    /// small; a set never holds anywhere near 2³² values, which would take hundreds of GB.)
    next_free: u32,
    len: u32,
}

enum Entry<T> {
    Occupied(T),
    /// The next vacant index in `rest`, `NONE` at the end of the free list.
    Vacant(u32),
}

const NONE: u32 = u32::MAX;

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots {
            first: None,
            rest: Vec::new(),
            next_free: NONE,
            len: 0,
        }
    }
}

impl<T> Slots<T> {
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The index the next [`Slots::insert`] will use.
    pub(crate) fn next_slot(&self) -> usize {
        if self.first.is_none() {
            0
        } else if self.next_free == NONE {
            self.rest.len() + 1
        } else {
            self.next_free as usize + 1
        }
    }

    pub(crate) fn insert(&mut self, value: T) -> usize {
        self.len += 1;
        if self.first.is_none() {
            self.first = Some(value);
            return 0;
        }
        if self.next_free == NONE {
            self.rest.push(Entry::Occupied(value));
            return self.rest.len();
        }
        let index = self.next_free as usize;
        match std::mem::replace(&mut self.rest[index], Entry::Occupied(value)) {
            Entry::Vacant(next) => self.next_free = next,
            Entry::Occupied(_) => unreachable!("the free list only holds vacant entries"),
        }
        index + 1
    }

    pub(crate) fn remove(&mut self, slot: usize) -> Option<T> {
        let value = if slot == 0 {
            self.first.take()?
        } else {
            let index = slot - 1;
            let entry = self.rest.get_mut(index)?;
            if matches!(entry, Entry::Vacant(_)) {
                return None;
            }
            let Entry::Occupied(value) = std::mem::replace(entry, Entry::Vacant(self.next_free))
            else {
                return None;
            };
            // Fits: `rest` only grows by `insert`, one value at a time.
            self.next_free = index as u32;
            value
        };
        self.len -= 1;
        if self.len == 0 {
            self.next_free = NONE;
            if self.rest.capacity() > 64 {
                // Give the memory of a burst of values back once it is over (small sets
                // keep theirs: a node that gains children one at a time would reallocate).
                self.rest = Vec::new();
            } else {
                self.rest.clear();
            }
        }
        Some(value)
    }

    /// Mutable access to the value at `slot`, if occupied.
    pub(crate) fn get_mut(&mut self, slot: usize) -> Option<&mut T> {
        if slot == 0 {
            return self.first.as_mut();
        }
        match self.rest.get_mut(slot - 1)? {
            Entry::Occupied(value) => Some(value),
            Entry::Vacant(_) => None,
        }
    }

    /// Takes every value out, leaving the set empty.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> {
        self.next_free = NONE;
        self.len = 0;
        let rest = std::mem::take(&mut self.rest)
            .into_iter()
            .filter_map(|entry| match entry {
                Entry::Occupied(value) => Some(value),
                Entry::Vacant(_) => None,
            });
        self.first.take().into_iter().chain(rest)
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        let rest = self.rest.iter_mut().filter_map(|entry| match entry {
            Entry::Occupied(value) => Some(value),
            Entry::Vacant(_) => None,
        });
        self.first.iter_mut().chain(rest)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        let rest = self.rest.iter().filter_map(|entry| match entry {
            Entry::Occupied(value) => Some(value),
            Entry::Vacant(_) => None,
        });
        self.first.iter().chain(rest)
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

    /// A large set keeps its indices stable, and its free list reaches every part of it.
    #[test]
    fn large_sets_keep_indices() {
        let mut slots = Slots::default();
        let n = 3000;
        let keys: Vec<usize> = (0..n).map(|i| slots.insert(i)).collect();
        assert_eq!(keys, (0..n).collect::<Vec<_>>());
        for &key in keys.iter().step_by(7) {
            assert_eq!(slots.remove(key), Some(key));
        }
        for &key in keys.iter().skip(1).step_by(7) {
            assert_eq!(slots.get_mut(key).copied(), Some(key));
        }
        // The freed slots are used again before the set grows.
        let freed = keys.iter().step_by(7).count();
        let mut again: Vec<usize> = (0..freed).map(|i| slots.insert(n + i)).collect();
        again.sort_unstable();
        assert_eq!(again, keys.iter().step_by(7).copied().collect::<Vec<_>>());
        assert_eq!(slots.next_slot(), n);
        assert_eq!(slots.iter().count(), n);
        let mut drained: Vec<usize> = slots.drain().collect();
        drained.sort_unstable();
        assert_eq!(drained.len(), n);
        assert!(slots.is_empty());
        assert_eq!(slots.insert(0), 0);
    }

    #[test]
    fn inline_slot_is_reused_and_drain_takes_all() {
        let mut slots = Slots::default();
        assert_eq!(slots.insert(1), 0);
        assert_eq!(slots.insert(2), 1);
        assert_eq!(slots.insert(3), 2);
        assert_eq!(slots.remove(0), Some(1));
        assert_eq!(slots.get_mut(0), None);
        assert_eq!(slots.next_slot(), 0);
        assert_eq!(slots.insert(4), 0);
        assert_eq!(slots.remove(1), Some(2));
        assert_eq!(slots.next_slot(), 1);
        *slots.get_mut(2).unwrap() += 10;
        let mut all: Vec<i32> = slots.iter().copied().collect();
        all.sort_unstable();
        assert_eq!(all, [4, 13]);
        let mut drained: Vec<i32> = slots.drain().collect();
        drained.sort_unstable();
        assert_eq!(drained, [4, 13]);
        assert!(slots.is_empty());
        assert_eq!((slots.next_slot(), slots.insert(5)), (0, 0));
    }
}
