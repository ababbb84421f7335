//! Scalar resolution as Go's yaml.v3 does it: which plain scalars are ints, floats, booleans,
//! nulls and timestamps, and how a timestamp is normalised to RFC 3339 text.

use crate::tree::Scalar;

/// What a plain scalar resolves to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resolved {
    /// A typed value other than a string.
    Value(Scalar),
    /// An integer that only fits an unsigned 64-bit value (sops refuses it).
    Uint(u64),
    /// The `<<` merge key.
    Merge,
    /// A plain string.
    Str,
}

/// Resolves a plain (untagged, unquoted) scalar like yaml.v3's `resolve("", s)`.
pub(crate) fn resolve_plain(s: &str) -> Resolved {
    let Some(&first) = s.as_bytes().first() else {
        return Resolved::Value(Scalar::Null);
    };
    match s {
        "true" | "True" | "TRUE" => return Resolved::Value(Scalar::Bool(true)),
        "false" | "False" | "FALSE" => return Resolved::Value(Scalar::Bool(false)),
        "~" | "null" | "Null" | "NULL" => return Resolved::Value(Scalar::Null),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Value(Scalar::Float(f64::NAN)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Value(Scalar::Float(f64::INFINITY))
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Value(Scalar::Float(f64::NEG_INFINITY)),
        "<<" => return Resolved::Merge,
        _ => {}
    }
    match first {
        b'.' => {
            if is_dot_float(s) {
                if let Ok(f) = s.parse::<f64>() {
                    if f.is_finite() {
                        return Resolved::Value(Scalar::Float(f));
                    }
                }
            }
            Resolved::Str
        }
        b'0'..=b'9' | b'+' | b'-' => {
            if let Some(t) = parse_timestamp(s) {
                return Resolved::Value(Scalar::Time(t));
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            match parse_go_int(&plain) {
                Some(GoInt::Signed(i)) => return Resolved::Value(Scalar::Int(i)),
                Some(GoInt::Unsigned(u)) => return Resolved::Uint(u),
                None => {}
            }
            if is_yaml_float(&plain) {
                if let Ok(f) = plain.parse::<f64>() {
                    if f.is_finite() {
                        return Resolved::Value(Scalar::Float(f));
                    }
                }
            }
            Resolved::Str
        }
        _ => Resolved::Str,
    }
}

/// True when a string that is not a YAML 1.2 keyword would still be read as something else by
/// YAML 1.1 readers: yaml.v3 quotes these (`yes`, `on`, `n`, `1:20`).
pub(crate) fn is_old_bool_or_base60(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    ) || is_base60_float(s)
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        let digits = &b[start..i];
        let ok = match digits.len() {
            1 => true,
            2 => digits[0] <= b'5',
            _ => false,
        };
        if !ok {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// `^\.[0-9]+([eE][-+]?[0-9]+)?$`: what Go's ParseFloat accepts for a string starting with `.`.
fn is_dot_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 1;
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == start {
        return false;
    }
    exponent_tail(b, i)
}

fn exponent_tail(b: &[u8], mut i: usize) -> bool {
    if i == b.len() {
        return true;
    }
    if b[i] != b'e' && b[i] != b'E' {
        return false;
    }
    i += 1;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i > start && i == b.len()
}

/// yaml.v3's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    } else {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    exponent_tail(b, i)
}

enum GoInt {
    Signed(i64),
    Unsigned(u64),
}

/// Go's `strconv.ParseInt(s, 0, 64)`, falling back to `ParseUint(s, 0, 64)`.
fn parse_go_int(s: &str) -> Option<GoInt> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let signed = s.starts_with(['+', '-']);
    let (radix, digits) =
        if let Some(r) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, r)
        } else if let Some(r) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, r)
        } else if let Some(r) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, r)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || !digits.bytes().all(|c| (c as char).is_digit(radix)) {
        return None;
    }
    let mag = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        if mag <= i64::MAX as u64 + 1 {
            return Some(GoInt::Signed((mag as i64).wrapping_neg()));
        }
        return None;
    }
    if mag <= i64::MAX as u64 {
        return Some(GoInt::Signed(mag as i64));
    }
    if signed {
        // ParseUint refuses a sign.
        return None;
    }
    Some(GoInt::Unsigned(mag))
}

