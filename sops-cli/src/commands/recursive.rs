//! `updatekeys --recursive DIR...` and `rotate --recursive DIR...` (ours): the same change to
//! every sops file under the directories.
//!
//! Directories are walked as `sops check` walks them (`.gitignore` respected); files that are
//! not sops files are skipped silently. Each file's `.sops.yaml` is the one above it (or
//! `--config` for all). The changes are listed, confirmed once (unless `-y`), then made in
//! parallel, each file written atomically; one line per file says `updated`/`rotated`,
//! `already up to date` or `failed: why`, and the exit code is 1 when any failed.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use rayon::prelude::*;
use sops_core::check::{self, ConfigFinder, LoadedConfig};
use sops_core::config::KeySpec;
use sops_core::edit;
use sops_core::error::exit_code;
use sops_core::format::{EmitOptions, Format};
use sops_core::{DecryptOptions, EncryptedFile};

use super::load;
use crate::cli::CommonArgs;
use crate::exit::{describe, fail};

/// What `updatekeys` would change in one file.
pub struct KeyUpdate {
    groups: Vec<Vec<KeySpec>>,
    threshold: usize,
}

/// The change made to every file.
pub trait Action: Sync {
    /// The word for a changed file (`updated`, `rotated`).
    fn done(&self) -> &'static str;
    /// `Ok(None)`: nothing to do; `Ok(Some(..))`: the planned change.
    fn plan(
        &self,
        file: &EncryptedFile,
        config: Option<&LoadedConfig>,
        path: &Path,
    ) -> Result<Option<Plan>>;
    /// Makes the change.
    fn apply(&self, file: EncryptedFile, plan: &Plan, args: &CommonArgs) -> Result<EncryptedFile>;
}

/// A planned change: what to show before asking, and what `updatekeys` needs.
pub struct Plan {
    shown: Vec<String>,
    update: Option<KeyUpdate>,
}

/// `updatekeys`: the key groups and threshold of the file's creation rule.
pub struct UpdateKeys;

impl Action for UpdateKeys {
    fn done(&self) -> &'static str {
        "updated"
    }

    fn plan(
        &self,
        file: &EncryptedFile,
        config: Option<&LoadedConfig>,
        path: &Path,
    ) -> Result<Option<Plan>> {
        let Some(config) = config else {
            return Err(fail(exit_code::ERROR_GENERIC, "config file not found"));
        };
        let abs = sops_core::config::absolute(path);
        let rule = match config.matcher.find(&abs) {
            Ok(Some((_, rule))) => rule
                .resolve()
                .map_err(|e| fail(e.exit_code(), e.to_string()))?,
            Ok(None) => {
                return Err(fail(
                    exit_code::ERROR_GENERIC,
                    format!(
                        "no creation rule of {} matches",
                        config.config.path.display()
                    ),
                ))
            }
            Err(e) => return Err(fail(e.exit_code(), e.to_string())),
        };
        let diffs = edit::diff_key_groups(&file.metadata.key_groups, &rule.key_groups);
        let old_threshold = file.metadata.shamir_threshold;
        let threshold = check::rule_threshold(&rule, old_threshold);
        let keys_change = diffs
            .iter()
            .any(|d| !d.added.is_empty() || !d.removed.is_empty());
        if !keys_change && threshold == old_threshold {
            return Ok(None);
        }
        let mut shown = Vec::new();
        if threshold != old_threshold {
            shown.push(format!("shamir_threshold: {old_threshold} -> {threshold}"));
        }
        for (i, d) in diffs.iter().enumerate() {
            for k in &d.added {
                shown.push(format!("group {}: +++ {k}", i + 1));
            }
            for k in &d.removed {
                shown.push(format!("group {}: --- {k}", i + 1));
            }
        }
        Ok(Some(Plan {
            shown,
            update: Some(KeyUpdate {
                groups: rule.key_groups,
                threshold,
            }),
        }))
    }

    fn apply(
        &self,
        mut file: EncryptedFile,
        plan: &Plan,
        args: &CommonArgs,
    ) -> Result<EncryptedFile> {
        let Some(update) = &plan.update else {
            return Ok(file);
        };
        let key = load::recover_key(&file, args)?;
        edit::rewrap(&mut file.metadata, &key, &update.groups, update.threshold).map_err(|e| {
            fail(
                exit_code::ERROR_GENERIC,
                format!("error updating one or more master keys: {e}"),
            )
        })?;
        Ok(file)
    }
}

/// `rotate`: a new data key, keys added to the first group and removed from every group.
pub struct Rotate {
    /// Keys to add (`--add-*`).
    pub add: Vec<KeySpec>,
    /// Keys to remove (`--rm-*`).
    pub rm: Vec<KeySpec>,
}

impl Action for Rotate {
    fn done(&self) -> &'static str {
        "rotated"
    }

    fn plan(&self, _: &EncryptedFile, _: Option<&LoadedConfig>, _: &Path) -> Result<Option<Plan>> {
        let mut shown = vec!["new data key".to_string()];
        shown.extend(self.add.iter().map(|k| format!("+++ {}", k.name())));
        shown.extend(self.rm.iter().map(|k| format!("--- {}", k.name())));
        Ok(Some(Plan {
            shown,
            update: None,
        }))
    }

    fn apply(&self, file: EncryptedFile, _: &Plan, args: &CommonArgs) -> Result<EncryptedFile> {
        let key = load::recover_key(&file, args)?;
        let opts = DecryptOptions {
            ignore_mac: args.ignore_mac,
        };
        let mut plain = file.decrypt_with_key(key, &opts)?;
        super::rotate::rotate_file(&mut plain, &self.add, &self.rm)?;
        Ok(plain.encrypt()?)
    }
}

