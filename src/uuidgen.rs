//! New keys: seeded, reproducible UUID generation (v7 in old-key order, or v4) and their stored forms.

use rand::RngCore;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use uuid::{Builder, Uuid, Variant, Version};

use crate::options::{UuidFormat, UuidVersion};

/// Generates the UUIDs of one table, in the order of its old keys.
pub struct UuidGen {
    rng: ChaCha20Rng,
    version: UuidVersion,
    base_ms: u64,
    counter: u64,
}

/// The v7 timestamp used with `--seed`: a fixed instant, so the same seed gives the same UUIDs on
/// every rehearsal (2000-01-01T00:00:00Z).
pub const SEEDED_BASE_MS: u64 = 946_684_800_000;

impl UuidGen {
    /// `seed` is the run's seed (recorded in the journal), `table` separates the tables' streams.
    pub fn new(seed: u64, table: &str, version: UuidVersion, base_ms: u64) -> Self {
        let table_seed = seed ^ xxhash_rust::xxh3::xxh3_64(table.as_bytes());
        UuidGen {
            rng: ChaCha20Rng::seed_from_u64(table_seed),
            version,
            base_ms,
            counter: 0,
        }
    }

    /// The next UUID. For v7, strictly greater than every earlier one of this generator: the
    /// 12-bit `rand_a` field is a counter and the millisecond advances every 4096 keys (RFC 9562,
    /// method 1), so sorting by the new key keeps the old key order.
    pub fn next_uuid(&mut self) -> Uuid {
        let mut bytes = [0u8; 16];
        self.rng.fill_bytes(&mut bytes);
        let id = match self.version {
            UuidVersion::V4 => Builder::from_random_bytes(bytes).into_uuid(),
            UuidVersion::V7 => {
                let ms = self.base_ms + (self.counter >> 12);
                let seq = (self.counter & 0x0fff) as u16;
                bytes[0..6].copy_from_slice(&ms.to_be_bytes()[2..8]);
                bytes[6..8].copy_from_slice(&seq.to_be_bytes());
                Builder::from_bytes(bytes)
                    .with_variant(Variant::RFC4122)
                    .with_version(Version::SortRand)
                    .into_uuid()
            }
        };
        self.counter += 1;
        id
    }
}

/// The text form of a UUID as it is stored (and written to map files) for a format.
pub fn to_text(id: &Uuid, format: UuidFormat) -> String {
    match format {
        UuidFormat::Char32 => id.simple().to_string(),
        _ => id.hyphenated().to_string(),
    }
}

/// Reads a UUID back from what an engine returned for a UUID column of `format`.
/// Returns `None` for anything that is not a well-formed UUID in that format.
pub fn parse_stored(bytes: &[u8], format: UuidFormat) -> Option<Uuid> {
    match format {
        UuidFormat::Binary16 => Uuid::from_slice(bytes).ok(),
        UuidFormat::Char32 => {
            let text = std::str::from_utf8(bytes).ok()?;
            (text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
                .then(|| Uuid::try_parse(text).ok())
                .flatten()
        }
        UuidFormat::Char36 | UuidFormat::Native => {
            let text = std::str::from_utf8(bytes).ok()?;
            (text.len() == 36 && !text.bytes().any(|b| b.is_ascii_uppercase()))
                .then(|| Uuid::try_parse(text).ok())
                .flatten()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v7_is_strictly_increasing_and_versioned() {
        let mut g = UuidGen::new(42, "t", UuidVersion::V7, SEEDED_BASE_MS);
        let mut last = g.next_uuid();
        assert_eq!(last.get_version_num(), 7);
        for _ in 0..20_000 {
            let next = g.next_uuid();
            assert!(next > last);
            assert!(to_text(&next, UuidFormat::Char32) > to_text(&last, UuidFormat::Char32));
            last = next;
        }
    }

    #[test]
    fn same_seed_same_uuids_other_table_other_uuids() {
        let a: Vec<Uuid> = {
            let mut g = UuidGen::new(7, "user", UuidVersion::V4, 0);
            (0..5).map(|_| g.next_uuid()).collect()
        };
        let b: Vec<Uuid> = {
            let mut g = UuidGen::new(7, "user", UuidVersion::V4, 0);
            (0..5).map(|_| g.next_uuid()).collect()
        };
        let c: Vec<Uuid> = {
            let mut g = UuidGen::new(7, "group", UuidVersion::V4, 0);
            (0..5).map(|_| g.next_uuid()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a[0].get_version_num(), 4);
    }

    #[test]
    fn stored_forms_round_trip() {
        let id = UuidGen::new(1, "x", UuidVersion::V7, SEEDED_BASE_MS).next_uuid();
        for f in [UuidFormat::Char32, UuidFormat::Char36] {
            assert_eq!(parse_stored(to_text(&id, f).as_bytes(), f), Some(id));
        }
        assert_eq!(parse_stored(id.as_bytes(), UuidFormat::Binary16), Some(id));
        assert_eq!(parse_stored(b"ABCDEF", UuidFormat::Char32), None);
        let upper = to_text(&id, UuidFormat::Char32).to_uppercase();
        assert_eq!(parse_stored(upper.as_bytes(), UuidFormat::Char32), None);
    }
}
