//! The order-independent digest of a table's rows that the checks compare (verify: SOURCE against
//! DB_FINAL; a move's transfer: SOURCE against its copy by meaning): the row count, a 128-bit sum
//! of row hashes, and one sum per column, only to name the column that differs. Each caller
//! encodes its values; equal encodings of equal rows give equal digests in any order.

use xxhash_rust::xxh3::{xxh3_128, xxh3_64_with_seed};

#[derive(Debug, Default, PartialEq)]
pub struct Digest {
    pub rows: u64,
    pub sum: u128,
    pub columns: Vec<u64>,
}

impl Digest {
    /// `n` columns to track one by one, or 0 for the row sum alone (the fast first pass).
    pub fn new(n: usize) -> Self {
        Digest {
            rows: 0,
            sum: 0,
            columns: vec![0; n],
        }
    }

    /// Column `i` of the row being built is `buf[start..]` (columns come in order, the row's
    /// encoding grows in `buf`, which `end_row` hashes and clears: no allocation per row).
    pub fn column(&mut self, i: usize, start: usize, buf: &[u8]) {
        if let Some(c) = self.columns.get_mut(i) {
            *c = c.wrapping_add(xxh3_64_with_seed(&buf[start..], i as u64));
        }
    }

    pub fn end_row(&mut self, buf: &mut Vec<u8>) {
        self.rows += 1;
        self.sum = self.sum.wrapping_add(xxh3_128(buf));
        buf.clear();
    }

    /// The columns (by index) whose sums differ between two digests of the same table.
    pub fn differing_columns(&self, other: &Digest) -> Vec<usize> {
        (0..self.columns.len().max(other.columns.len()))
            .filter(|i| self.columns.get(*i) != other.columns.get(*i))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(rows: &[&[&str]]) -> Digest {
        let mut d = Digest::new(2);
        let mut buf = Vec::new();
        for row in rows {
            for (i, v) in row.iter().enumerate() {
                let start = buf.len();
                buf.extend_from_slice(&(v.len() as u64).to_le_bytes());
                buf.extend_from_slice(v.as_bytes());
                d.column(i, start, &buf);
            }
            d.end_row(&mut buf);
        }
        d
    }

    #[test]
    fn rows_in_any_order_give_one_digest_and_a_changed_value_names_its_column() {
        let a = digest(&[&["1", "x"], &["2", "y"]]);
        assert_eq!(a, digest(&[&["2", "y"], &["1", "x"]]));
        let b = digest(&[&["1", "x"], &["2", "z"]]);
        assert_ne!(a, b);
        assert_eq!(a.differing_columns(&b), vec![1]);
        // Values swapped between rows keep the column sums but not the row sum.
        let c = digest(&[&["1", "y"], &["2", "x"]]);
        assert_ne!(a.sum, c.sum);
        assert!(a.differing_columns(&c).is_empty());
    }
}