/// How one file ended.
enum Outcome {
    Done,
    UpToDate,
    Failed(String),
}

/// One line for an error, whatever its shape.
fn one_line(e: &anyhow::Error) -> String {
    let (_, message) = describe(e);
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A sops file found under the directories, with what to do about it.
struct Item {
    path: PathBuf,
    format: Format,
    config: Option<std::sync::Arc<LoadedConfig>>,
    file: Option<EncryptedFile>,
    plan: Result<Option<Plan>, String>,
}

/// Runs `action` on every sops file under `dirs`.
pub fn run(args: &CommonArgs, dirs: &[String], yes: bool, action: &dyn Action) -> Result<()> {
    if dirs.is_empty() {
        return Err(fail(
            exit_code::NO_FILE_SPECIFIED,
            "Error: no directory specified",
        ));
    }
    let configs = match args.config.as_deref().filter(|p| !p.is_empty()) {
        Some(path) => ConfigFinder::fixed(Path::new(path)),
        None => ConfigFinder::upwards(),
    };
    let paths: Vec<PathBuf> = dirs.iter().map(PathBuf::from).collect();
    if let Some(missing) = paths.iter().find(|p| !p.exists()) {
        return Err(fail(
            exit_code::NO_FILE_SPECIFIED,
            format!("Error: {}: no such file or directory", missing.display()),
        ));
    }
    let files = check::collect_files(&paths);
    let mut items: Vec<Item> = files
        .par_iter()
        .filter_map(|path| {
            let format = Format::from_path(path);
            let bytes = match std::fs::read(path) {
                Ok(b) => b,
                Err(e) => {
                    return Some(Item {
                        path: path.clone(),
                        format,
                        config: None,
                        file: None,
                        plan: Err(format!("cannot read: {e}")),
                    })
                }
            };
            // Not a sops file: skipped silently.
            let file = EncryptedFile::parse(&bytes, format).ok()?;
            let config = match configs.for_file(path) {
                Some(Ok(c)) => Some(c),
                Some(Err(e)) => {
                    return Some(Item {
                        path: path.clone(),
                        format,
                        config: None,
                        file: None,
                        plan: Err(e),
                    })
                }
                None => None,
            };
            let plan = action
                .plan(&file, config.as_deref(), path)
                .map_err(|e| one_line(&e));
            Some(Item {
                path: path.clone(),
                format,
                config,
                file: Some(file),
                plan,
            })
        })
        .collect();
    items.sort_by(|a, b| a.path.cmp(&b.path));

    let pending = items
        .iter()
        .filter(|i| matches!(i.plan, Ok(Some(_))))
        .count();
    if pending > 0 && !yes {
        {
            let mut out = std::io::stdout().lock();
            for item in &items {
                if let Ok(Some(plan)) = &item.plan {
                    let _ = writeln!(out, "{}:", item.path.display());
                    for line in &plan.shown {
                        let _ = writeln!(out, "    {line}");
                    }
                }
            }
            let _ = out.flush();
        }
        if !super::updatekeys::confirm()? {
            eprintln!("No file changed");
            return Ok(());
        }
    }

    let outcomes: Vec<Outcome> = items
        .par_iter_mut()
        .map(|item| match (&item.plan, item.file.take()) {
            (Err(e), _) => Outcome::Failed(e.clone()),
            (Ok(None), _) => Outcome::UpToDate,
            (Ok(Some(_)), None) => Outcome::UpToDate,
            (Ok(Some(plan)), Some(file)) => {
                let emit = EmitOptions {
                    indent: args
                        .indent
                        .and_then(|n| usize::try_from(n).ok())
                        .or_else(|| {
                            item.config
                                .as_ref()
                                .and_then(|c| c.config.stores.indent_for(item.format))
                        }),
                };
                let result = action.apply(file, plan, args).and_then(|file| {
                    let bytes = file.to_bytes(item.format, &emit)?;
                    sops_core::atomic::write_atomic(&item.path, &bytes)?;
                    Ok(())
                });
                match result {
                    Ok(()) => Outcome::Done,
                    Err(e) => Outcome::Failed(one_line(&e)),
                }
            }
        })
        .collect();
    let mut failed = 0;
    let mut out = std::io::stdout().lock();
    for (item, outcome) in items.iter().zip(&outcomes) {
        let path = item.path.display();
        let _ = match outcome {
            Outcome::Done => writeln!(out, "{path}: {}", action.done()),
            Outcome::UpToDate => writeln!(out, "{path}: already up to date"),
            Outcome::Failed(why) => {
                failed += 1;
                writeln!(out, "{path}: failed: {why}")
            }
        };
    }
    let _ = out.flush();
    if failed > 0 {
        return Err(fail(
            exit_code::ERROR_GENERIC,
            format!("{failed} of {} sops file(s) failed", items.len()),
        ));
    }
    Ok(())
}
