//! The command line, as sops 3.x defines it: flag style (`sops -d FILE`) and subcommands
//! (`sops decrypt FILE`), with the same flag names and environment variables.

use clap::{Args, Parser, Subcommand};

/// The version line wrappers parse (`sops X.Y.Z` first): the sops release whose behaviour we
/// follow, then ours.
pub const VERSION_LINE: &str = concat!("3.13.2 (sops-rs ", env!("CARGO_PKG_VERSION"), ")");

/// sops: encrypt the values of YAML, JSON, dotenv, INI, TOML and binary files.
#[derive(Debug, Parser)]
#[command(name = "sops", version = VERSION_LINE, args_conflicts_with_subcommands = true)]
#[command(
    about = "sops - encrypted file editor with AWS KMS, GCP KMS, Azure Key Vault, age, and GPG support (Rust implementation)"
)]
pub struct Cli {
    /// A subcommand; without one, the flags below select the action.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Decrypt a file and output the result to stdout.
    #[arg(short = 'd', long)]
    pub decrypt: bool,

    /// Encrypt a file and output the result to stdout.
    #[arg(short = 'e', long)]
    pub encrypt: bool,

    /// Generate a new data encryption key and re-encrypt all values with it.
    #[arg(short = 'r', long)]
    pub rotate: bool,

    /// Display master encryption keys in the file during editing.
    #[arg(short = 's', long)]
    pub show_master_keys: bool,

    /// Set a specific key or branch in the input document: `'["key"][0] JSON-VALUE'`.
    #[arg(long, value_name = "PATH_AND_VALUE")]
    pub set: Option<String>,

    /// Master keys to add or remove (with `-r`).
    #[command(flatten)]
    pub key_changes: KeyChangeArgs,

    /// Flags shared by every action.
    #[command(flatten)]
    pub common: CommonArgs,

    /// Disable the check for a newer version (accepted for compatibility; we never check).
    #[arg(long, hide = true)]
    pub disable_version_check: bool,

    /// Check for a newer version (accepted for compatibility; we never go online).
    #[arg(long, hide = true)]
    pub check_for_updates: bool,

    /// The file to work on; stdin when absent (for encrypt and decrypt).
    pub file: Option<String>,
}

