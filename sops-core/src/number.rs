//! Number formatting exactly as sops (Go) prints numbers.
//!
//! sops stores floats inside `ENC[...]` with Go's `FormatFloat(f, 'f', -1, 64)`, prints them in
//! YAML with `'g'` (then `.inf`/`.nan` spelling) and in JSON with the ES6 rules of Go's
//! `encoding/json`. All three use the shortest digits that round-trip, which is also what Rust's
//! formatting produces, so we only rearrange Rust's digits.

/// Shortest decimal digits of a finite, non-zero `f` and its decimal exponent: `f = 0.d1d2.. * 10^exp`
/// is not used; instead returns (digits, point) where the value is `digits` with the decimal point
/// after `point` digits (Go's `decimal.dp`).
fn shortest_digits(f: f64) -> (String, i32) {
    // `{:e}` gives the shortest round-trip digits as `d.ddde±x`.
    let s = format!("{:e}", f.abs());
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    (digits, exp + 1)
}

/// Go `strconv.FormatFloat(f, 'f', -1, 64)`: never an exponent (`0.0000001`, `-0`, `+Inf`, `NaN`).
pub fn format_float_f(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    // Rust's Display prints the shortest round-trip digits without an exponent, like Go's 'f'.
    format!("{}", f)
}

/// Go `strconv.FormatFloat(f, 'e', -1, 64)`: `1e-07`, `1.5e+20`.
fn format_float_e(f: f64) -> String {
    let (digits, point) = shortest_digits(f);
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    let exp = if f == 0.0 { 0 } else { point - 1 };
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    let abs = exp.unsigned_abs();
    if abs < 10 {
        out.push('0');
    }
    out.push_str(&abs.to_string());
    out
}

/// Go `strconv.FormatFloat(f, 'g', -1, 64)`: exponent form when the decimal exponent is below
/// -4 or at least 6 (shortest precision). Infinities and NaN come out as Go spells them.
pub fn format_float_g(f: f64) -> String {
    if !f.is_finite() || f == 0.0 {
        return format_float_f(f);
    }
    let (_, point) = shortest_digits(f);
    let exp = point - 1;
    if !(-4..6).contains(&exp) {
        format_float_e(f)
    } else {
        format_float_f(f)
    }
}

/// A float as YAML (yaml.v3) prints it: Go `'g'` formatting, `.inf`, `-.inf`, `.nan`.
pub fn format_float_yaml(f: f64) -> String {
    if f.is_nan() {
        ".nan".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf" } else { "-.inf" }.to_string()
    } else {
        format_float_g(f)
    }
}

/// A float as Go's `encoding/json` prints it (ES6 style): `1e-7`, `1e+21`, `0.000001`.
/// Returns `None` for infinities and NaN, which JSON cannot hold.
pub fn format_float_json(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let e = format_float_e(f);
        // Go trims the exponent's zero padding: e-07 -> e-7.
        Some(match e.find("e-0").or_else(|| e.find("e+0")) {
            Some(pos) if e.len() == pos + 4 => format!("{}{}", &e[..pos + 2], &e[pos + 3..]),
            _ => e,
        })
    } else {
        Some(format_float_f(f))
    }
}

