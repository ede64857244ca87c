//! PostgreSQL's binary COPY format: rows streamed from `COPY ... TO STDOUT (FORMAT binary)` in one
//! database straight into `COPY ... FROM STDIN (FORMAT binary)` in another, bytes unchanged (exact
//! for every type, no value decoded), except the element-type OID of arrays, which names a type of
//! the database it came from, and integer keys whose new keys are derived from them (swap's fill,
//! which then needs no staging table); the tuples are counted on the way, so the rows stored can
//! be compared with the rows read. And the encoder of `insert_rows`' tuples.

use std::io::{Read, Write};

use postgres::types::Type;

use crate::backend::Value;
use crate::options::UuidFormat;
use crate::uuidgen::{DerivedKey, DERIVED_KEY_LIMIT};

/// The binary COPY signature, flags (none) and header extension length (none).
pub const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The file trailer: a tuple with -1 fields.
pub const TRAILER: &[u8] = &[0xff, 0xff];

/// Bytes read from the source per call; tuples straddling two reads are carried over.
const CHUNK: usize = 1 << 20;

/// An array column whose element-type OID is rewritten to the target's on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayPatch {
    pub field: usize,
    pub element_oid: u32,
}

/// An integer old key (int2, int4 or int8) replaced on the way by the new key derived from it,
/// as the target column stores it: 16 bytes (uuid, bytea) or its text (character(32|36)).
#[derive(Debug, Clone)]
pub struct KeyRewrite {
    pub field: usize,
    pub key: DerivedKey,
    pub format: UuidFormat,
}

/// Why a stream could not be passed on.
#[derive(Debug)]
pub enum PipeError {
    Read(std::io::Error),
    Write(std::io::Error),
    Malformed(String),
    /// A key outside the range keys are derived for (SOURCE changed after shadow read it).
    Key(String),
}

/// Streams a binary COPY from `from` to `to`, patching array element OIDs and replacing the
/// `keys` fields by their derived keys, calling `progress` with the tuples passed so far every so
/// often, and `tee` with the tuples read (whole tuples, as read, array OIDs patched; no header,
/// no trailer). Returns the number of tuples.
pub fn pipe(
    from: &mut dyn Read,
    to: &mut dyn Write,
    patches: &[ArrayPatch],
    keys: &[KeyRewrite],
    progress: &dyn Fn(u64),
    tee: &mut dyn FnMut(&[u8]),
) -> Result<u64, PipeError> {
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK * 2);
    // Rewritten tuples change length: they are written from here instead of from `buf`.
    let mut out: Vec<u8> = Vec::with_capacity(if keys.is_empty() { 0 } else { CHUNK * 2 });
    let mut memo: Vec<Memo> = keys.iter().map(|_| Memo::new()).collect();
    let mut header_done = false;
    let mut eof = false;
    let mut tuples = 0u64;
    let mut last_report = 0u64;
    loop {
        let mut pos = 0;
        if !header_done {
            match header_len(&buf)? {
                Some(n) => {
                    pos = n;
                    header_done = true;
                    if !keys.is_empty() {
                        out.extend_from_slice(&buf[..n]);
                    }
                }
                None => {
                    if read_more(from, &mut buf, &mut eof)? == 0 {
                        return Err(PipeError::Malformed(
                            "the stream ended inside its header".into(),
                        ));
                    }
                    continue;
                }
            }
        }
        let mut finished = false;
        let first = pos;
        loop {
            match next_tuple(&mut buf[pos..], patches)? {
                Tuple::Complete(n) => {
                    if !keys.is_empty() {
                        rewrite_tuple(&buf[pos..pos + n], keys, &mut memo, &mut out)?;
                    }
                    pos += n;
                    tuples += 1;
                }
                Tuple::Trailer => {
                    if !keys.is_empty() {
                        out.extend_from_slice(TRAILER);
                    }
                    finished = true;
                    break;
                }
                Tuple::Incomplete => break,
            }
        }
        if pos > first {
            tee(&buf[first..pos]);
        }
        if finished {
            pos += 2;
        }
        if keys.is_empty() {
            to.write_all(&buf[..pos]).map_err(PipeError::Write)?;
        } else {
            to.write_all(&out).map_err(PipeError::Write)?;
            out.clear();
        }
        buf.drain(..pos);
        if tuples - last_report >= 10_000 {
            progress(tuples);
            last_report = tuples;
        }
        if finished {
            // The reader ends with the trailer: read it to its end (once) so the COPY completes.
            while !eof {
                read_more(from, &mut buf, &mut eof)?;
            }
            progress(tuples);
            return Ok(tuples);
        }
        if read_more(from, &mut buf, &mut eof)? == 0 {
            return Err(PipeError::Malformed(format!(
                "the stream ended after {tuples} rows without its trailer"
            )));
        }
    }
}

