//! The Vault KV destination: the decrypted data as the KV data of the secret
//! `MOUNT/PATH/NAME` (KV v1: `PUT /v1/MOUNT/PATH/NAME` with the data) or
//! `MOUNT/data/PATH/NAME` (KV v2: `PUT /v1/MOUNT/data/PATH/NAME` with `{"data": ...}`), with the
//! Vault key source's client and settings (`VAULT_TOKEN` or `~/.vault-token`, `VAULT_ADDR`,
//! TLS and namespace variables). As sops, the secret is read first and not written again when
//! it already holds the same data (sops's comparison: data with numbers, or with maps or
//! comments inside lists, never compares equal, so it is always written).
//!
//! The data has the shape sops's `EmitAsMap` gives it: the documents' top-level entries
//! merged into one object (comments dropped, nested maps as objects), and values inside
//! lists as Go's `json.Marshal` prints sops's tree types: a map as a list of
//! `{"Key": k, "Value": v}` and a comment as `{"Value": text, "Inline": bool}` (3.13.2's
//! `sops.Comment`).

use std::collections::BTreeMap;

use super::{Destination, Payload, PayloadKind, PublishError, Uploaded};
use crate::tree::{Document, Map, MapItem, Node, Scalar, SeqItem};

/// Where Vault is when neither the rule nor `VAULT_ADDR` says (Vault's Go client default).
const DEFAULT_ADDRESS: &str = "https://127.0.0.1:8200";

/// A JSON value as sops sends it.
#[derive(Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    /// Go's JSON text of the number.
    Number(String),
    Str(String),
    Array(Vec<Json>),
    /// An object; `true` when it is a Go struct (`TreeItem`, `Comment`), which never
    /// compares equal to what Vault returns.
    Object(Vec<(String, Json)>, bool),
}

/// The data a file publishes to Vault KV: a JSON object. Its `Debug` form hides the values.
#[derive(Clone, Default, PartialEq)]
pub struct KvData {
    entries: Vec<(String, Json)>,
}

impl std::fmt::Debug for KvData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KvData(<{} entries redacted>)", self.entries.len())
    }
}

impl KvData {
    /// The JSON text of the object (keys sorted, as Go prints a map).
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        write_object(&mut out, &self.entries);
        out
    }

    /// Whether sops would find this data equal to `existing` (a Vault answer's data):
    /// numbers and Go structs never are.
    fn same_as(&self, existing: &serde_json::Value) -> bool {
        same(&Json::Object(self.entries.clone(), false), existing)
    }
}

fn same(ours: &Json, theirs: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (ours, theirs) {
        (Json::Null, V::Null) => true,
        (Json::Bool(a), V::Bool(b)) => a == b,
        (Json::Str(a), V::String(b)) => a == b,
        (Json::Array(a), V::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Json::Object(a, false), V::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
        }
        _ => false,
    }
}

fn write_json(out: &mut String, v: &Json) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(n),
        Json::Str(s) => out.push_str(&serde_json::Value::String(s.clone()).to_string()),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Json::Object(entries, _) => write_object(out, entries),
    }
}

fn write_object(out: &mut String, entries: &[(String, Json)]) {
    out.push('{');
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::Value::String(k.clone()).to_string());
        out.push(':');
        write_json(out, v);
    }
    out.push('}');
}

/// The KV data of decrypted documents, as sops's `EmitAsMap` builds it (later keys win).
pub fn kv_data(documents: &[Document]) -> Result<KvData, PublishError> {
    let mut merged = BTreeMap::new();
    for doc in documents {
        emit_as_map(doc, &mut merged)?;
    }
    Ok(KvData {
        entries: merged.into_iter().collect(),
    })
}

fn emit_as_map(map: &Map, into: &mut BTreeMap<String, Json>) -> Result<(), PublishError> {
    for item in &map.items {
        if let MapItem::Entry(e) = item {
            let value = match &e.value {
                Node::Map(m) => {
                    let mut inner = BTreeMap::new();
                    emit_as_map(m, &mut inner)?;
                    Json::Object(inner.into_iter().collect(), false)
                }
                other => go_value(other)?,
            };
            into.insert(e.key.clone(), value);
        }
    }
    Ok(())
}

