//! The repository guard behind `sops check`: which files do not match their `.sops.yaml`.
//!
//! For each file, the `.sops.yaml` that governs it is looked up from the file's directory
//! upwards (as sops does from the working directory), unless one config is given for all. A
//! file that a creation rule covers is reported when it is not a sops file, when its key
//! groups or Shamir threshold differ from the rule's (what `sops updatekeys` would change), or
//! when its metadata does not parse. Only metadata is read: nothing is decrypted and no key is
//! needed, so it runs in CI without secrets. Directories are walked like ripgrep walks them
//! (the `ignore` crate: `.gitignore`, `.ignore` and git's excludes respected; hidden files
//! included, `.git` skipped), the files checked in parallel.
//!
//! A rule without `path_regex` matches every file, so under such a rule only sops files are
//! checked (for stale keys): a plaintext README is not reported as "not encrypted".
//!
//! This module does not print: the CLI renders [`Finding`]s as text or JSON ([`to_json`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use crate::config::{self, Config, RuleConfig, RuleMatcher};
use crate::edit;
use crate::error::Error;
use crate::file::EncryptedFile;
use crate::format::Format;
use crate::metadata::MetadataError;

/// What is wrong with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A rule covers the file but it is not a sops file.
    NotEncrypted,
    /// The file's keys differ from the rule's (`sops updatekeys` fixes this).
    KeysDiffer {
        /// Keys the rule has and the file lacks, named as `updatekeys` names them.
        added: Vec<String>,
        /// Keys the file has and the rule does not.
        removed: Vec<String>,
        /// The Shamir threshold as (file, rule) when it differs.
        threshold: Option<(usize, usize)>,
    },
    /// The file has `sops` metadata that does not parse.
    InvalidMetadata(String),
    /// The config file, or the rule's key lists, cannot be read.
    BadConfig(String),
    /// The file cannot be read.
    Unreadable(String),
}

impl Problem {
    /// A short machine name: `not-encrypted`, `keys-differ`, `invalid-metadata`,
    /// `bad-config`, `unreadable`.
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::NotEncrypted => "not-encrypted",
            Problem::KeysDiffer { .. } => "keys-differ",
            Problem::InvalidMetadata(_) => "invalid-metadata",
            Problem::BadConfig(_) => "bad-config",
            Problem::Unreadable(_) => "unreadable",
        }
    }
}

/// One file that does not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file, as it was given or found by the walk.
    pub path: PathBuf,
    /// The config file that governs it (when one was found).
    pub config: Option<PathBuf>,
    /// The matching creation rule, 1-based as people count (when one matched).
    pub rule: Option<usize>,
    /// What is wrong.
    pub problem: Problem,
}

impl std::fmt::Display for Finding {
    /// `path: not encrypted (rule 2 of .sops.yaml)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: ", self.path.display())?;
        match &self.problem {
            Problem::NotEncrypted => f.write_str("not encrypted")?,
            Problem::KeysDiffer {
                added,
                removed,
                threshold,
            } => {
                f.write_str("keys differ from the rule (run sops updatekeys)")?;
                let mut parts: Vec<String> = added.iter().map(|k| format!("+{k}")).collect();
                parts.extend(removed.iter().map(|k| format!("-{k}")));
                if let Some((file, rule)) = threshold {
                    parts.push(format!("shamir_threshold {file} -> {rule}"));
                }
                if !parts.is_empty() {
                    write!(f, ": {}", parts.join(", "))?;
                }
            }
            Problem::InvalidMetadata(m) => write!(f, "{m}")?,
            Problem::BadConfig(m) => write!(f, "bad config: {m}")?,
            Problem::Unreadable(m) => write!(f, "cannot read: {m}")?,
        }
        match (&self.rule, &self.config) {
            (Some(rule), Some(config)) => write!(f, " (rule {rule} of {})", config.display()),
            (None, Some(config)) => write!(f, " ({})", config.display()),
            _ => Ok(()),
        }
    }
}

/// The findings as a JSON array of objects with `path`, `problem` (see [`Problem::kind`]),
/// `message` (the text line), `config`, `rule`, and for `keys-differ` `added`/`removed`.
pub fn to_json(findings: &[Finding]) -> String {
    let items: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            let mut obj = serde_json::json!({
                "path": f.path.display().to_string(),
                "problem": f.problem.kind(),
                "message": f.to_string(),
                "config": f.config.as_ref().map(|c| c.display().to_string()),
                "rule": f.rule,
            });
            if let Problem::KeysDiffer { added, removed, .. } = &f.problem {
                obj["added"] = serde_json::json!(added);
                obj["removed"] = serde_json::json!(removed);
            }
            obj
        })
        .collect();
    serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".into()) + "\n"
}