/// Go's `time.Parse` with yaml.v3's timestamp layouts, normalised to RFC 3339 with nanoseconds.
pub(crate) fn parse_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i != 4 || i == b.len() || b[i] != b'-' {
        return None;
    }
    let year: i64 = s[..4].parse().ok()?;
    let mut p = 5;
    let month = num12(b, &mut p)?;
    if b.get(p) != Some(&b'-') {
        return None;
    }
    p += 1;
    let day = num12(b, &mut p)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if p == b.len() {
        return Some(format!("{year:04}-{month:02}-{day:02}T00:00:00Z"));
    }
    let sep = b[p];
    if sep != b'T' && sep != b't' && sep != b' ' {
        return None;
    }
    p += 1;
    let hour = num12(b, &mut p)?;
    if b.get(p) != Some(&b':') {
        return None;
    }
    p += 1;
    let min = num12(b, &mut p)?;
    if b.get(p) != Some(&b':') {
        return None;
    }
    p += 1;
    let sec = num12(b, &mut p)?;
    if hour > 23 || min > 59 || sec > 59 {
        return None;
    }
    let mut frac = String::new();
    if b.get(p) == Some(&b'.') && b.get(p + 1).is_some_and(u8::is_ascii_digit) {
        p += 1;
        let start = p;
        while p < b.len() && b[p].is_ascii_digit() {
            p += 1;
        }
        frac = s[start..p].to_string();
        if frac.len() > 9 {
            frac.truncate(9);
        }
        while frac.ends_with('0') {
            frac.pop();
        }
    }
    let zone = if sep == b' ' {
        if p != b.len() {
            return None;
        }
        "Z".to_string()
    } else {
        match b.get(p) {
            Some(b'Z') if p + 1 == b.len() => "Z".to_string(),
            Some(b'+') | Some(b'-') => {
                let rest = &b[p + 1..];
                if rest.len() != 5 || rest[2] != b':' {
                    return None;
                }
                if !(rest[0].is_ascii_digit()
                    && rest[1].is_ascii_digit()
                    && rest[3].is_ascii_digit()
                    && rest[4].is_ascii_digit())
                {
                    return None;
                }
                let hh = (rest[0] - b'0') * 10 + (rest[1] - b'0');
                let mm = (rest[3] - b'0') * 10 + (rest[4] - b'0');
                if hh > 24 || mm > 59 {
                    return None;
                }
                if hh == 0 && mm == 0 {
                    "Z".to_string()
                } else {
                    s[p..].to_string()
                }
            }
            _ => return None,
        }
    };
    let frac = if frac.is_empty() {
        String::new()
    } else {
        format!(".{frac}")
    };
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{hour:02}:{min:02}:{sec:02}{frac}{zone}"
    ))
}

/// One or two ASCII digits, as Go's layout elements `1`, `2`, `15`, `4`, `5` accept.
fn num12(b: &[u8], p: &mut usize) -> Option<u32> {
    let start = *p;
    let mut v = 0u32;
    while *p < b.len() && b[*p].is_ascii_digit() && *p - start < 2 {
        v = v * 10 + u32::from(b[*p] - b'0');
        *p += 1;
    }
    (*p > start).then_some(v)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Resolved {
        resolve_plain(s)
    }

    #[test]
    fn resolves_like_yaml_v3() {
        use Scalar::*;
        let int = |i| Resolved::Value(Int(i));
        let float = |f| Resolved::Value(Float(f));
        assert_eq!(v("017"), int(15));
        assert_eq!(v("0x1F"), int(31));
        assert_eq!(v("0o17"), int(15));
        assert_eq!(v("0b101"), int(5));
        assert_eq!(v("1_000"), int(1000));
        assert_eq!(v("1__0"), int(10));
        assert_eq!(v("0x_1F"), int(31));
        assert_eq!(v("-0"), int(0));
        assert_eq!(v("+12"), int(12));
        assert_eq!(v("00"), int(0));
        assert_eq!(v("08"), float(8.0));
        assert_eq!(v("1e3"), float(1000.0));
        assert_eq!(v("1."), float(1.0));
        assert_eq!(v(".5"), float(0.5));
        assert_eq!(v("1e400"), Resolved::Str);
        assert_eq!(v("9223372036854775807"), int(i64::MAX));
        assert_eq!(v("-9223372036854775808"), int(i64::MIN));
        assert_eq!(
            v("9223372036854775808"),
            Resolved::Uint(9223372036854775808)
        );
        assert_eq!(v("-9223372036854775809"), float(-9223372036854775809.0));
        assert_eq!(v("yes"), Resolved::Str);
        assert_eq!(v("TRUE"), Resolved::Value(Bool(true)));
        assert_eq!(v("~"), Resolved::Value(Null));
        assert_eq!(v(""), Resolved::Value(Null));
        assert_eq!(v("<<"), Resolved::Merge);
        assert_eq!(
            v("2024-1-2"),
            Resolved::Value(Time("2024-01-02T00:00:00Z".into()))
        );
        assert_eq!(
            v("2024-01-02 03:04:05"),
            Resolved::Value(Time("2024-01-02T03:04:05Z".into()))
        );
        assert_eq!(
            v("2001-12-14t21:59:43.10-05:00"),
            Resolved::Value(Time("2001-12-14T21:59:43.1-05:00".into()))
        );
        assert_eq!(v("2024-02-30"), Resolved::Str);
        assert!(is_old_bool_or_base60("1:20"));
        assert!(is_old_bool_or_base60("on"));
        assert!(!is_old_bool_or_base60("1:60"));
    }
}