/// Reads until `buf` has grown by a chunk or the stream ends; returns the bytes added. A COPY
/// reader hands out about one row per call, so reads go through a small scratch buffer and are
/// gathered before a chunk is parsed and passed on.
fn read_more(from: &mut dyn Read, buf: &mut Vec<u8>, eof: &mut bool) -> Result<usize, PipeError> {
    let mut scratch = [0u8; 64 * 1024];
    let mut added = 0;
    while added < CHUNK && !*eof {
        let n = match from.read(&mut scratch) {
            Ok(0) => {
                // A finished COPY must not be read again (the driver reports an unexpected
                // message).
                *eof = true;
                break;
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(PipeError::Read(e)),
        };
        buf.extend_from_slice(&scratch[..n]);
        added += n;
    }
    Ok(added)
}

fn header_len(buf: &[u8]) -> Result<Option<usize>, PipeError> {
    if buf.len() < 19 {
        return Ok(None);
    }
    if &buf[..11] != b"PGCOPY\n\xff\r\n\0" {
        return Err(PipeError::Malformed(
            "the stream is not in PostgreSQL's binary COPY format".into(),
        ));
    }
    let ext = u32::from_be_bytes([buf[15], buf[16], buf[17], buf[18]]) as usize;
    Ok((buf.len() >= 19 + ext).then_some(19 + ext))
}

enum Tuple {
    Complete(usize),
    Trailer,
    Incomplete,
}

/// The length of the tuple at the start of `buf`, patched, if it is all there.
fn next_tuple(buf: &mut [u8], patches: &[ArrayPatch]) -> Result<Tuple, PipeError> {
    if buf.len() < 2 {
        return Ok(Tuple::Incomplete);
    }
    let fields = i16::from_be_bytes([buf[0], buf[1]]);
    if fields == -1 {
        return Ok(Tuple::Trailer);
    }
    if fields < 0 {
        return Err(PipeError::Malformed(format!("a tuple has {fields} fields")));
    }
    let mut at = 2usize;
    for field in 0..fields as usize {
        if buf.len() < at + 4 {
            return Ok(Tuple::Incomplete);
        }
        let len = i32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
        at += 4;
        if len < 0 {
            continue; // NULL
        }
        let len = len as usize;
        if buf.len() < at + len {
            return Ok(Tuple::Incomplete);
        }
        if len >= 12 {
            if let Some(p) = patches.iter().find(|p| p.field == field) {
                buf[at + 8..at + 12].copy_from_slice(&p.element_oid.to_be_bytes());
            }
        }
        at += len;
    }
    Ok(Tuple::Complete(at))
}

/// Decodes the tuple at the start of `buf` (whole tuples, as `pipe` tees them) into `values`, one
/// per field of `types` (`session::to_value`: what a query of the same columns reads); returns
/// its length, or `None` when it is not a tuple of those fields.
pub fn decode_tuple(buf: &[u8], types: &[Type], values: &mut Vec<Value>) -> Option<usize> {
    values.clear();
    let fields = i16::from_be_bytes([*buf.first()?, *buf.get(1)?]);
    if usize::try_from(fields).ok()? != types.len() {
        return None;
    }
    let mut at = 2usize;
    for ty in types {
        let len = i32::from_be_bytes(buf.get(at..at + 4)?.try_into().ok()?);
        at += 4;
        let raw = match usize::try_from(len) {
            Ok(n) => {
                let field = buf.get(at..at + n)?;
                at += n;
                Some(field)
            }
            Err(_) => None,
        };
        values.push(super::session::to_value(ty, raw));
    }
    Some(at)
}

/// The last new keys derived per rewritten field, by old key modulo its size: a reference to a
/// small parent repeats the same few old keys, each an MD5 (14% of rekey's CPU on the
/// PostgreSQL lean benchmark, three keys per row) that is computed once instead.
struct Memo(Vec<Option<(u64, uuid::Uuid)>>);

impl Memo {
    const SIZE: usize = 1024;

    fn new() -> Self {
        Memo(vec![None; Self::SIZE])
    }

    fn uuid(&mut self, key: &DerivedKey, old: u64) -> uuid::Uuid {
        let slot = &mut self.0[(old % Self::SIZE as u64) as usize];
        match slot {
            Some((k, id)) if *k == old => *id,
            _ => {
                let id = key.uuid(old);
                *slot = Some((old, id));
                id
            }
        }
    }
}

/// Appends `tuple` (complete, as `next_tuple` measured it) to `out` with its `keys` fields
/// replaced by their derived keys (`memo[i]` remembers those of `keys[i]`); NULL stays NULL.
fn rewrite_tuple(
    tuple: &[u8],
    keys: &[KeyRewrite],
    memo: &mut [Memo],
    out: &mut Vec<u8>,
) -> Result<(), PipeError> {
    out.extend_from_slice(&tuple[..2]);
    let fields = i16::from_be_bytes([tuple[0], tuple[1]]).max(0) as usize;
    let mut at = 2usize;
    for field in 0..fields {
        let len = i32::from_be_bytes([tuple[at], tuple[at + 1], tuple[at + 2], tuple[at + 3]]);
        let body = at + 4;
        let end = body + len.max(0) as usize;
        match keys.iter().position(|k| k.field == field) {
            Some(i) if len >= 0 => {
                let k = &keys[i];
                let old = match tuple[body..end] {
                    [a, b] => i64::from(i16::from_be_bytes([a, b])),
                    [a, b, c, d] => i64::from(i32::from_be_bytes([a, b, c, d])),
                    [a, b, c, d, e, f, g, h] => i64::from_be_bytes([a, b, c, d, e, f, g, h]),
                    _ => {
                        return Err(PipeError::Malformed(format!(
                            "field {} holds {} bytes where an integer key was expected",
                            field + 1,
                            end - body
                        )))
                    }
                };
                let old = u64::try_from(old)
                    .ok()
                    .filter(|k| *k < DERIVED_KEY_LIMIT)
                    .ok_or_else(|| {
                        PipeError::Key(format!(
                            "the key {old} is outside 0..2^59, the keys shadow found and derives new keys for"
                        ))
                    })?;
                let id = memo[i].uuid(&k.key, old);
                let mut text = uuid::Uuid::encode_buffer();
                let bytes: &[u8] = match k.format {
                    UuidFormat::Native | UuidFormat::Binary16 => id.as_bytes(),
                    UuidFormat::Char32 => id.simple().encode_lower(&mut text).as_bytes(),
                    UuidFormat::Char36 => id.hyphenated().encode_lower(&mut text).as_bytes(),
                };
                out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                out.extend_from_slice(bytes);
            }
            _ => out.extend_from_slice(&tuple[at..end]),
        }
        at = end;
    }
    Ok(())
}

/// Encodes `Value`s as binary COPY tuples for columns of known types.
pub struct CopyEncoder<'a> {
    types: &'a [Type],
    buf: Vec<u8>,
}

