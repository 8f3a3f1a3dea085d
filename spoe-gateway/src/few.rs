//! A list of at most `N` values held inline, for the per-request lists whose length the
//! configuration bounds (the frontend's, backend's and server's statistics; the frontend's and
//! backend's `http-after-response` rules): a `Vec` allocated for each of them per request.

/// At most `N` values, in the order pushed, without an allocation.
#[derive(Debug, Clone)]
pub(crate) struct Few<T, const N: usize> {
    slots: [Option<T>; N],
    len: usize,
}

impl<T, const N: usize> Few<T, N> {
    /// One value.
    pub(crate) fn one(value: T) -> Self {
        let mut few = Self {
            slots: std::array::from_fn(|_| None),
            len: 0,
        };
        few.push(value);
        few
    }

    /// Adds `value` at the end.
    ///
    /// # Panics
    ///
    /// When `N` values are held already: the caller's bound is wrong.
    pub(crate) fn push(&mut self, value: T) {
        assert!(self.len < N, "more than {N} values in a `Few`");
        self.slots[self.len] = Some(value);
        self.len += 1;
    }

    /// Keeps the first `len` values.
    pub(crate) fn truncate(&mut self, len: usize) {
        while self.len > len {
            self.len -= 1;
            self.slots[self.len] = None;
        }
    }

    /// How many values are held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The values, in order.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &T> {
        self.slots[..self.len].iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_truncates_and_iterates_in_order() {
        let mut few: Few<u8, 3> = Few::one(1);
        few.push(2);
        few.push(3);
        assert_eq!(few.iter().copied().collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(few.iter().rev().copied().collect::<Vec<_>>(), [3, 2, 1]);
        few.truncate(2);
        few.push(4);
        assert_eq!(few.len(), 3);
        assert_eq!(few.iter().copied().collect::<Vec<_>>(), [1, 2, 4]);
    }

    #[test]
    #[should_panic(expected = "more than 2 values")]
    fn a_value_past_the_bound_is_a_bug() {
        let mut few: Few<u8, 2> = Few::one(1);
        few.push(2);
        few.push(3);
    }
}
