//! test_decoding's text, one output row at a time: `BEGIN <xid>`, `table <schema>.<table>: <op>:
//! <col>[<type>]:<value> ...`, `COMMIT <xid> (at <timestamp>)`, into the stream's values.
//! Names come quoted as quote_ident quotes them; values are `null`, a bare numeric or boolean,
//! `B'...'` for bit strings, `'...'` with `'` doubled, or `unchanged-toast-datum`.

use crate::backend::{StreamRow, Value};
use crate::calendar::days_from_civil;

/// One output row of test_decoding.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    Begin {
        xid: u32,
    },
    Commit {
        xid: u32,
        /// Seconds since the Unix epoch, where `include-timestamp` printed it.
        at: Option<i64>,
    },
    Change(Change),
    /// Tables truncated by one statement (schema, table).
    Truncate(Vec<(String, String)>),
    /// Anything else test_decoding may print (logical messages): not a row change.
    Other,
}

/// One decoded row change. Columns are in the table's order; a column whose value the stream
/// left out (an unchanged TOAST value) is absent.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub schema: String,
    pub table: String,
    pub op: Op,
    /// UPDATE's `old-key:` part, or DELETE's key columns; `None` where the stream printed none
    /// (an UPDATE that kept its key, DELETE's `(no-tuple-data)`).
    pub old: Option<StreamRow>,
    /// INSERT's and UPDATE's new row.
    pub new: StreamRow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Insert,
    Update,
    Delete,
}