impl<'a> CopyEncoder<'a> {
    pub fn new(types: &'a [Type]) -> Self {
        CopyEncoder {
            types,
            buf: Vec::with_capacity(256),
        }
    }

    /// The tuple's bytes (valid until the next call), or why a value does not fit its column.
    pub fn tuple(&mut self, row: &[Value]) -> Result<&[u8], String> {
        if row.len() != self.types.len() {
            return Err(format!(
                "{} values for {} columns",
                row.len(),
                self.types.len()
            ));
        }
        self.buf.clear();
        self.buf
            .extend_from_slice(&(row.len() as i16).to_be_bytes());
        for (v, ty) in row.iter().zip(self.types) {
            let start = self.buf.len();
            self.buf.extend_from_slice(&[0, 0, 0, 0]);
            if encode(v, ty, &mut self.buf)? {
                let len = (self.buf.len() - start - 4) as i32;
                self.buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
            } else {
                self.buf.truncate(start);
                self.buf.extend_from_slice(&(-1i32).to_be_bytes());
            }
        }
        Ok(&self.buf)
    }
}

/// Appends `v`'s binary form for `ty`; false for NULL.
fn encode(v: &Value, ty: &Type, out: &mut Vec<u8>) -> Result<bool, String> {
    let int = |v: &Value| -> Result<i64, String> {
        match v {
            Value::Int(i) => Ok(*i),
            other => other
                .as_key()
                .and_then(|k| i64::try_from(k).ok())
                .ok_or_else(|| format!("{other:?} is not an integer")),
        }
    };
    match (v, ty) {
        (Value::Null, _) => return Ok(false),
        (_, &Type::INT2) => out.extend_from_slice(
            &i16::try_from(int(v)?)
                .map_err(|_| "out of smallint's range".to_string())?
                .to_be_bytes(),
        ),
        (_, &Type::INT4) => out.extend_from_slice(
            &i32::try_from(int(v)?)
                .map_err(|_| "out of integer's range".to_string())?
                .to_be_bytes(),
        ),
        (_, &Type::INT8) => out.extend_from_slice(&int(v)?.to_be_bytes()),
        (Value::Real(r), &Type::FLOAT8) => out.extend_from_slice(&r.to_bits().to_be_bytes()),
        (Value::Text(b) | Value::Blob(b), &Type::UUID) => {
            let id = if b.len() == 16 {
                uuid::Uuid::from_slice(b).ok()
            } else {
                std::str::from_utf8(b)
                    .ok()
                    .and_then(|s| uuid::Uuid::try_parse(s).ok())
            };
            out.extend_from_slice(id.ok_or("not a UUID")?.as_bytes());
        }
        (
            Value::Text(b) | Value::Blob(b),
            &Type::TEXT | &Type::VARCHAR | &Type::BPCHAR | &Type::BYTEA | &Type::NAME,
        ) => out.extend_from_slice(b),
        (v, ty) => return Err(format!("{v:?} cannot be sent as {ty}")),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(tuples: &[Vec<Option<&[u8]>>]) -> Vec<u8> {
        let mut out = HEADER.to_vec();
        for t in tuples {
            out.extend_from_slice(&(t.len() as i16).to_be_bytes());
            for f in t {
                match f {
                    None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                    Some(b) => {
                        out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                        out.extend_from_slice(b);
                    }
                }
            }
        }
        out.extend_from_slice(TRAILER);
        out
    }

    /// `pipe` without progress or tee.
    fn piped(
        from: &mut dyn Read,
        to: &mut dyn Write,
        patches: &[ArrayPatch],
        keys: &[KeyRewrite],
    ) -> Result<u64, PipeError> {
        pipe(from, to, patches, keys, &|_| {}, &mut |_| {})
    }

    /// A reader that hands out one byte at a time: every tuple straddles reads.
    struct Trickle(std::io::Cursor<Vec<u8>>);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(1);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn passes_bytes_unchanged_and_counts_tuples() {
        let big = vec![7u8; 3 * CHUNK];
        let input = stream(&[
            vec![Some(b"abc"), None],
            vec![Some(&big), Some(b"")],
            vec![None, None],
        ]);
        let mut out = Vec::new();
        let n = piped(&mut input.as_slice(), &mut out, &[], &[]).unwrap();
        assert_eq!(n, 3);
        assert_eq!(out, input);
        let mut out = Vec::new();
        let mut trickle = Trickle(std::io::Cursor::new(stream(&[vec![Some(b"x")]])));
        assert_eq!(piped(&mut trickle, &mut out, &[], &[]).unwrap(), 1);
    }

    #[test]
    fn tees_every_tuple_once_and_decodes_it_as_a_query_reads_it() {
        let big = vec![b'z'; 3 * CHUNK];
        let (seven, minus_two) = (7i32.to_be_bytes(), (-2i32).to_be_bytes());
        let (one_and_half, zero) = (1.5f64.to_be_bytes(), 0f64.to_be_bytes());
        let rows: Vec<Vec<Option<&[u8]>>> = vec![
            vec![Some(&seven), Some(b"abc"), None],
            vec![Some(&minus_two), Some(&big), Some(&one_and_half)],
            vec![None, Some(b""), Some(&zero)],
        ];
        let input = stream(&rows);
        // Whatever the reads' sizes, the tee gets whole tuples, all of them, header and
        // trailer left out.
        for whole in [true, false] {
            let mut teed = Vec::new();
            let mut out = Vec::new();
            let n = if whole {
                pipe(
                    &mut input.as_slice(),
                    &mut out,
                    &[],
                    &[],
                    &|_| {},
                    &mut |t| teed.extend_from_slice(t),
                )
            } else {
                let mut trickle = Trickle(std::io::Cursor::new(input.clone()));
                pipe(&mut trickle, &mut out, &[], &[], &|_| {}, &mut |t| {
                    teed.extend_from_slice(t)
                })
            }
            .unwrap();
            assert_eq!(n, 3);
            assert_eq!(teed, input[HEADER.len()..input.len() - TRAILER.len()]);
            let types = [Type::INT4, Type::TEXT, Type::FLOAT8];
            let (mut at, mut decoded, mut values) = (0, Vec::new(), Vec::new());
            while at < teed.len() {
                at += decode_tuple(&teed[at..], &types, &mut values).unwrap();
                decoded.push(values.clone());
            }
            assert_eq!(
                decoded,
                vec![
                    vec![Value::Int(7), Value::Text(b"abc".to_vec()), Value::Null],
                    vec![Value::Int(-2), Value::Text(big.clone()), Value::Real(1.5)],
                    vec![Value::Null, Value::Text(Vec::new()), Value::Real(0.0)],
                ]
            );
        }
        // With keys rewritten on the way, the tee still gets SOURCE's tuples: the old keys.
        let keys = [KeyRewrite {
            field: 0,
            key: DerivedKey {
                secret: crate::uuidgen::Secret::from_seed(42),
                base_ms: 0,
                table: "t".into(),
                version: crate::options::UuidVersion::V4,
            },
            format: UuidFormat::Native,
        }];
        let keyed = stream(&[vec![Some(&seven), Some(b"a")], vec![None, Some(b"b")]]);
        let (mut teed, mut out) = (Vec::new(), Vec::new());
        pipe(
            &mut keyed.as_slice(),
            &mut out,
            &[],
            &keys,
            &|_| {},
            &mut |t| teed.extend_from_slice(t),
        )
        .unwrap();
        assert_eq!(teed, keyed[HEADER.len()..keyed.len() - TRAILER.len()]);
        assert_ne!(out, keyed, "the key was rewritten in what was written");
        // A tuple of other fields than the types, or cut short, is not read.
        let teed = &input[HEADER.len()..input.len() - TRAILER.len()];
        assert_eq!(decode_tuple(teed, &[Type::INT4], &mut Vec::new()), None);
        assert_eq!(
            decode_tuple(
                &teed[..10],
                &[Type::INT4, Type::TEXT, Type::FLOAT8],
                &mut Vec::new()
            ),
            None
        );
    }

    #[test]
    fn patches_array_element_types() {
        // ndim 1, no nulls, element oid 16384, dim 1, lbound 1, one element "a".
        let mut array = Vec::new();
        for v in [1i32, 0, 16384, 1, 1, 1] {
            array.extend_from_slice(&v.to_be_bytes());
        }
        array.push(b'a');
        let input = stream(&[vec![Some(b"k"), Some(&array)]]);
        let mut out = Vec::new();
        let patch = ArrayPatch {
            field: 1,
            element_oid: 99999,
        };
        piped(&mut input.as_slice(), &mut out, &[patch], &[]).unwrap();
        let at = HEADER.len() + 2 + 4 + 1 + 4 + 8;
        assert_eq!(&out[at..at + 4], &99999u32.to_be_bytes());
        assert_eq!(out.len(), input.len());
    }

    #[test]
    fn repeated_references_keep_their_own_keys_when_they_share_a_memo_slot() {
        let key = DerivedKey {
            secret: crate::uuidgen::Secret::from_seed(7),
            base_ms: 0,
            table: "shop".into(),
            version: crate::options::UuidVersion::V4,
        };
        let keys = [KeyRewrite {
            field: 0,
            key: key.clone(),
            format: UuidFormat::Native,
        }];
        // 1 and 1 + 1024 take the same slot, in turns; 5 repeats.
        let olds: [i32; 6] = [1, 1025, 1, 5, 5, 1025];
        let bytes: Vec<[u8; 4]> = olds.iter().map(|o| o.to_be_bytes()).collect();
        let rows: Vec<Vec<Option<&[u8]>>> = bytes.iter().map(|b| vec![Some(&b[..])]).collect();
        let mut out = Vec::new();
        piped(&mut stream(&rows).as_slice(), &mut out, &[], &keys).unwrap();
        let ids: Vec<[u8; 16]> = olds
            .iter()
            .map(|o| *key.uuid(*o as u64).as_bytes())
            .collect();
        let expected: Vec<Vec<Option<&[u8]>>> = ids.iter().map(|i| vec![Some(&i[..])]).collect();
        assert_eq!(out, stream(&expected));
    }

    #[test]
    fn replaces_integer_keys_by_their_derived_keys() {
        let key = |table: &str| DerivedKey {
            secret: crate::uuidgen::Secret::from_seed(42),
            base_ms: 1_700_000_000_000,
            table: table.into(),
            version: crate::options::UuidVersion::V7,
        };
        let rewrite = |field, table, format| KeyRewrite {
            field,
            key: key(table),
            format,
        };
        let input = stream(&[
            vec![
                Some(&7i32.to_be_bytes()),
                Some(b"x"),
                Some(&9i64.to_be_bytes()),
            ],
            vec![Some(&8i16.to_be_bytes()), Some(b"yz"), None],
        ]);
        for format in [
            UuidFormat::Native,
            UuidFormat::Binary16,
            UuidFormat::Char32,
            UuidFormat::Char36,
        ] {
            let keys = [rewrite(0, "user", format), rewrite(2, "post", format)];
            let mut out = Vec::new();
            // One byte per read: tuples straddle every chunk boundary.
            let mut trickle = Trickle(std::io::Cursor::new(input.clone()));
            assert_eq!(piped(&mut trickle, &mut out, &[], &keys).unwrap(), 2);
            let as_stored = |id: uuid::Uuid| -> Vec<u8> {
                match format {
                    UuidFormat::Native | UuidFormat::Binary16 => id.as_bytes().to_vec(),
                    UuidFormat::Char32 => id.simple().to_string().into_bytes(),
                    UuidFormat::Char36 => id.hyphenated().to_string().into_bytes(),
                }
            };
            let (u7, p9, u8) = (
                as_stored(key("user").uuid(7)),
                as_stored(key("post").uuid(9)),
                as_stored(key("user").uuid(8)),
            );
            let expected = stream(&[
                vec![Some(&u7), Some(b"x"), Some(&p9)],
                vec![Some(&u8), Some(b"yz"), None],
            ]);
            assert_eq!(out, expected, "{format:?}");
        }
        // A negative key was not there when shadow chose to derive: refused, never guessed.
        let negative = stream(&[vec![Some(&(-1i32).to_be_bytes())]]);
        let keys = [rewrite(0, "user", UuidFormat::Native)];
        assert!(matches!(
            piped(&mut negative.as_slice(), &mut Vec::new(), &[], &keys),
            Err(PipeError::Key(_))
        ));
        let odd = stream(&[vec![Some(b"abc")]]);
        assert!(matches!(
            piped(&mut odd.as_slice(), &mut Vec::new(), &[], &keys),
            Err(PipeError::Malformed(_))
        ));
    }

    #[test]
    fn a_truncated_stream_is_an_error() {
        let mut input = stream(&[vec![Some(b"abc")]]);
        input.truncate(input.len() - 3);
        let mut out = Vec::new();
        assert!(matches!(
            piped(&mut input.as_slice(), &mut out, &[], &[]),
            Err(PipeError::Malformed(_))
        ));
    }

    #[test]
    fn encodes_keys_and_uuids() {
        let types = [Type::INT8, Type::UUID];
        let mut e = CopyEncoder::new(&types);
        let id = uuid::Uuid::from_u128(5);
        let bytes = e
            .tuple(&[
                Value::Int(7),
                Value::Text(id.hyphenated().to_string().into_bytes()),
            ])
            .unwrap()
            .to_vec();
        assert_eq!(&bytes[..2], &2i16.to_be_bytes());
        assert_eq!(&bytes[2..6], &8i32.to_be_bytes());
        assert_eq!(&bytes[6..14], &7i64.to_be_bytes());
        assert_eq!(&bytes[18..], id.as_bytes());
        let small = [Type::INT2];
        assert!(CopyEncoder::new(&small)
            .tuple(&[Value::Int(1 << 20)])
            .is_err());
    }
}