/// Subcommands. Their arguments are defined only when clap parses that subcommand (`defer`):
/// defining every subcommand's flags was 40 % of a small decrypt's instructions. The argument
/// structs below carry plain comments, not doc comments: clap would make a struct's doc
/// comment its subcommand's about text, and with `defer` that replaces the variant's.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
#[allow(clippy::large_enum_variant)] // parsed once per run
pub enum Command {
    /// Encrypt a file, and output the results to stdout.
    Encrypt(EncryptCommand),
    /// Decrypt a file, and output the results to stdout.
    Decrypt(FileCommand),
    /// Check the status of the file, returning encrypted status.
    Filestatus(FileCommand),
    /// Edit an encrypted file (or create a new one) in $SOPS_EDITOR / $EDITOR.
    Edit(EditCommand),
    /// Generate a new data key and re-encrypt every value; optionally add or remove keys.
    Rotate(RotateCommand),
    /// Set a specific key or branch in an encrypted file, keeping every other ciphertext.
    Set(SetCommand),
    /// Remove a specific key or branch from an encrypted file.
    Unset(UnsetCommand),
    /// Make a file's master keys match its `.sops.yaml` creation rule.
    Updatekeys(UpdatekeysCommand),
    /// Run a command with the decrypted top-level values as environment variables.
    ExecEnv(ExecEnvCommand),
    /// Run a command with the decrypted file at a temporary path (`{}` in the command).
    ExecFile(ExecFileCommand),
    /// Git merge driver (ours): merge OTHER into CURRENT by key path, in place; exit 1 and
    /// list the conflicting paths (never values) when it cannot.
    MergeDriver(MergeDriverCommand),
    /// Git textconv (ours): print a sops file decrypted, any other file unchanged; exits 0.
    Textconv(TextconvCommand),
    /// Check files against their `.sops.yaml` creation rules without decrypting (ours).
    Check(CheckCommand),
    /// Start a SOPS key service server: wrap and unwrap data keys with this machine's keys
    /// for sops elsewhere (`--keyservice`). No authentication: listen on a Unix socket or
    /// on loopback.
    Keyservice(KeyserviceCommand),
    /// Publish a sops file (or, with --recursive, a directory) to the destination its
    /// `.sops.yaml` `destination_rules` entry names: S3, GCS or Vault KV.
    Publish(PublishCommand),
    /// Add or delete key groups of an encrypted file.
    #[command(subcommand)]
    Groups(GroupsCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completion(CompletionCommand),
    /// Print the man page (roff), generated from this command line definition; with a
    /// directory, write every page (`sops.1`, `sops-edit.1`, ...) there.
    #[command(hide = true)]
    Man {
        /// Where to write the pages.
        dir: Option<String>,
    },
}

// `sops edit`.
#[derive(Debug, Args)]
pub struct EditCommand {
    /// Flags shared by every action.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Display master encryption keys in the file during editing.
    #[arg(short = 's', long)]
    pub show_master_keys: bool,
    /// The file to edit (created when it does not exist).
    pub file: Option<String>,
}

// Master keys to add to the first key group or remove from every group, as sops's
// `--add-*` / `--rm-*` flags (comma separated lists).
#[derive(Debug, Args, Default, Clone)]
pub struct KeyChangeArgs {
    /// Add the comma separated age recipients.
    #[arg(long, value_name = "RECIPIENTS")]
    pub add_age: Option<String>,
    /// Remove the comma separated age recipients.
    #[arg(long, value_name = "RECIPIENTS")]
    pub rm_age: Option<String>,
    /// Add the comma separated PGP fingerprints.
    #[arg(long, value_name = "FPS")]
    pub add_pgp: Option<String>,
    /// Remove the comma separated PGP fingerprints.
    #[arg(long, value_name = "FPS")]
    pub rm_pgp: Option<String>,
    /// Add the comma separated AWS KMS ARNs (`ARN` or `ARN+ROLE_ARN`).
    #[arg(long, value_name = "ARNS")]
    pub add_kms: Option<String>,
    /// Remove the comma separated AWS KMS ARNs.
    #[arg(long, value_name = "ARNS")]
    pub rm_kms: Option<String>,
    /// Add the comma separated GCP KMS resource IDs.
    #[arg(long, value_name = "IDS")]
    pub add_gcp_kms: Option<String>,
    /// Remove the comma separated GCP KMS resource IDs.
    #[arg(long, value_name = "IDS")]
    pub rm_gcp_kms: Option<String>,
    /// Add the comma separated Azure Key Vault key URLs.
    #[arg(long, value_name = "URLS")]
    pub add_azure_kv: Option<String>,
    /// Remove the comma separated Azure Key Vault key URLs.
    #[arg(long, value_name = "URLS")]
    pub rm_azure_kv: Option<String>,
    /// Add the comma separated Vault transit URIs (`https://HOST:8200/v1/ENGINE/keys/NAME`).
    #[arg(long, value_name = "URIS")]
    pub add_hc_vault_transit: Option<String>,
    /// Remove the comma separated Vault transit URIs.
    #[arg(long, value_name = "URIS")]
    pub rm_hc_vault_transit: Option<String>,
    /// Add the comma separated HuaweiCloud KMS key IDs (`region:key-uuid`).
    #[arg(long, value_name = "IDS")]
    pub add_hckms: Option<String>,
    /// Remove the comma separated HuaweiCloud KMS key IDs.
    #[arg(long, value_name = "IDS")]
    pub rm_hckms: Option<String>,
}

impl KeyChangeArgs {
    /// Whether any `--add-*` or `--rm-*` flag was given.
    pub fn any(&self) -> bool {
        [
            &self.add_age,
            &self.rm_age,
            &self.add_pgp,
            &self.rm_pgp,
            &self.add_kms,
            &self.rm_kms,
            &self.add_gcp_kms,
            &self.rm_gcp_kms,
            &self.add_azure_kv,
            &self.rm_azure_kv,
            &self.add_hc_vault_transit,
            &self.rm_hc_vault_transit,
            &self.add_hckms,
            &self.rm_hckms,
        ]
        .iter()
        .any(|v| v.as_deref().is_some_and(|v| !v.is_empty()))
    }
}

// `sops rotate`.
#[derive(Debug, Args)]
pub struct RotateCommand {
    /// Flags shared by every action.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Master keys to add or remove.
    #[command(flatten)]
    pub key_changes: KeyChangeArgs,
    /// The arguments are directories: rotate every sops file under them in place (ours).
    #[arg(short = 'r', long)]
    pub recursive: bool,
    /// With `--recursive`: do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// The file to rotate (directories with `--recursive`).
    #[arg(required = true)]
    pub files: Vec<String>,
}

// `sops set`.
#[derive(Debug, Args)]
pub struct SetCommand {
    /// Flags shared by every action.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Treat VALUE as a file to read the value from (keeps secrets out of process listings).
    #[arg(long, conflicts_with = "value_stdin")]
    pub value_file: bool,
    /// Read the value from stdin (then VALUE is omitted).
    #[arg(long)]
    pub value_stdin: bool,
    /// Do nothing if the path already has the given value.
    #[arg(long)]
    pub idempotent: bool,
    /// The encrypted file.
    pub file: String,
    /// The tree path, e.g. `["db"]["password"]`.
    pub path: String,
    /// The JSON value (`"text"`, `5`, `{"a":true}`), or a file name with --value-file.
    pub value: Option<String>,
}

// `sops unset`.
#[derive(Debug, Args)]
pub struct UnsetCommand {
    /// Flags shared by every action.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Do nothing if the path does not exist.
    #[arg(long)]
    pub idempotent: bool,
    /// The encrypted file.
    pub file: String,
    /// The tree path, e.g. `["db"]["password"]`.
    pub path: String,
}

// `sops updatekeys`.
#[derive(Debug, Args)]
pub struct UpdatekeysCommand {
    /// Flags shared by every action.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Pre-approve all changes and run non-interactively.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// The arguments are directories: update every sops file under them (ours).
    #[arg(short = 'r', long)]
    pub recursive: bool,
    /// The encrypted files (directories with `--recursive`).
    pub files: Vec<String>,
}

// `sops publish`.
#[derive(Debug, Args)]
pub struct PublishCommand {
    /// Flags shared by every action (`--config`, `--decryption-order`, `--keyservice`,
    /// `--verbose` apply here).
    #[command(flatten)]
    pub common: CommonArgs,
    /// Pre-approve all changes and run non-interactively.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Omit file extensions in destination path when publishing sops file to configured
    /// destinations.
    #[arg(long)]
    pub omit_extensions: bool,
    /// If the source path is a directory, publish all its content recursively.
    #[arg(long)]
    pub recursive: bool,
    /// The sops file (a directory with `--recursive`).
    pub file: Option<String>,
}

// `sops exec-env`.
#[derive(Debug, Args)]
pub struct ExecEnvCommand {
    /// Flags shared by every action.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Background the process and don't wait for it to complete (discouraged).
    #[arg(long)]
    pub background: bool,
    /// Insert only the decrypted values into the environment, without the current one.
    #[arg(long)]
    pub pristine: bool,
    /// The user to run the command as.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Run the command in the current process instead of in a child process.
    #[arg(long)]
    pub same_process: bool,
    /// The encrypted file.
    pub file: String,
    /// The command, run by `/bin/sh -c`.
    pub command: String,
}

// `sops exec-file`.
#[derive(Debug, Args)]
pub struct ExecFileCommand {
    /// Flags shared by every action.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Background the process and don't wait for it to complete (discouraged).
    #[arg(long)]
    pub background: bool,
    /// Use a private temporary file instead of a FIFO.
    #[arg(long)]
    pub no_fifo: bool,
    /// The user to run the command as.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// The file name of the temporary file or FIFO.
    #[arg(long, value_name = "NAME", default_value = "tmp-file")]
    pub filename: String,
    /// The encrypted file.
    pub file: String,
    /// The command, run by `/bin/sh -c`; `{}` is replaced by the decrypted file's path.
    pub command: String,
}

// `sops merge-driver BASE CURRENT OTHER [PATHNAME]`, as git's `%O %A %B %P`.
#[derive(Debug, Args)]
pub struct MergeDriverCommand {
    /// Flags shared by every action.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The common ancestor (empty when the file did not exist there).
    pub base: String,
    /// Our version; the merge result is written over it.
    pub current: String,
    /// Their version.
    pub other: String,
    /// The file's path in the repository (picks the format and the creation rule).
    pub pathname: Option<String>,
}

// `sops textconv FILE`.
#[derive(Debug, Args)]
pub struct TextconvCommand {
    /// Flags shared by every action.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The file to print.
    pub file: String,
}

// `sops keyservice`.
#[derive(Debug, Args)]
pub struct KeyserviceCommand {
    /// Network to listen on: `tcp` or `unix`.
    #[arg(
        long,
        visible_alias = "net",
        value_name = "NETWORK",
        default_value = "tcp"
    )]
    pub network: String,
    /// Address to listen on, e.g. `127.0.0.1:5000` or `/tmp/sops.sock`.
    #[arg(
        long,
        visible_alias = "addr",
        value_name = "ADDRESS",
        default_value = "127.0.0.1:5000"
    )]
    pub address: String,
    /// Prompt the user to confirm every incoming request.
    #[arg(long)]
    pub prompt: bool,
    /// Enable verbose logging output (each request's key type and identifier).
    #[arg(long)]
    pub verbose: bool,
}