/// The Shamir threshold a file gets from `rule` (as `updatekeys` computes it): the rule's
/// when set, else the file's, never more than the number of groups, and 0 for one group
/// when neither sets one.
pub fn rule_threshold(rule: &RuleConfig, current: usize) -> usize {
    let threshold = if rule.shamir_threshold != 0 {
        rule.shamir_threshold
    } else {
        current
    };
    if rule.key_groups.len() <= 1 && rule.shamir_threshold == 0 && current == 0 {
        return 0;
    }
    threshold.min(rule.key_groups.len())
}

/// A config file and its compiled rules.
#[derive(Debug)]
pub struct LoadedConfig {
    /// The config.
    pub config: Config,
    /// Its creation rules, compiled.
    pub matcher: RuleMatcher,
}

type Loaded = Result<Arc<LoadedConfig>, String>;

fn load(path: &Path) -> Loaded {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    let matcher = config.rule_matcher();
    Ok(Arc::new(LoadedConfig { config, matcher }))
}

/// Finds the config governing each directory, once per directory.
pub struct ConfigFinder {
    fixed: Option<Loaded>,
    found: Mutex<HashMap<PathBuf, Option<Loaded>>>,
}

impl ConfigFinder {
    /// Looks each file's config up from its directory.
    pub fn upwards() -> ConfigFinder {
        ConfigFinder {
            fixed: None,
            found: Mutex::new(HashMap::new()),
        }
    }

    /// Uses this config file for every file (`--config`, `SOPS_CONFIG`).
    pub fn fixed(path: &Path) -> ConfigFinder {
        ConfigFinder {
            fixed: Some(load(path)),
            found: Mutex::new(HashMap::new()),
        }
    }

    /// The config for a file, `None` when there is none.
    pub fn for_file(&self, file: &Path) -> Option<Loaded> {
        if let Some(fixed) = &self.fixed {
            return Some(fixed.clone());
        }
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if let Some(known) = self.found.lock().ok()?.get(&dir) {
            return known.clone();
        }
        let loaded = config::lookup_config_file(&dir).path.map(|path| {
            let shown = path.strip_prefix("./").unwrap_or(&path).to_path_buf();
            load(&shown)
        });
        if let Ok(mut map) = self.found.lock() {
            map.insert(dir, loaded.clone());
        }
        loaded
    }
}

/// The files under `paths`: each file as given; each directory walked (`.gitignore`
/// respected, hidden files included, `.git` skipped). `.sops.yaml` files are left out.
pub fn collect_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let walk = ignore::WalkBuilder::new(path)
            .hidden(false)
            .require_git(false)
            .filter_entry(|e| e.file_name() != ".git")
            .build();
        for entry in walk.flatten() {
            if entry.file_type().is_some_and(|t| t.is_file()) {
                let p = entry.into_path();
                let p = p.strip_prefix("./").map(Path::to_path_buf).unwrap_or(p);
                files.push(p);
            }
        }
    }
    files.retain(|f| {
        f.file_name()
            .is_none_or(|n| n != config::CONFIG_FILE_NAME && n != config::ALTERNATE_CONFIG_NAME)
    });
    files.sort();
    files.dedup();
    files
}

/// Checks every file under `paths` (in parallel); the findings come sorted by path.
/// A path that does not exist is reported as unreadable.
pub fn check_paths(paths: &[PathBuf], configs: &ConfigFinder) -> Vec<Finding> {
    let (present, missing): (Vec<PathBuf>, Vec<PathBuf>) =
        paths.iter().cloned().partition(|p| p.exists());
    let files = collect_files(&present);
    let mut findings: Vec<Finding> = files
        .par_iter()
        .filter_map(|f| check_file(f, configs))
        .collect();
    findings.extend(missing.into_iter().map(|path| Finding {
        path,
        config: None,
        rule: None,
        problem: Problem::Unreadable("no such file or directory".into()),
    }));
    findings.sort_by(|a, b| a.path.cmp(&b.path));
    findings
}

