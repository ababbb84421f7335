//! Shamir secret sharing over GF(2^8) exactly as sops stores shares.
//!
//! sops uses the AES field polynomial x^8+x^4+x^3+x+1 (0x11b) and writes a share as the y bytes
//! (one per secret byte) followed by one x byte. Crates such as `sharks` use another polynomial
//! and layout, so they cannot read sops's shares; this module is small and written for that.
//! Field arithmetic is table-free and branch-free on secret data.

use rand::RngCore;
use zeroize::Zeroizing;

/// Why splitting or combining failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShamirError {
    /// Bad parameters for splitting.
    #[error("invalid Shamir parameters: {0}")]
    Parameters(&'static str),
    /// Shares that cannot be combined.
    #[error("invalid Shamir shares: {0}")]
    Shares(&'static str),
}

/// Multiplication in GF(2^8) modulo 0x11b, constant time.
fn mul(mut a: u8, mut b: u8) -> u8 {
    let mut product = 0u8;
    for _ in 0..8 {
        product ^= a & 0u8.wrapping_sub(b & 1);
        let carry = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (0x1b & carry);
        b >>= 1;
    }
    product
}

/// Multiplicative inverse (a^254), constant time; 0 maps to 0.
fn inv(a: u8) -> u8 {
    let mut result = 1u8;
    let mut base = a;
    let mut exp = 254u8;
    for _ in 0..8 {
        let factor = mul(result, base);
        let take = 0u8.wrapping_sub(exp & 1);
        result = (factor & take) | (result & !take);
        base = mul(base, base);
        exp >>= 1;
    }
    result
}

/// Splits `secret` into `parts` shares of which any `threshold` recombine it.
pub fn split(
    secret: &[u8],
    parts: usize,
    threshold: usize,
) -> Result<Vec<Zeroizing<Vec<u8>>>, ShamirError> {
    if parts < threshold {
        return Err(ShamirError::Parameters(
            "parts cannot be less than the threshold",
        ));
    }
    if parts > 255 {
        return Err(ShamirError::Parameters("parts cannot exceed 255"));
    }
    if threshold < 2 {
        return Err(ShamirError::Parameters("threshold must be at least 2"));
    }
    if secret.is_empty() {
        return Err(ShamirError::Parameters("cannot split an empty secret"));
    }
    let mut shares: Vec<Zeroizing<Vec<u8>>> = (1..=parts)
        .map(|x| {
            let mut s = vec![0u8; secret.len() + 1];
            s[secret.len()] = x as u8;
            Zeroizing::new(s)
        })
        .collect();
    let mut coefficients = Zeroizing::new(vec![0u8; threshold]);
    for (i, &byte) in secret.iter().enumerate() {
        rand::thread_rng().fill_bytes(&mut coefficients[1..]);
        coefficients[0] = byte;
        for share in shares.iter_mut() {
            let x = share[secret.len()];
            // Horner evaluation of the polynomial at x.
            let mut y = 0u8;
            for &c in coefficients.iter().rev() {
                y = mul(y, x) ^ c;
            }
            share[i] = y;
        }
    }
    Ok(shares)
}

/// Combines shares (each y bytes then x) back into the secret by Lagrange interpolation at 0.
pub fn combine(shares: &[Zeroizing<Vec<u8>>]) -> Result<Zeroizing<Vec<u8>>, ShamirError> {
    if shares.len() < 2 {
        return Err(ShamirError::Shares("at least two shares are needed"));
    }
    let len = shares[0].len();
    if len < 2 || shares.iter().any(|s| s.len() != len) {
        return Err(ShamirError::Shares("shares must all have the same length"));
    }
    let xs: Vec<u8> = shares.iter().map(|s| s[len - 1]).collect();
    for (i, a) in xs.iter().enumerate() {
        if xs[i + 1..].contains(a) {
            return Err(ShamirError::Shares("duplicate share"));
        }
    }
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    for (i, share) in shares.iter().enumerate() {
        // Lagrange basis at 0: prod_j x_j / (x_j - x_i); subtraction is xor.
        let mut basis = 1u8;
        for (j, &xj) in xs.iter().enumerate() {
            if i != j {
                basis = mul(basis, mul(xj, inv(xj ^ xs[i])));
            }
        }
        for (out, &y) in secret.iter_mut().zip(share.iter()) {
            *out ^= mul(y, basis);
        }
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_arithmetic() {
        assert_eq!(mul(0x57, 0x83), 0xc1); // FIPS-197 example
        for a in 1..=255u8 {
            assert_eq!(mul(a, inv(a)), 1);
        }
    }

    #[test]
    fn split_and_combine_subsets() {
        let secret: Vec<u8> = (0..32).collect();
        let shares = split(&secret, 3, 2).unwrap();
        assert_eq!(shares[0].len(), 33);
        assert_eq!(shares[2][32], 3);
        for pair in [[0, 1], [0, 2], [1, 2]] {
            let picked: Vec<_> = pair.iter().map(|&i| shares[i].clone()).collect();
            assert_eq!(&combine(&picked).unwrap()[..], &secret[..]);
        }
    }
}