/// A tree value as Go's `json.Marshal` prints sops's tree types (used inside lists).
fn go_value(node: &Node) -> Result<Json, PublishError> {
    Ok(match node {
        Node::Scalar(s) => scalar(s)?,
        Node::Seq(seq) => Json::Array(
            seq.items
                .iter()
                .map(|item| match item {
                    SeqItem::Node(n) => go_value(n),
                    SeqItem::Comment(c) => Ok(comment(&c.text, c.inline)),
                })
                .collect::<Result<_, _>>()?,
        ),
        Node::Map(m) => Json::Array(
            m.items
                .iter()
                .map(|item| match item {
                    MapItem::Entry(e) => Ok(Json::Object(
                        vec![
                            ("Key".into(), Json::Str(e.key.clone())),
                            ("Value".into(), go_value(&e.value)?),
                        ],
                        true,
                    )),
                    MapItem::Comment(c) => Ok(Json::Object(
                        vec![
                            ("Key".into(), comment(&c.text, c.inline)),
                            ("Value".into(), Json::Null),
                        ],
                        true,
                    )),
                })
                .collect::<Result<_, _>>()?,
        ),
    })
}

fn comment(text: &str, inline: bool) -> Json {
    Json::Object(
        vec![
            ("Value".into(), Json::Str(text.to_string())),
            ("Inline".into(), Json::Bool(inline)),
        ],
        true,
    )
}

fn scalar(s: &Scalar) -> Result<Json, PublishError> {
    Ok(match s {
        Scalar::Null => Json::Null,
        Scalar::Bool(b) => Json::Bool(*b),
        Scalar::Int(i) => Json::Number(i.to_string()),
        Scalar::Float(f) => match crate::number::format_float_json(*f) {
            Some(text) => Json::Number(text),
            None => {
                return Err(PublishError::UnsupportedValue(
                    if f.is_nan() {
                        "NaN"
                    } else if *f > 0.0 {
                        "+Inf"
                    } else {
                        "-Inf"
                    }
                    .into(),
                ))
            }
        },
        Scalar::Str(s) | Scalar::Time(s) => Json::Str(s.clone()),
        // Go's JSON replaces invalid UTF-8 with U+FFFD.
        Scalar::Bytes(b) => Json::Str(String::from_utf8_lossy(b).into_owned()),
    })
}

/// A Vault KV secret path: address, mount, path below it, KV version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultKvDestination {
    address: String,
    path: String,
    mount: String,
    version: i64,
}

impl VaultKvDestination {
    /// From a destination rule's `vault_address`, `vault_path`, `vault_kv_mount_name` and
    /// `vault_kv_version`, with sops's defaults: mount `secret/`, version 2 unless 1, and a
    /// `/` after the path and the mount.
    pub fn new(address: &str, path: &str, mount: &str, version: i64) -> VaultKvDestination {
        let slash = |s: &str| {
            if s.ends_with('/') {
                s.to_string()
            } else {
                format!("{s}/")
            }
        };
        VaultKvDestination {
            address: address.to_string(),
            path: slash(path),
            mount: slash(if mount.is_empty() { "secret/" } else { mount }),
            version: if version == 1 { 1 } else { 2 },
        }
    }

    /// The rule's address, else `VAULT_ADDR`, else Vault's default.
    fn address(&self) -> String {
        if !self.address.is_empty() {
            return self.address.clone();
        }
        std::env::var("VAULT_ADDR")
            .ok()
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| DEFAULT_ADDRESS.to_string())
    }

    fn secrets_path(&self, name: &str) -> String {
        if self.version == 1 {
            format!("{}{}{}", self.mount, self.path, name)
        } else {
            format!("{}data/{}{}", self.mount, self.path, name)
        }
    }

    /// What the secret holds now (its KV data), `None` when it does not exist; an error when
    /// it cannot be read.
    fn existing(
        &self,
        settings: &crate::keys::hc_vault::Settings,
        path: &str,
    ) -> Result<Option<serde_json::Value>, String> {
        let (status, body, url) = settings.call(&self.address(), "GET", path, b"")?;
        if status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            return Err(crate::keys::hc_vault::response_error(
                "GET", &url, status, &body,
            ));
        }
        let value: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("invalid JSON from Vault: {e}"))?;
        // sops compares with the secret's `data` field: for KV v2 the KV data, for KV v1 a
        // key named `data` of the secret.
        Ok(value.get("data").and_then(|d| d.get("data")).cloned())
    }
}