// `sops check [PATH...]`.
#[derive(Debug, Args)]
pub struct CheckCommand {
    /// Flags shared by every action.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Output format: `text` (one line per problem) or `json`.
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub format: String,
    /// Files or directories (default `.`); directories are walked respecting `.gitignore`.
    pub paths: Vec<String>,
}

/// `sops groups add|delete` (arguments deferred like [`Command`]'s).
#[derive(Debug, Subcommand)]
#[command(defer = true)]
#[allow(clippy::large_enum_variant)] // parsed once per run
pub enum GroupsCommand {
    /// Add a new key group to a SOPS file.
    Add(GroupsAddCommand),
    /// Delete a key group from a SOPS file.
    Delete(GroupsDeleteCommand),
}

// Flags of `sops groups` subcommands that say which file and how to write it.
#[derive(Debug, Args, Clone)]
pub struct GroupsFileArgs {
    /// The file to change (as sops, a missing `--file` is an error reading the file `""`).
    #[arg(short = 'f', long, default_value = "")]
    pub file: String,
    /// Write output back to the same file instead of stdout.
    #[arg(short = 'i', long)]
    pub in_place: bool,
    /// The number of key groups required to retrieve the data key with Shamir.
    #[arg(long, value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,
    /// Input file type (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Output file type (default: the input type).
    #[arg(long, value_name = "TYPE")]
    pub output_type: Option<String>,
    /// Order in which key types are tried when decrypting.
    #[arg(long, env = "SOPS_DECRYPTION_ORDER", value_name = "ORDER")]
    pub decryption_order: Option<String>,
    /// Enable verbose logging output.
    #[arg(long)]
    pub verbose: bool,
    /// Path to the sops config file (for the `stores` settings).
    #[arg(long, env = "SOPS_CONFIG", value_name = "PATH")]
    pub config: Option<String>,
    /// Indentation for YAML and JSON output.
    #[arg(long, value_name = "N")]
    pub indent: Option<i64>,
    /// Use the local key service (`=false`: only the `--keyservice` ones are used).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub enable_local_keyservice: bool,
    /// Key services to use in addition to the local one, `tcp://host:port` or
    /// `unix:///path` (repeatable; `SOPS_KEYSERVICE`, comma separated).
    #[arg(long, value_name = "URI")]
    pub keyservice: Vec<String>,
}