/// A small stack buffer that Rust's float formatting writes into, so that no `String` is
/// allocated per number. Its capacity exceeds the longest `{:e}` text of an `f64`
/// (`-1.7976931348623157e308`, 23 bytes).
struct StackText {
    buf: [u8; 40],
    len: usize,
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// [`shortest_digits`] without allocating: the shortest round-trip digits of `|f|` (finite,
/// non-zero) written into `digits`, their count, and the position of the decimal point.
/// The digits come from the same `{:e}` formatting, so they are the same.
fn shortest_digits_buf(f: f64, digits: &mut [u8; 24]) -> (usize, i32) {
    use std::fmt::Write;
    let mut text = StackText {
        buf: [0; 40],
        len: 0,
    };
    // Cannot fail: the text always fits.
    let _ = write!(text, "{:e}", f.abs());
    let text = &text.buf[..text.len];
    let mut n = 0;
    let mut exp: i32 = 0;
    let mut neg_exp = false;
    let mut in_exp = false;
    for &c in text {
        match c {
            b'e' => in_exp = true,
            b'-' if in_exp => neg_exp = true,
            b'0'..=b'9' if in_exp => exp = exp * 10 + i32::from(c - b'0'),
            b'0'..=b'9' if n < digits.len() => {
                digits[n] = c;
                n += 1;
            }
            _ => {}
        }
    }
    if neg_exp {
        exp = -exp;
    }
    (n, exp + 1)
}

/// Appends Go's `'f'` text (shortest digits, no exponent) of a finite non-zero `f`, given its
/// shortest digits and decimal point: what Rust's `{}` (hence [`format_float_f`]) prints, as
/// both lay out the same digits (`0.000ddd`, `dd.ddd`, `ddd000`).
fn push_f_digits(out: &mut Vec<u8>, negative: bool, digits: &[u8], point: i32) {
    if negative {
        out.push(b'-');
    }
    if point <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', point.unsigned_abs() as usize));
        out.extend_from_slice(digits);
    } else {
        let point = point as usize;
        if point < digits.len() {
            out.extend_from_slice(&digits[..point]);
            out.push(b'.');
            out.extend_from_slice(&digits[point..]);
        } else {
            out.extend_from_slice(digits);
            out.extend(std::iter::repeat_n(b'0', point - digits.len()));
        }
    }
}

/// Appends Go's `'e'` text of a finite non-zero `f` (as [`format_float_e`]), with the
/// exponent padded to two digits (`1e-07`) or, for JSON, not padded (`1e-7`).
fn push_e_digits(out: &mut Vec<u8>, negative: bool, digits: &[u8], point: i32, pad: bool) {
    if negative {
        out.push(b'-');
    }
    out.push(digits[0]);
    if digits.len() > 1 {
        out.push(b'.');
        out.extend_from_slice(&digits[1..]);
    }
    let exp = point - 1;
    out.push(b'e');
    out.push(if exp < 0 { b'-' } else { b'+' });
    let abs = exp.unsigned_abs();
    if abs >= 100 {
        out.push(b'0' + (abs / 100) as u8);
    }
    if abs >= 10 || pad {
        out.push(b'0' + (abs / 10 % 10) as u8);
    }
    out.push(b'0' + (abs % 10) as u8);
}

/// Appends the text of [`format_float_yaml`] to `out` without allocating.
pub fn push_float_yaml(out: &mut Vec<u8>, f: f64) {
    if f.is_nan() {
        out.extend_from_slice(b".nan");
    } else if f.is_infinite() {
        out.extend_from_slice(if f > 0.0 { b".inf" } else { b"-.inf" });
    } else if f == 0.0 {
        out.extend_from_slice(if f.is_sign_negative() { b"-0" } else { b"0" });
    } else {
        let mut digits = [0u8; 24];
        let (n, point) = shortest_digits_buf(f, &mut digits);
        let digits = &digits[..n];
        if (-4..6).contains(&(point - 1)) {
            push_f_digits(out, f < 0.0, digits, point);
        } else {
            push_e_digits(out, f < 0.0, digits, point, true);
        }
    }
}

/// Appends the text of [`format_float_json`] to `out` without allocating; returns false
/// (writing nothing) for infinities and NaN, which JSON cannot hold.
pub fn push_float_json(out: &mut Vec<u8>, f: f64) -> bool {
    if !f.is_finite() {
        return false;
    }
    if f == 0.0 {
        out.extend_from_slice(if f.is_sign_negative() { b"-0" } else { b"0" });
        return true;
    }
    let mut digits = [0u8; 24];
    let (n, point) = shortest_digits_buf(f, &mut digits);
    let digits = &digits[..n];
    if (1e-6..1e21).contains(&f.abs()) {
        push_f_digits(out, f < 0.0, digits, point);
    } else {
        push_e_digits(out, f < 0.0, digits, point, false);
    }
    true
}

