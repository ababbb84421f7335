//! AWS KMS master keys, compatible with sops 3.x.
//!
//! A KMS key entry stores the ARN of a KMS key (`key/...` or `alias/...`), an optional IAM
//! role to assume first, an optional encryption context (string pairs bound to the
//! ciphertext: decryption must give the same pairs), an optional AWS profile, and `enc`: the
//! base64 of the `CiphertextBlob` that KMS `Encrypt` returned for the raw data key (or Shamir
//! share).
//!
//! Parsing (the `ARN+ROLE_ARN` form, `--encryption-context k:v,...`) is always compiled, so
//! configuration can be read by a build without KMS support. Talking to KMS needs the
//! `aws-kms` cargo feature: it brings the AWS SDK, which loads credentials the standard way
//! (environment, shared config and credentials files with `aws_profile`, SSO, web identity,
//! container and instance metadata), takes the region from the ARN, and honours
//! `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_KMS`. The SDK is asynchronous; a single-threaded
//! tokio runtime is started the first time a KMS key is actually used, so runs that need no
//! KMS key never start it. Every call has short timeouts, so an unreachable endpoint fails
//! within seconds and decryption can move on to the file's other keys.

use std::collections::BTreeMap;

/// An AWS KMS key to wrap data keys for (and the parameters to unwrap them again).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KmsKey {
    /// The KMS key ARN.
    pub arn: String,
    /// An IAM role ARN to assume before calling KMS (empty: none).
    pub role: String,
    /// The encryption context, sorted by key, each key once.
    pub context: Vec<(String, String)>,
    /// The AWS profile for configuration and credentials (empty: the default chain).
    pub aws_profile: String,
}

/// The marker sops looks for to split `KEY_ARN+ROLE_ARN`. sops 3.13 (PR 2042) accepts a role
/// of any AWS partition (`arn:aws-cn:`, `arn:aws-us-gov:` ...): ARNs cannot contain `:` in
/// their path, so `+arn:` can only start a second ARN. (3.11 looked for `+arn:aws:iam::`.)
const ROLE_MARKER: &str = "+arn:";

impl KmsKey {
    /// A key from `ARN` or `ARN+ROLE_ARN` (spaces removed), as sops reads `--kms` entries.
    pub fn from_arn(spec: &str, context: &[(String, String)], aws_profile: &str) -> KmsKey {
        let spec = spec.replace(' ', "");
        let (arn, role) = match spec.find(ROLE_MARKER) {
            Some(i) if i > 0 => (spec[..i].to_string(), spec[i + 1..].to_string()),
            _ => (spec, String::new()),
        };
        KmsKey {
            arn,
            role,
            context: normalize_context(context),
            aws_profile: aws_profile.to_string(),
        }
    }

    /// Keys from a comma-separated list (`--kms`, `SOPS_KMS_ARN`); empty entries are skipped.
    pub fn parse_list(list: &str, context: &[(String, String)], aws_profile: &str) -> Vec<KmsKey> {
        list.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| KmsKey::from_arn(s, context, aws_profile))
            .collect()
    }

    /// The key as sops names it in messages: `ARN[+ROLE][|k:v,...][|PROFILE]`.
    pub fn name(&self) -> String {
        display_name(&self.arn, &self.role, &self.context, &self.aws_profile)
    }

    /// The region, taken from the ARN as sops does (`arn:aws*:kms:REGION:ACCOUNT:key/...`).
    pub fn region(&self) -> Result<String, String> {
        region_of(&self.arn)
    }
}

/// The name sops gives a KMS key in messages (its `ToString`): the ARN, `+ROLE` when there is
/// a role, then `|k:v,...` (sorted) when there is a context or a profile, then `|PROFILE`.
pub fn display_name(arn: &str, role: &str, context: &[(String, String)], profile: &str) -> String {
    let mut out = arn.to_string();
    if !role.is_empty() {
        out.push('+');
        out.push_str(role);
    }
    let ctx = normalize_context(context)
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(",");
    if !profile.is_empty() {
        out.push('|');
        out.push_str(&ctx);
        out.push('|');
        out.push_str(profile);
    } else if !ctx.is_empty() {
        out.push('|');
        out.push_str(&ctx);
    }
    out
}