// `sops groups add`.
#[derive(Debug, Args)]
pub struct GroupsAddCommand {
    /// Which file, and where the output goes.
    #[command(flatten)]
    pub target: GroupsFileArgs,
    /// A PGP fingerprint of the new group (repeatable).
    #[arg(long)]
    pub pgp: Vec<String>,
    /// An age recipient of the new group (repeatable).
    #[arg(long)]
    pub age: Vec<String>,
    /// An AWS KMS ARN of the new group (repeatable).
    #[arg(long)]
    pub kms: Vec<String>,
    /// The AWS profile for the `--kms` keys.
    #[arg(long)]
    pub aws_profile: Option<String>,
    /// KMS encryption context (`key:value,...`) for the `--kms` keys.
    #[arg(long)]
    pub encryption_context: Option<String>,
    /// A GCP KMS resource id of the new group.
    #[arg(long)]
    pub gcp_kms: Vec<String>,
    /// A HuaweiCloud KMS key id (`region:key-uuid`) of the new group.
    #[arg(long)]
    pub hckms: Vec<String>,
    /// An Azure Key Vault key URL of the new group.
    #[arg(long)]
    pub azure_kv: Vec<String>,
    /// A Vault transit key URI of the new group (repeatable).
    #[arg(long)]
    pub hc_vault_transit: Vec<String>,
    /// Positional arguments are refused, as in sops.
    #[arg(hide = true)]
    pub extra: Vec<String>,
}