/// Parses one row of test_decoding's output; `Err` names what could not be read.
pub fn parse_line(data: &str) -> Result<Line, String> {
    if let Some(rest) = data.strip_prefix("BEGIN ") {
        let xid = rest.trim().parse().map_err(|_| "a BEGIN without its xid")?;
        return Ok(Line::Begin { xid });
    }
    if let Some(rest) = data.strip_prefix("COMMIT ") {
        let (xid_text, tail) = match rest.split_once(' ') {
            Some((x, t)) => (x, Some(t)),
            None => (rest, None),
        };
        let xid = xid_text
            .trim()
            .parse()
            .map_err(|_| "a COMMIT without its xid")?;
        let at = tail
            .and_then(|t| t.trim().strip_prefix("(at "))
            .and_then(|t| t.strip_suffix(')'))
            .and_then(epoch_seconds);
        return Ok(Line::Commit { xid, at });
    }
    let Some(rest) = data.strip_prefix("table ") else {
        return Ok(Line::Other);
    };
    let mut p = Parser { s: rest, i: 0 };
    let mut names = vec![p.qualified()?];
    while p.eat(", ") {
        names.push(p.qualified()?);
    }
    p.expect(": ")?;
    if p.eat("TRUNCATE:") {
        return Ok(Line::Truncate(names));
    }
    let (schema, table) = names
        .into_iter()
        .next()
        .ok_or("a change without its table")?;
    let op = if p.eat("INSERT:") {
        Op::Insert
    } else if p.eat("UPDATE:") {
        Op::Update
    } else if p.eat("DELETE:") {
        Op::Delete
    } else {
        return Err("an operation other than INSERT, UPDATE, DELETE or TRUNCATE".into());
    };
    let mut old = None;
    let mut new = Vec::new();
    p.eat(" ");
    if p.eat("(no-tuple-data)") {
        return Ok(Line::Change(Change {
            schema,
            table,
            op,
            old: None,
            new,
        }));
    }
    if op == Op::Update && p.eat("old-key: ") {
        let mut key = Vec::new();
        while !p.done() && !p.eat("new-tuple: ") {
            if let Some(c) = p.column()? {
                key.push(c);
            }
        }
        old = Some(key);
    }
    let mut row = Vec::new();
    while !p.done() {
        if let Some(c) = p.column()? {
            row.push(c);
        }
    }
    if op == Op::Delete {
        old = Some(row);
    } else {
        new = row;
    }
    Ok(Line::Change(Change {
        schema,
        table,
        op,
        old,
        new,
    }))
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.i..]
    }
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }
    fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.i += token.len();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, token: &str) -> Result<(), String> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(format!("`{token}` expected"))
        }
    }

    /// An identifier as quote_ident prints it: `"..."` with `"` doubled, or a bare word ending
    /// at one of `stops`.
    fn ident(&mut self, stops: &[char]) -> Result<String, String> {
        if self.eat("\"") {
            let mut out = String::new();
            loop {
                let rest = self.rest();
                let end = rest.find('"').ok_or("an unterminated quoted name")?;
                out.push_str(&rest[..end]);
                self.i += end + 1;
                if self.eat("\"") {
                    out.push('"');
                } else {
                    return Ok(out);
                }
            }
        }
        let rest = self.rest();
        let end = rest.find(|c| stops.contains(&c)).unwrap_or(rest.len());
        if end == 0 {
            return Err("a name expected".into());
        }
        self.i += end;
        Ok(rest[..end].to_string())
    }

    fn qualified(&mut self) -> Result<(String, String), String> {
        let schema = self.ident(&['.'])?;
        self.expect(".")?;
        let table = self.ident(&[':', ','])?;
        Ok((schema, table))
    }

    /// `name[type]:value` and the space after it; `None` for an unchanged TOAST value.
    fn column(&mut self) -> Result<Option<(String, Value)>, String> {
        let name = self.ident(&['['])?;
        self.expect("[")?;
        // The type as format_type prints it: may hold `[]` and quoted names; ends at `]:`.
        let mut quoted = false;
        let bytes = self.s.as_bytes();
        loop {
            let b = *bytes.get(self.i).ok_or("an unterminated column type")?;
            match b {
                b'"' => quoted = !quoted,
                b']' if !quoted && bytes.get(self.i + 1) == Some(&b':') => break,
                _ => {}
            }
            self.i += 1;
        }
        self.i += 2;
        let value = if self.eat("null") {
            Some(Value::Null)
        } else if self.eat("unchanged-toast-datum") {
            None
        } else if self.rest().starts_with('\'') {
            Some(Value::Text(self.quoted()?))
        } else if self.rest().starts_with("B'") {
            self.i += 1;
            Some(Value::Text(self.quoted()?))
        } else {
            let rest = self.rest();
            let end = rest.find(' ').unwrap_or(rest.len());
            let word = &rest[..end];
            self.i += end;
            Some(Value::Text(
                match word {
                    "true" => "t",
                    "false" => "f",
                    w => w,
                }
                .as_bytes()
                .to_vec(),
            ))
        };
        if !self.done() && !self.eat(" ") {
            return Err(format!("a space expected after column {name}"));
        }
        Ok(value.map(|v| (name, v)))
    }

    /// `'...'` with `''` for `'`, which may hold newlines and spaces.
    fn quoted(&mut self) -> Result<Vec<u8>, String> {
        self.expect("'")?;
        let mut out = Vec::new();
        loop {
            let rest = self.rest();
            let end = rest.find('\'').ok_or("an unterminated quoted value")?;
            out.extend_from_slice(&rest.as_bytes()[..end]);
            self.i += end + 1;
            if self.eat("'") {
                out.push(b'\'');
            } else {
                return Ok(out);
            }
        }
    }
}