impl Destination for VaultKvDestination {
    fn payload_kind(&self) -> PayloadKind {
        PayloadKind::PlaintextData
    }

    fn path(&self, name: &str) -> String {
        format!("{}/v1/{}", self.address(), self.secrets_path(name))
    }

    fn upload(&self, payload: &Payload, name: &str) -> Result<Uploaded, PublishError> {
        let Payload::PlaintextData(data) = payload else {
            return Err(PublishError::NotImplemented(
                "Vault does not support uploading encrypted sops files directly.",
            ));
        };
        let settings = crate::keys::hc_vault::Settings::shared();
        let path = self.secrets_path(name);
        let mut warnings = Vec::new();
        match self.existing(&settings, &path) {
            Ok(Some(existing)) if data.same_as(&existing) => {
                return Ok(Uploaded::AlreadyUpToDate(format!(
                    "Secret in {path} is already up-to-date."
                )))
            }
            Ok(_) => {}
            Err(_) => warnings.push(format!(
                "Cannot check if destination secret already exists in {path}. New version will be created even if the data has not been changed."
            )),
        }
        let json = zeroize::Zeroizing::new(data.to_json());
        let body = zeroize::Zeroizing::new(if self.version == 1 {
            json.as_bytes().to_vec()
        } else {
            format!("{{\"data\":{}}}", json.as_str()).into_bytes()
        });
        let (status, answer, url) = settings
            .call(&self.address(), "PUT", &path, &body)
            .map_err(PublishError::Upload)?;
        if !(200..300).contains(&status) {
            return Err(PublishError::Upload(crate::keys::hc_vault::response_error(
                "PUT", &url, status, &answer,
            )));
        }
        Ok(Uploaded::Written(warnings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(yaml: &str) -> Vec<Document> {
        crate::format::Format::Yaml
            .codec()
            .parse_plain(yaml.as_bytes())
            .unwrap()
    }

    #[test]
    fn data_has_sops_shape() {
        // Measured with sops 3.11 publishing to OpenBao (3.13.2 adds "Inline" to comments,
        // PR 2131's `sops.Comment`).
        let d = kv_data(&docs(
            "z: 1\nb: [x, {c: d}]\nnest:\n  k: v\n  # gone\n# top\nf: 1e3\nt: true\nn: null\nl:\n  # in list\n  - 1.5\n---\nsecond: doc\n",
        ))
        .unwrap();
        assert_eq!(
            d.to_json(),
            r#"{"b":["x",[{"Key":"c","Value":"d"}]],"f":1000,"l":[{"Value":" in list","Inline":false},1.5],"n":null,"nest":{"k":"v"},"second":"doc","t":true,"z":1}"#
        );
        let inf = kv_data(&docs("x: .inf\n")).unwrap_err();
        assert_eq!(inf.to_string(), "json: unsupported value: +Inf");
    }

    #[test]
    fn equality_as_sops_compares() {
        let d = kv_data(&docs("a: x\nb: {c: true, d: null}\nl: [1]\n")).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(r#"{"a":"x","b":{"c":true,"d":null},"l":[1]}"#).unwrap();
        assert!(!d.same_as(&v), "numbers never compare equal");
        let d = kv_data(&docs("a: x\nb: {c: true, d: null}\nl: [s]\n")).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(r#"{"a":"x","b":{"c":true,"d":null},"l":["s"]}"#).unwrap();
        assert!(d.same_as(&v));
        let v2: serde_json::Value = serde_json::from_str(r#"{"a":"y"}"#).unwrap();
        assert!(!d.same_as(&v2));
    }

    #[test]
    fn secret_paths() {
        let v2 = VaultKvDestination::new("http://v:8200", "app", "", 0);
        assert_eq!(v2.path("f.yaml"), "http://v:8200/v1/secret/data/app/f.yaml");
        let v1 = VaultKvDestination::new("http://v:8200", "app/", "kv", 1);
        assert_eq!(v1.path("f"), "http://v:8200/v1/kv/app/f");
    }
}