// `sops groups delete`.
#[derive(Debug, Args)]
pub struct GroupsDeleteCommand {
    /// Which file, and where the output goes.
    #[command(flatten)]
    pub target: GroupsFileArgs,
    /// The index of the group to delete (0 is the first).
    pub index: Vec<String>,
}

// `sops completion`.
#[derive(Debug, Args)]
pub struct CompletionCommand {
    /// The shell.
    pub shell: clap_complete::Shell,
}

// `sops encrypt`.
#[derive(Debug, Args)]
pub struct EncryptCommand {
    /// Flags shared by every action.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Use this encrypted file's data key, recipients and selectors, and keep the ciphertext
    /// of every value whose path and plaintext are unchanged (ours).
    #[arg(long, value_name = "OLD_FILE")]
    pub keep_ciphertext_from: Option<String>,
    /// The file to work on; stdin when absent.
    pub file: Option<String>,
}

// Arguments of a subcommand working on one file.
#[derive(Debug, Args)]
pub struct FileCommand {
    /// Flags shared by every action.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The file to work on; stdin when absent.
    pub file: Option<String>,
}

// Flags shared by the flag style and the subcommands.
#[derive(Debug, Args, Default, Clone)]
pub struct CommonArgs {
    /// Write output back to the same file instead of stdout.
    #[arg(short = 'i', long)]
    pub in_place: bool,

    /// Save the output to the given file instead of stdout.
    #[arg(long, value_name = "PATH")]
    pub output: Option<String>,

    /// Extract a specific key or branch from the input document (decrypt only), e.g. `["somekey"][0]`.
    #[arg(long, value_name = "TREE_PATH")]
    pub extract: Option<String>,

    /// Input file type: yaml, json, dotenv, ini, toml or binary (default: from the extension).
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,

    /// Output file type (default: the input type).
    #[arg(long, value_name = "TYPE")]
    pub output_type: Option<String>,

    /// Use this file name instead of the provided argument to pick the format and creation rule.
    #[arg(long, value_name = "NAME")]
    pub filename_override: Option<String>,

    /// Indentation for YAML and JSON output (0 = default for YAML, none for JSON).
    #[arg(long, value_name = "N")]
    pub indent: Option<i64>,

    /// Ignore the Message Authentication Code during decryption.
    #[arg(long)]
    pub ignore_mac: bool,

    /// Enable verbose logging output.
    #[arg(long)]
    pub verbose: bool,

