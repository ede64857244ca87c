//! New keys: UUIDs made from the run's secret (v4, the default, revealing nothing of the old keys;
//! or v7 in old-key order, which reveals them) and their stored forms.
//! Two ways to the same guarantees: a generator that numbers a table's keys in order (any key
//! values), and `derived`, a function of the old key alone that an engine can also compute in SQL
//! (`Dialect::derived_key_sql`), so swap needs neither mapping tables nor joins.

use rand::RngCore;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use uuid::{Builder, Uuid, Variant, Version};

use crate::options::{UuidFormat, UuidVersion};

/// What every new key of a run is computed from. A new run draws 256 bits from the operating
/// system (64 lowercase hex digits, kept in the journal only, which is private to its user);
/// `--seed N` makes it the seed's 16 hex digits instead, so that rehearsals give the same keys
/// (and anyone who knows N can recompute them). Never printed: `Debug` hides it and
/// `register` has `url::redact` take it out of everything rekey writes or prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    text: String,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Secret {
    /// A new secret from the operating system's randomness.
    pub fn generate() -> std::result::Result<Secret, String> {
        use rand::TryRngCore;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| e.to_string())?;
        Ok(Secret {
            text: bytes.iter().map(|b| format!("{b:02x}")).collect(),
        })
    }

    /// The secret of a run given `--seed N` (and of runs journaled before secrets existed).
    pub fn from_seed(seed: u64) -> Secret {
        Secret {
            text: format!("{seed:016x}"),
        }
    }

    /// A secret as `text()` gave it (the journal's), or `None` for anything else.
    pub fn from_stored(text: &str) -> Option<Secret> {
        (matches!(text.len(), 16 | 64)
            && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| Secret { text: text.into() })
    }

    /// The secret as stored in the journal and hashed with every old key.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether this is a seed's (`--seed`), which the operator knows and need not be hidden.
    pub fn is_seed(&self) -> bool {
        self.text.len() == 16
    }

    /// Has `url::redact` replace the secret, as written and hex-encoded (PostgreSQL's SQL
    /// carries the hash prefix as hex), wherever rekey prints or writes text. A seed is left
    /// alone: the operator typed it, and 16 zeros may well appear in other output.
    pub fn register(&self) {
        if !self.is_seed() {
            crate::url::register_secret(&self.text);
            let hex: String = self.text.bytes().map(|b| format!("{b:02x}")).collect();
            crate::url::register_secret(&hex);
        }
    }

    /// The random stream of one table's generated keys (`UuidGen`): ChaCha20 keyed by 256 bits
    /// of MD5(secret:table:0) and MD5(secret:table:1); a seed's, as before secrets existed.
    fn stream(&self, table: &str) -> ChaCha20Rng {
        if self.is_seed() {
            let seed = u64::from_str_radix(&self.text, 16).unwrap_or(0);
            return ChaCha20Rng::seed_from_u64(seed ^ xxhash_rust::xxh3::xxh3_64(table.as_bytes()));
        }
        use md5::{Digest, Md5};
        let mut key = [0u8; 32];
        for (half, out) in key.chunks_mut(16).enumerate() {
            let mut h = Md5::new();
            h.update(self.text.as_bytes());
            h.update(b":");
            h.update(table.as_bytes());
            h.update(format!(":{half}").as_bytes());
            out.copy_from_slice(&h.finalize());
        }
        ChaCha20Rng::from_seed(key)
    }
}

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
    /// `secret` is the run's (recorded in the journal), `table` separates the tables' streams.
    pub fn new(secret: &Secret, table: &str, version: UuidVersion, base_ms: u64) -> Self {
        UuidGen {
            rng: secret.stream(table),
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

/// Old keys from 0 up to this bound (exclusive) have derived keys: the v7 timestamp
/// `base_ms + key / 4096` must fit its 48 bits for every base rekey uses (up to the year 2100).
pub const DERIVED_KEY_LIMIT: u64 = 1 << 59;

/// What a derived key depends on besides the old key: the run's secret and v7 time base, the
/// table whose keys it names (a reference names its parent's), and the version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedKey {
    pub secret: Secret,
    pub base_ms: u64,
    pub table: String,
    pub version: UuidVersion,
}

impl DerivedKey {
    /// The text whose MD5 gives the key's random bits (the same in Rust and in SQL).
    pub fn hash_prefix(&self) -> String {
        format!("{}:{}:", self.secret.text(), self.table)
    }

    /// MD5's state after `hash_prefix()`, kept per thread for the last few tables: a random
    /// secret is 64 characters, MD5's whole first block, so every key of a table starts from the
    /// same state and costs one block instead of two (MD5 was 22% of rekey's CPU in a PostgreSQL
    /// run, whose swap derives each key and each reference to a derived parent).
    fn prefix_state(&self) -> md5::Md5 {
        use md5::{Digest, Md5};
        thread_local! {
            static STATES: std::cell::RefCell<Vec<(String, String, Md5)>> =
                const { std::cell::RefCell::new(Vec::new()) };
        }
        STATES.with(|states| {
            let mut states = states.borrow_mut();
            let secret = self.secret.text();
            if let Some((_, _, h)) = states
                .iter()
                .find(|(s, t, _)| s == secret && *t == self.table)
            {
                return h.clone();
            }
            let mut h = Md5::new();
            h.update(secret.as_bytes());
            h.update(b":");
            h.update(self.table.as_bytes());
            h.update(b":");
            // A few tables at once (a row's key and its references to derived parents).
            if states.len() >= 16 {
                states.remove(0);
            }
            states.push((secret.to_string(), self.table.clone(), h.clone()));
            h
        })
    }

    /// The new key of `old` (`0 <= old < DERIVED_KEY_LIMIT`). v4 (the default): 122 bits of
    /// MD5(secret:table:old) with the version and variant set, a keyed hash that tells nothing
    /// of `old` to whoever lacks the secret (a 256-bit secret fills MD5's first block; MD5's
    /// collisions do not matter here, nobody chooses the hashed text). v7: the millisecond
    /// `base_ms + old / 4096` and the 12-bit counter `old % 4096` (so new keys sort as the old
    /// ones, RFC 9562 method 1, and show them), the variant, and 60 bits of that MD5.
    pub fn uuid(&self, old: u64) -> Uuid {
        use md5::Digest;
        let mut digits = itoa::Buffer::new();
        // The same bytes as hash_prefix() + old, without building the text for every key; MD5's
        // state after the prefix comes from `prefix_state`.
        let mut hasher = self.prefix_state();
        hasher.update(digits.format(old).as_bytes());
        let h: [u8; 16] = hasher.finalize().into();
        let mut b = [0u8; 16];
        match self.version {
            UuidVersion::V7 => {
                // Hex digits: time (12), 7, counter (3), 8, then the hash's first 15 digits,
                // which start half a byte into byte 8.
                let ms = self.base_ms + (old >> 12);
                b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
                b[6] = 0x70 | ((old >> 8) & 0x0f) as u8;
                b[7] = (old & 0xff) as u8;
                b[8] = 0x80 | (h[0] >> 4);
                for i in 9..16 {
                    b[i] = (h[i - 9] << 4) | (h[i - 8] >> 4);
                }
            }
            UuidVersion::V4 => {
                // The hash with digit 12 made 4 (the version) and digit 16 made 8 (the variant).
                b = h;
                b[6] = 0x40 | (h[6] & 0x0f);
                b[8] = 0x80 | (h[8] & 0x0f);
            }
        }
        Uuid::from_bytes(b)
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
        // Parsed as ASCII bytes: a byte that is not a hex digit or a hyphen fails the parse.
        UuidFormat::Char32 => (bytes.len() == 32
            && bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| Uuid::try_parse_ascii(bytes).ok())
        .flatten(),
        UuidFormat::Char36 | UuidFormat::Native => (bytes.len() == 36
            && !bytes.iter().any(|b| b.is_ascii_uppercase()))
        .then(|| Uuid::try_parse_ascii(bytes).ok())
        .flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v7_is_strictly_increasing_and_versioned() {
        let mut g = UuidGen::new(&Secret::from_seed(42), "t", UuidVersion::V7, SEEDED_BASE_MS);
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
            let mut g = UuidGen::new(&Secret::from_seed(7), "user", UuidVersion::V4, 0);
            (0..5).map(|_| g.next_uuid()).collect()
        };
        let b: Vec<Uuid> = {
            let mut g = UuidGen::new(&Secret::from_seed(7), "user", UuidVersion::V4, 0);
            (0..5).map(|_| g.next_uuid()).collect()
        };
        let c: Vec<Uuid> = {
            let mut g = UuidGen::new(&Secret::from_seed(7), "group", UuidVersion::V4, 0);
            (0..5).map(|_| g.next_uuid()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a[0].get_version_num(), 4);
    }

    #[test]
    fn derived_keys_are_versioned_ordered_and_reproducible() {
        let key = |version, table: &str| DerivedKey {
            secret: Secret::from_seed(42),
            base_ms: SEEDED_BASE_MS,
            table: table.into(),
            version,
        };
        let v7 = key(UuidVersion::V7, "user");
        let mut last = v7.uuid(0);
        for old in [
            1,
            2,
            4095,
            4096,
            4097,
            1 << 20,
            (1 << 40) + 7,
            DERIVED_KEY_LIMIT - 1,
        ] {
            let next = v7.uuid(old);
            assert_eq!(next.get_version_num(), 7);
            assert_eq!(next.get_variant(), uuid::Variant::RFC4122);
            assert!(next > last, "{old}");
            assert!(to_text(&next, UuidFormat::Char32) > to_text(&last, UuidFormat::Char32));
            last = next;
        }
        assert_eq!(v7.uuid(77), key(UuidVersion::V7, "user").uuid(77));
        assert_ne!(v7.uuid(77), key(UuidVersion::V7, "group").uuid(77));
        let v4 = key(UuidVersion::V4, "user");
        assert_eq!(v4.uuid(5).get_version_num(), 4);
        assert_eq!(v4.uuid(5).get_variant(), uuid::Variant::RFC4122);
        assert_ne!(v4.uuid(5), v4.uuid(6));
        // The layout the SQL implementations rebuild: time, 7, counter, 8, MD5's first 15 digits.
        assert_eq!(
            v7.uuid(12345).simple().to_string(),
            format!(
                "{:012x}70398{}",
                SEEDED_BASE_MS + 3,
                &md5_hex("000000000000002a:user:12345")[..15]
            )
        );
        let h = md5_hex("000000000000002a:user:5");
        assert_eq!(
            v4.uuid(5).simple().to_string(),
            format!("{}4{}8{}", &h[..12], &h[13..16], &h[17..])
        );
    }

    #[test]
    fn default_keys_reveal_neither_order_nor_old_ids() {
        let secret = Secret::generate().unwrap();
        assert_eq!(secret.text().len(), 64);
        assert_eq!(Secret::from_stored(secret.text()), Some(secret.clone()));
        assert!(!format!("{secret:?}").contains(secret.text()));
        let key = DerivedKey {
            secret,
            base_ms: SEEDED_BASE_MS,
            table: "user".into(),
            version: UuidVersion::default(),
        };
        assert_eq!(UuidVersion::default(), UuidVersion::V4);
        let keys: Vec<Uuid> = (0..10_000).map(|old| key.uuid(old)).collect();
        // v7 keys' first 48 bits (the time) ascend with the old key; these go up and down.
        let time = |u: &Uuid| u.as_u128() >> 80;
        let rises = keys
            .windows(2)
            .filter(|w| time(&w[1]) > time(&w[0]))
            .count();
        assert!((4_000..6_000).contains(&rises), "{rises} rises of 9999");
        // v7's counter field holds old % 4096; here it matches by chance only (about 1 in 4096).
        let counter = |u: &Uuid| ((u.as_u128() >> 64) & 0x0fff) as u64;
        let same = (0..10_000u64)
            .filter(|&old| counter(&keys[old as usize]) == old & 4095)
            .count();
        assert!(same < 10, "{same} counters equal old % 4096");
        assert!(keys.iter().all(|u| u.get_version_num() == 4));
        // Two runs' secrets differ, so do their keys; the generator's stream too.
        let other = DerivedKey {
            secret: Secret::generate().unwrap(),
            ..key.clone()
        };
        assert_ne!(other.uuid(1), key.uuid(1));
        let first = |s: &Secret| UuidGen::new(s, "user", UuidVersion::V4, 0).next_uuid();
        assert_ne!(first(&key.secret), first(&other.secret));
        assert_eq!(first(&key.secret), first(&key.secret.clone()));
        // The v7 option shows the old key, as its help says.
        let v7 = DerivedKey {
            version: UuidVersion::V7,
            ..key
        };
        assert_eq!(counter(&v7.uuid(4096 * 3 + 17)), 17);
    }

    #[test]
    fn seeds_keep_their_keys() {
        // A seeded run (and a run journaled before secrets existed) hashes the seed's 16 hex
        // digits, as every rehearsal before did.
        let s = Secret::from_seed(42);
        assert_eq!(s.text(), "000000000000002a");
        assert!(s.is_seed());
        assert_eq!(Secret::from_stored("000000000000002a"), Some(s));
        assert_eq!(Secret::from_stored("2A"), None);
    }

    /// The MD5 state kept after a 64-character secret's block gives the hash of the whole text,
    /// with keys of several tables interleaved (as swap derives a row's key and references).
    #[test]
    fn a_kept_prefix_state_hashes_the_whole_text() {
        let secret = Secret::generate().unwrap();
        let key = |table: &str| DerivedKey {
            secret: secret.clone(),
            base_ms: SEEDED_BASE_MS,
            table: table.into(),
            version: UuidVersion::V4,
        };
        let tables: Vec<DerivedKey> = (0..20).map(|i| key(&format!("t{i}"))).collect();
        for old in [0u64, 7, 123_456_789] {
            for k in tables.iter().chain(tables.iter().rev()) {
                let h = md5_hex(&format!("{}{old}", k.hash_prefix()));
                assert_eq!(
                    k.uuid(old).simple().to_string(),
                    format!("{}4{}8{}", &h[..12], &h[13..16], &h[17..])
                );
            }
        }
    }

    fn md5_hex(text: &str) -> String {
        use md5::{Digest, Md5};
        Md5::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn stored_forms_round_trip() {
        let id =
            UuidGen::new(&Secret::from_seed(1), "x", UuidVersion::V7, SEEDED_BASE_MS).next_uuid();
        for f in [UuidFormat::Char32, UuidFormat::Char36] {
            assert_eq!(parse_stored(to_text(&id, f).as_bytes(), f), Some(id));
        }
        assert_eq!(parse_stored(id.as_bytes(), UuidFormat::Binary16), Some(id));
        assert_eq!(parse_stored(b"ABCDEF", UuidFormat::Char32), None);
        let upper = to_text(&id, UuidFormat::Char32).to_uppercase();
        assert_eq!(parse_stored(upper.as_bytes(), UuidFormat::Char32), None);
        // Only the format's own form, lowercase, of ASCII hex digits, is a stored UUID.
        let hyphenated = to_text(&id, UuidFormat::Char36);
        assert_eq!(
            parse_stored(hyphenated.as_bytes(), UuidFormat::Native),
            Some(id)
        );
        assert_eq!(
            parse_stored(hyphenated.as_bytes(), UuidFormat::Char32),
            None
        );
        let simple = to_text(&id, UuidFormat::Char32);
        assert_eq!(parse_stored(simple.as_bytes(), UuidFormat::Char36), None);
        let upper = hyphenated.to_uppercase();
        assert_eq!(parse_stored(upper.as_bytes(), UuidFormat::Native), None);
        let braced = format!("{{{hyphenated}}}");
        assert_eq!(parse_stored(braced.as_bytes(), UuidFormat::Char36), None);
        for bad in [
            hyphenated.replacen('-', "g", 1),
            simple.replacen('0', "g", 1),
        ] {
            assert_eq!(parse_stored(bad.as_bytes(), UuidFormat::Char36), None);
            assert_eq!(parse_stored(bad.as_bytes(), UuidFormat::Char32), None);
        }
        let mut not_utf8 = simple.into_bytes();
        not_utf8[0] = 0xff;
        assert_eq!(parse_stored(&not_utf8, UuidFormat::Char32), None);
    }
}
