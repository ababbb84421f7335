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
}