/// `2026-12-06 02:25:49.21252+00` (timestamptz's ISO output; `+05:30`, `-08` offsets) as
/// seconds since the Unix epoch.
pub fn epoch_seconds(text: &str) -> Option<i64> {
    let (date, time) = text.trim().split_once(' ')?;
    let mut d = date.splitn(3, '-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let sign_at = time.find(['+', '-'])?;
    let (clock, offset) = time.split_at(sign_at);
    let mut c = clock.splitn(3, ':');
    let (h, min): (i64, i64) = (c.next()?.parse().ok()?, c.next()?.parse().ok()?);
    let sec: i64 = c.next()?.split('.').next()?.parse().ok()?;
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let mut o = offset[1..].split(':');
    let oh: i64 = o.next()?.parse().ok()?;
    let om: i64 = o.next().map(|v| v.parse().ok()).unwrap_or(Some(0))?;
    let os: i64 = o.next().map(|v| v.parse().ok()).unwrap_or(Some(0))?;
    let local = days_from_civil(y, m, day) * 86_400 + h * 3600 + min * 60 + sec;
    Some(local - sign * (oh * 3600 + om * 60 + os))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Value {
        Value::Text(s.as_bytes().to_vec())
    }

    fn change(line: &str) -> Change {
        match parse_line(line).unwrap() {
            Line::Change(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn begin_and_commit_carry_the_xid_and_the_commit_time() {
        assert_eq!(parse_line("BEGIN 740").unwrap(), Line::Begin { xid: 740 });
        assert_eq!(
            parse_line("COMMIT 741 (at 2026-12-06 02:25:49.212881+00)").unwrap(),
            Line::Commit {
                xid: 741,
                at: Some(1_796_523_949)
            }
        );
        assert_eq!(
            parse_line("COMMIT 741").unwrap(),
            Line::Commit { xid: 741, at: None }
        );
        assert_eq!(epoch_seconds("1970-01-01 01:00:00+01"), Some(0));
        assert_eq!(epoch_seconds("1969-12-31 19:30:00-04:30"), Some(0));
    }

    #[test]
    fn an_insert_with_quoted_names_and_every_kind_of_value() {
        let c = change(
            "table public.\"Mixed \"\"Case\": INSERT: id[bigint]:1 n[numeric]:-1.50 f[double precision]:-Infinity \
             \"Name\"[text]:'it''s a\nline é' j[jsonb]:'{\"k\": \"v''\"}' a[integer[]]:'{1,2}' \
             m[\"Mood\"]:'ok' b[bytea]:'\\x00ff' bo[boolean]:true bt[bit]:B'1010' z[text]:null",
        );
        assert_eq!(
            (c.schema.as_str(), c.table.as_str()),
            ("public", "Mixed \"Case")
        );
        assert_eq!(c.op, Op::Insert);
        assert_eq!(c.old, None);
        assert_eq!(
            c.new,
            vec![
                ("id".into(), t("1")),
                ("n".into(), t("-1.50")),
                ("f".into(), t("-Infinity")),
                ("Name".into(), t("it's a\nline é")),
                ("j".into(), t("{\"k\": \"v'\"}")),
                ("a".into(), t("{1,2}")),
                ("m".into(), t("ok")),
                ("b".into(), t("\\x00ff")),
                ("bo".into(), t("t")),
                ("bt".into(), t("1010")),
                ("z".into(), Value::Null),
            ]
        );
    }

    #[test]
    fn an_update_with_old_key_and_an_unchanged_toast_value() {
        let c = change(
            "table s.p: UPDATE: old-key: id[integer]:2 new-tuple: id[integer]:5 big[text]:unchanged-toast-datum note[text]:'new-tuple: x'",
        );
        assert_eq!(c.op, Op::Update);
        assert_eq!(c.old, Some(vec![("id".into(), t("2"))]));
        assert_eq!(
            c.new,
            vec![("id".into(), t("5")), ("note".into(), t("new-tuple: x"))]
        );
        let kept = change("table s.p: UPDATE: id[integer]:2 note[text]:'x'");
        assert_eq!(kept.old, None);
        assert_eq!(kept.new.len(), 2);
    }

    #[test]
    fn deletes_truncates_and_other_lines() {
        let d = change("table public.c: DELETE: id[integer]:11 p_id[integer]:2");
        assert_eq!(d.op, Op::Delete);
        assert_eq!(
            d.old,
            Some(vec![("id".into(), t("11")), ("p_id".into(), t("2"))])
        );
        let none = change("table public.c: DELETE: (no-tuple-data)");
        assert_eq!(none.old, None);
        assert_eq!(
            parse_line("table public.\"Mixed Case\", public.c: TRUNCATE: restart_seqs cascade")
                .unwrap(),
            Line::Truncate(vec![
                ("public".into(), "Mixed Case".into()),
                ("public".into(), "c".into())
            ])
        );
        assert_eq!(
            parse_line("message: transactional: 1 prefix: p, sz: 1 content:x").unwrap(),
            Line::Other
        );
        assert!(parse_line("table public.c: INSERT: id[integer]:'1").is_err());
        assert!(parse_line("table public.c: MERGE: x").is_err());
    }
}