/// Sorts a context by key and keeps the last value of a key given twice (a Go map's
/// behaviour).
pub fn normalize_context(context: &[(String, String)]) -> Vec<(String, String)> {
    let map: BTreeMap<&str, &str> = context
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    map.into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Parses `--encryption-context` (`key:value,key:value`). An empty string is no context;
/// an item without exactly one `:` makes the whole value invalid (`Err`), which sops reports
/// with exit code 6.
pub fn parse_context(text: &str) -> Result<Vec<(String, String)>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for item in text.split(',') {
        let mut parts = item.split(':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(k), Some(v), None) => out.push((k.to_string(), v.to_string())),
            _ => return Err(format!("invalid encryption context item {item:?}")),
        }
    }
    Ok(normalize_context(&out))
}

/// The region of a KMS key ARN, with sops's pattern
/// `^arn:aws[\w-]*:kms:(.+):[0-9]+:(key|alias)/.+$` (the region is the longest match).
pub fn region_of(arn: &str) -> Result<String, String> {
    let bad = || format!("no valid ARN found in '{arn}'");
    let rest = arn.strip_prefix("arn:aws").ok_or_else(bad)?;
    let partition_end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .ok_or_else(bad)?;
    let rest = rest[partition_end..]
        .strip_prefix(":kms:")
        .ok_or_else(bad)?;
    // The region runs up to the last `:DIGITS:key/` or `:DIGITS:alias/` with something after.
    let mut best = None;
    for (i, _) in rest.match_indices(':') {
        if i == 0 {
            continue;
        }
        let after = &rest[i + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            continue;
        }
        let tail = &after[digits..];
        let resource = tail
            .strip_prefix(":key/")
            .or_else(|| tail.strip_prefix(":alias/"));
        if matches!(resource, Some(r) if !r.is_empty() && !r.contains('\n')) {
            best = Some(i);
        }
    }
    let end = best.ok_or_else(bad)?;
    let region = &rest[..end];
    if region.contains('\n') {
        return Err(bad());
    }
    Ok(region.to_string())
}

/// The STS session name sops uses when assuming a role: `sops@HOSTNAME`, with characters
/// outside its allowed set removed and cut to 64 bytes.
pub fn sts_session_name(hostname: &str) -> String {
    // sops's class `[^a-zA-Z0-9=,.@-_]` keeps `@-_` as a range (0x40 to 0x5F): `-` is dropped.
    let kept: String = hostname
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '=' | ',' | '.' | '@'..='_'))
        .collect();
    let mut name = format!("sops@{kept}");
    if name.len() >= 64 {
        name.truncate(64);
    }
    name
}

#[cfg(feature = "aws-kms")]
pub(crate) mod client;