    /// Comma separated list of age recipients.
    #[arg(
        short = 'a',
        long,
        env = "SOPS_AGE_RECIPIENTS",
        value_name = "RECIPIENTS"
    )]
    pub age: Option<String>,

    /// Comma separated list of PGP fingerprints (encrypted through the `gpg` binary).
    #[arg(short = 'p', long, env = "SOPS_PGP_FP", value_name = "FPS")]
    pub pgp: Option<String>,

    /// Comma separated list of AWS KMS key ARNs (`ARN` or `ARN+ROLE_ARN`).
    #[arg(short = 'k', long, env = "SOPS_KMS_ARN", value_name = "ARNS")]
    pub kms: Option<String>,

    /// The AWS profile to use for the `--kms` keys.
    #[arg(long, value_name = "PROFILE")]
    pub aws_profile: Option<String>,

    /// Comma separated list of KMS encryption context key:value pairs (for `--kms` keys and
    /// the `kms` list of a creation rule).
    #[arg(long, value_name = "CONTEXT")]
    pub encryption_context: Option<String>,

    /// Comma separated list of GCP KMS resource IDs.
    #[arg(long, env = "SOPS_GCP_KMS_IDS", value_name = "IDS")]
    pub gcp_kms: Option<String>,

    /// Comma separated list of Azure Key Vault URLs.
    #[arg(long, env = "SOPS_AZURE_KEYVAULT_URLS", value_name = "URLS")]
    pub azure_kv: Option<String>,

    /// Comma separated list of HuaweiCloud KMS key IDs, `region:key-uuid`.
    #[arg(long, env = "SOPS_HUAWEICLOUD_KMS_IDS", value_name = "IDS")]
    pub hckms: Option<String>,

    /// Comma separated list of Vault transit URIs (`https://HOST:8200/v1/ENGINE/keys/NAME`).
    #[arg(long, env = "SOPS_VAULT_URIS", value_name = "URIS")]
    pub hc_vault_transit: Option<String>,

    /// Override the encrypted key suffix (default `_unencrypted`).
    #[arg(long, value_name = "SUFFIX")]
    pub unencrypted_suffix: Option<String>,

    /// Only encrypt values whose key (or a parent's) ends with this suffix.
    #[arg(long, value_name = "SUFFIX")]
    pub encrypted_suffix: Option<String>,

    /// Leave values whose key (or a parent's) matches this regex unencrypted.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_regex: Option<String>,

    /// Only encrypt values whose key (or a parent's) matches this regex.
    #[arg(long, value_name = "REGEX")]
    pub encrypted_regex: Option<String>,

    /// Leave values after a comment matching this regex unencrypted.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_comment_regex: Option<String>,

    /// Only encrypt values after a comment matching this regex.
    #[arg(long, value_name = "REGEX")]
    pub encrypted_comment_regex: Option<String>,

    /// Compute the MAC only over encrypted values.
    #[arg(long)]
    pub mac_only_encrypted: bool,

    /// Path to the sops config file; without it `.sops.yaml` is searched for upwards from the
    /// working directory.
    #[arg(long, env = "SOPS_CONFIG", value_name = "PATH")]
    pub config: Option<String>,

    /// Number of key groups needed to decrypt (Shamir threshold).
    #[arg(long, value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,

    /// Order in which key types are tried when decrypting, comma separated (default `age,pgp`).
    #[arg(long, env = "SOPS_DECRYPTION_ORDER", value_name = "ORDER")]
    pub decryption_order: Option<String>,

    /// Use the local key service, i.e. the keys of this machine (`=false` or
    /// `SOPS_ENABLE_LOCAL_KEYSERVICE=false`: none are used, so without a remote key service
    /// nothing can be decrypted or encrypted).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, hide = true)]
    pub enable_local_keyservice: bool,

    /// Key services to use in addition to the local one, `tcp://host:port` or
    /// `unix:///path` (repeatable; `SOPS_KEYSERVICE`, comma separated).
    #[arg(long, value_name = "URI")]
    pub keyservice: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// With `defer`, a subcommand's arguments are added when it is built; nothing added then
    /// may replace the about text its variant gives (a doc comment on an argument struct
    /// would).
    #[test]
    fn deferred_subcommands_keep_their_about() {
        let eager = Cli::command();
        let mut built = Cli::command();
        built.build();
        let nested = |c: &clap::Command| {
            c.get_subcommands()
                .flat_map(|s| {
                    std::iter::once(vec![s.get_name().to_string()]).chain(
                        s.get_subcommands()
                            .map(|n| vec![s.get_name().to_string(), n.get_name().to_string()]),
                    )
                })
                .collect::<Vec<_>>()
        };
        let find = |c: &clap::Command, path: &[String]| {
            path.iter().fold(c.clone(), |c, name| {
                c.find_subcommand(name).expect("subcommand").clone()
            })
        };
        for path in nested(&eager) {
            let sub = find(&eager, &path);
            let after = find(&built, &path);
            assert_eq!(
                sub.get_about().map(|s| s.to_string()),
                after.get_about().map(|s| s.to_string()),
                "about of `sops {}`",
                path.join(" ")
            );
            assert_eq!(
                sub.get_long_about().map(|s| s.to_string()),
                after.get_long_about().map(|s| s.to_string()),
                "long about of `sops {}`",
                path.join(" ")
            );
        }
        // and the arguments are there once built
        let decrypt = built.find_subcommand("decrypt").unwrap();
        assert!(decrypt.get_arguments().any(|a| a.get_id() == "config"));
    }
}