/// Checks one file against the rule that covers it; `None` when all is well or no rule
/// covers it.
pub fn check_file(path: &Path, configs: &ConfigFinder) -> Option<Finding> {
    let finding = |config: Option<PathBuf>, rule: Option<usize>, problem| Finding {
        path: path.to_path_buf(),
        config,
        rule,
        problem,
    };
    let config = match configs.for_file(path)? {
        Ok(c) => c,
        Err(e) => return Some(finding(None, None, Problem::BadConfig(e))),
    };
    let config_path = Some(config.config.path.clone());
    let (index, rule) = match config.matcher.find(&config::absolute(path)) {
        Ok(Some(found)) => found,
        Ok(None) => return None,
        Err(e) => {
            return Some(finding(
                config_path,
                None,
                Problem::BadConfig(e.to_string()),
            ))
        }
    };
    let rule_no = Some(index + 1);
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            return Some(finding(
                config_path,
                rule_no,
                Problem::Unreadable(e.to_string()),
            ))
        }
    };
    let file = match EncryptedFile::parse(&bytes, Format::from_path(path)) {
        Ok(file) => file,
        Err(Error::Metadata(MetadataError::NotFound)) | Err(Error::Format(_)) => {
            // A catch-all rule covers every file of the tree: only sops files are checked.
            if rule.path_regex.is_empty() {
                return None;
            }
            return Some(finding(config_path, rule_no, Problem::NotEncrypted));
        }
        Err(e) => {
            return Some(finding(
                config_path,
                rule_no,
                Problem::InvalidMetadata(e.to_string()),
            ))
        }
    };
    let wanted = match rule.resolve() {
        Ok(r) => r,
        Err(e) => {
            return Some(finding(
                config_path,
                rule_no,
                Problem::BadConfig(e.to_string()),
            ))
        }
    };
    let diffs = edit::diff_key_groups(&file.metadata.key_groups, &wanted.key_groups);
    let added: Vec<String> = diffs.iter().flat_map(|d| d.added.clone()).collect();
    let removed: Vec<String> = diffs.iter().flat_map(|d| d.removed.clone()).collect();
    let have = file.metadata.shamir_threshold;
    let want = rule_threshold(&wanted, have);
    let threshold = (have != want).then_some((have, want));
    if added.is_empty() && removed.is_empty() && threshold.is_none() {
        return None;
    }
    Some(finding(
        config_path,
        rule_no,
        Problem::KeysDiffer {
            added,
            removed,
            threshold,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const R1: &str = "age1zjgh38ennst33g7ntq5un7x6urrnvqpl6p7ulxjdhrynj708lgwsj8jrqx";
    const R2: &str = "age1w3wucutze2numkjnfcxkgdfq699wyvk4s4j36tl7h2ftn63trarsfwyc32";

    fn encrypted_for(recipient: &str) -> Vec<u8> {
        let r = crate::keys::age::AgeRecipient::parse(recipient).unwrap();
        crate::encrypt_bytes(b"a: 1\n", Format::Yaml, vec![Box::new(r)]).unwrap()
    }

    #[test]
    fn reports_plaintext_stale_and_invalid_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(
            root.join(".sops.yaml"),
            format!("creation_rules:\n  - path_regex: ^secrets/\n    age: {R1}\n  - age: {R2}\n"),
        )
        .unwrap();
        std::fs::create_dir_all(root.join("secrets/ignored")).unwrap();
        std::fs::write(root.join("secrets/good.yaml"), encrypted_for(R1)).unwrap();
        std::fs::write(root.join("secrets/plain.yaml"), "a: 1\n").unwrap();
        std::fs::write(root.join("secrets/stale.yaml"), encrypted_for(R2)).unwrap();
        std::fs::write(root.join("secrets/bad.yaml"), "a: 1\nsops: {version: x}\n").unwrap();
        std::fs::write(root.join("secrets/ignored/x.yaml"), "a: 1\n").unwrap();
        std::fs::write(root.join(".gitignore"), "secrets/ignored/\n").unwrap();
        // Under the catch-all rule: plaintext is fine, a sops file for the wrong key is not.
        std::fs::write(root.join("README.md"), "hello\n").unwrap();
        std::fs::write(root.join("other.yaml"), encrypted_for(R1)).unwrap();
        let findings = check_paths(&[root.to_path_buf()], &ConfigFinder::upwards());
        let got: Vec<(String, &str, Option<usize>)> = findings
            .iter()
            .map(|f| {
                let name = f.path.strip_prefix(root).unwrap().display().to_string();
                (name, f.problem.kind(), f.rule)
            })
            .collect();
        assert_eq!(
            got,
            [
                ("other.yaml".to_string(), "keys-differ", Some(2)),
                ("secrets/bad.yaml".to_string(), "invalid-metadata", Some(1)),
                ("secrets/plain.yaml".to_string(), "not-encrypted", Some(1)),
                ("secrets/stale.yaml".to_string(), "keys-differ", Some(1)),
            ]
        );
        let missing = check_paths(&[root.join("nope")], &ConfigFinder::upwards());
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].problem.kind(), "unreadable");
        let stale = findings[3].to_string();
        assert!(stale.contains(&format!("+{R1}")), "{stale}");
        assert!(stale.contains(&format!("-{R2}")), "{stale}");
        assert!(stale.contains(": keys differ from the rule"), "{stale}");
        assert!(stale.contains("(rule 1 of "), "{stale}");
    }
}