#[cfg(feature = "aws-kms")]
pub use client::{KmsUnwrapper, Timeouts};

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn arn_and_role() {
        let k = KmsKey::from_arn(
            "arn:aws:kms:us-east-1:123456789012:key/abc+arn:aws:iam::123456789012:role/x",
            &[],
            "",
        );
        assert_eq!(k.arn, "arn:aws:kms:us-east-1:123456789012:key/abc");
        assert_eq!(k.role, "arn:aws:iam::123456789012:role/x");
        let k = KmsKey::from_arn(" arn:aws:kms:eu-west-1:1:alias/a b ", &[], "p");
        assert_eq!(k.arn, "arn:aws:kms:eu-west-1:1:alias/ab");
        assert_eq!(k.role, "");
        assert_eq!(k.aws_profile, "p");
        let list = KmsKey::parse_list("a,,b", &[], "");
        assert_eq!(list.len(), 2);
    }

    /// sops PR 2042: roles of every partition split off (sops 3.13's `TestNewMasterKeyFromArn`
    /// "arn with role in another partition" uses `arn:aws-foobar:`).
    #[test]
    fn roles_of_every_partition() {
        for (arn, role) in [
            (
                "arn:aws-cn:kms:cn-north-1:123456789012:key/abc",
                "arn:aws-cn:iam::123456789012:role/x",
            ),
            (
                "arn:aws-us-gov:kms:us-gov-west-1:123456789012:alias/a",
                "arn:aws-us-gov:iam::123456789012:role/y",
            ),
            (
                "arn:aws:kms:us-east-1:123456789012:key/k",
                "arn:aws:iam::123456789012:role/z",
            ),
            (
                "arn:aws-foobar:kms:bazbam:927034868273:key/fe86dd69-4132-404c-ab86-4269956b4500",
                "arn:aws-foobar:iam::927034868273:role/sops-dev-xyz",
            ),
        ] {
            let k = KmsKey::from_arn(&format!("{arn}+{role}"), &[], "");
            assert_eq!((k.arn.as_str(), k.role.as_str()), (arn, role));
            assert!(k.region().is_ok());
        }
        // A `+` not followed by `arn:` stays in the key ARN.
        let k = KmsKey::from_arn("arn:aws:kms:r:1:alias/a+b", &[], "");
        assert_eq!(
            (k.arn.as_str(), k.role.as_str()),
            ("arn:aws:kms:r:1:alias/a+b", "")
        );
    }

    #[test]
    fn regions_like_sops() {
        assert_eq!(
            region_of("arn:aws:kms:us-west-2:107501996527:key/612d5f0p").unwrap(),
            "us-west-2"
        );
        assert_eq!(
            region_of("arn:aws-us-gov:kms:us-gov-west-1:1:alias/x").unwrap(),
            "us-gov-west-1"
        );
        assert_eq!(
            region_of("arn:aws-cn:kms:cn-north-1:1:key/a:2:key/b").unwrap(),
            "cn-north-1:1:key/a"
        );
        for bad in [
            "",
            "arn:aws:kms:us-east-1:x:key/a",
            "arn:aws:kms::1:key/a",
            "arn:aws:kms:r:1:key/",
            "arn:aws:s3:r:1:key/a",
            "arn:gcp:kms:r:1:key/a",
            "arn:aws:kms:r:1:other/a",
        ] {
            let e = region_of(bad).unwrap_err();
            assert_eq!(e, format!("no valid ARN found in '{bad}'"));
        }
    }

    #[test]
    fn contexts() {
        assert_eq!(parse_context("").unwrap(), vec![]);
        assert_eq!(
            parse_context("b:2,a:1,b:3").unwrap(),
            ctx(&[("a", "1"), ("b", "3")])
        );
        assert_eq!(parse_context(":").unwrap(), ctx(&[("", "")]));
        assert!(parse_context("a").is_err());
        assert!(parse_context("a:b:c").is_err());
        assert!(parse_context("a:b,").is_err());
    }

    #[test]
    fn names_like_sops() {
        let c = ctx(&[("b", "2"), ("a", "1")]);
        assert_eq!(display_name("A", "", &[], ""), "A");
        assert_eq!(display_name("A", "R", &[], ""), "A+R");
        assert_eq!(display_name("A", "", &c, ""), "A|a:1,b:2");
        assert_eq!(display_name("A", "R", &[], "p"), "A+R||p");
        assert_eq!(display_name("A", "", &c, "p"), "A|a:1,b:2|p");
    }

    #[test]
    fn session_names() {
        assert_eq!(sts_session_name("my-host.example"), "sops@myhost.example");
        assert_eq!(sts_session_name("a_b[c]^"), "sops@a_b[c]^");
        let long = "h".repeat(100);
        assert_eq!(sts_session_name(&long).len(), 64);
    }
}