/// Decimal text of an integer, without allocating.
pub(crate) fn format_int(v: i64, buf: &mut [u8; 20]) -> &str {
    let mut n = v.unsigned_abs();
    let mut pos = buf.len();
    loop {
        pos -= 1;
        buf[pos] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        pos -= 1;
        buf[pos] = b'-';
    }
    std::str::from_utf8(&buf[pos..]).unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f_format_matches_go() {
        assert_eq!(format_float_f(1e-7), "0.0000001");
        assert_eq!(format_float_f(3e20), "300000000000000000000");
        assert_eq!(format_float_f(-0.0), "-0");
        assert_eq!(format_float_f(1.0), "1");
        assert_eq!(format_float_f(f64::INFINITY), "+Inf");
        assert_eq!(format_float_f(f64::NAN), "NaN");
        assert_eq!(format_float_f(0.1), "0.1");
    }

    #[test]
    fn g_format_matches_go() {
        assert_eq!(format_float_yaml(1e-7), "1e-07");
        assert_eq!(format_float_yaml(3e20), "3e+20");
        assert_eq!(format_float_yaml(-0.0), "-0");
        assert_eq!(format_float_yaml(1e-5), "1e-05");
        assert_eq!(format_float_yaml(0.000001), "1e-06");
        assert_eq!(format_float_yaml(123456789.0), "1.23456789e+08");
        assert_eq!(format_float_yaml(1e21), "1e+21");
        assert_eq!(
            format_float_yaml(1.7976931348623157e308),
            "1.7976931348623157e+308"
        );
        assert_eq!(format_float_yaml(5e-324), "5e-324");
        assert_eq!(format_float_yaml(1e5), "100000");
        assert_eq!(format_float_yaml(1e6), "1e+06");
        assert_eq!(format_float_yaml(123456.0), "123456");
        assert_eq!(format_float_yaml(1234567.0), "1.234567e+06");
        assert_eq!(format_float_yaml(0.0001), "0.0001");
        assert_eq!(format_float_yaml(0.00012345), "0.00012345");
        assert_eq!(format_float_yaml(-1e6), "-1e+06");
        assert_eq!(format_float_yaml(f64::NEG_INFINITY), "-.inf");
        assert_eq!(format_float_yaml(f64::NAN), ".nan");
        assert_eq!(format_float_yaml(0.1), "0.1");
        assert_eq!(format_float_yaml(1000.0), "1000");
    }

    #[test]
    fn json_format_matches_go() {
        assert_eq!(format_float_json(1e-7).unwrap(), "1e-7");
        assert_eq!(format_float_json(1e21).unwrap(), "1e+21");
        assert_eq!(format_float_json(1e23).unwrap(), "1e+23");
        assert_eq!(format_float_json(1e20).unwrap(), "100000000000000000000");
        assert_eq!(format_float_json(0.000001).unwrap(), "0.000001");
        assert_eq!(format_float_json(1.5).unwrap(), "1.5");
        assert_eq!(format_float_json(5e-324).unwrap(), "5e-324");
        assert_eq!(format_float_json(-0.0).unwrap(), "-0");
        assert_eq!(
            format_float_json(12345678901234567890.0).unwrap(),
            "12345678901234567000"
        );
        assert!(format_float_json(f64::INFINITY).is_none());
    }

    /// The allocation-free writers give exactly the text of the `format_*` functions, for
    /// edge cases and a few hundred thousand floats of every magnitude.
    #[test]
    fn push_functions_equal_format_functions() {
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            1e-7,
            1e-6,
            9.999999e-7,
            1e-5,
            1e-4,
            0.00012345,
            1e5,
            123456.0,
            1e6,
            999999.0,
            999999.9999999999,
            1e20,
            1e21,
            1e22,
            1e23,
            9.999999999999999e20,
            12345678901234567890.0,
            1.7976931348623157e308,
            -1.7976931348623157e308,
            5e-324,
            -5e-324,
            2.2250738585072014e-308,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200_000 {
            values.push(f64::from_bits(next()));
        }
        for i in 0..100_000u64 {
            let r = next();
            // Short decimals of every size, like the numbers files hold.
            let mantissa = (r % 1_000_000) as f64;
            let exp = (r >> 32) as i32 % 40 - 20;
            values.push(mantissa * 10f64.powi(exp));
            values.push(i as f64);
            values.push(-(i as f64) / 8.0);
        }
        let mut out = Vec::new();
        for f in values {
            out.clear();
            push_float_yaml(&mut out, f);
            assert_eq!(
                std::str::from_utf8(&out).unwrap(),
                format_float_yaml(f),
                "{f:e}"
            );
            out.clear();
            let ok = push_float_json(&mut out, f);
            match format_float_json(f) {
                Some(text) => assert!(ok && out == text.as_bytes(), "{f:e}"),
                None => assert!(!ok && out.is_empty(), "{f:e}"),
            }
        }
    }
}
