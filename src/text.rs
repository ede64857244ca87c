//! How rekey writes numbers for people: counts with their nouns, digits in groups, durations.
//! The report, `rekey status`, the progress display and the stages' outcome lines all say them
//! the same way.

/// `word`, or its plural for any count but one ("1 trigger", "2 triggers").
pub fn plural(count: usize, word: &str) -> String {
    if count == 1 {
        word.to_string()
    } else if word.ends_with('s') || word.ends_with('x') {
        format!("{word}es")
    } else {
        format!("{word}s")
    }
}

/// A count and its noun, digits grouped: "1 row", "6,418 rows".
pub fn count(n: u64, word: &str) -> String {
    format!(
        "{} {}",
        thousands(n),
        plural(usize::try_from(n).unwrap_or(usize::MAX), word)
    )
}

/// Digits in groups of three: 6418 -> "6,418".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration for people: "0.4 s", "12 s", "4 min 05 s", "2 h 03 min".
pub fn duration(secs: f64) -> String {
    let secs = secs.max(0.0);
    if secs < 10.0 {
        format!("{secs:.1} s")
    } else if secs < 60.0 {
        format!("{secs:.0} s")
    } else if secs < 3600.0 {
        let s = secs.round() as u64;
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        let m = (secs / 60.0).round() as u64;
        format!("{} h {:02} min", m / 60, m % 60)
    }
}

/// Bytes as upper-case hexadecimal digits, two per byte.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        let _ = write!(s, "{b:02X}");
    }
    s
}
