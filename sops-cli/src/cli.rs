//! The command line, as sops 3.x defines it: flag style (`sops -d FILE`) and subcommands
//! (`sops decrypt FILE`), with the same flag names and environment variables.

use clap::{Args, Parser, Subcommand};

/// The version line wrappers parse (`sops X.Y.Z` first).
pub const VERSION_LINE: &str = concat!("3.11.0 (sops-rs ", env!("CARGO_PKG_VERSION"), ")");

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

    /// Generate a new data encryption key and re-encrypt all values with it (not yet supported).
    #[arg(short = 'r', long)]
    pub rotate: bool,

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

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Encrypt a file, and output the results to stdout.
    Encrypt(FileCommand),
    /// Decrypt a file, and output the results to stdout.
    Decrypt(FileCommand),
    /// Check the status of the file, returning encrypted status.
    Filestatus(FileCommand),
}

/// Arguments of a subcommand working on one file.
#[derive(Debug, Args)]
pub struct FileCommand {
    /// Flags shared by every action.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The file to work on; stdin when absent.
    pub file: Option<String>,
}

/// Flags shared by the flag style and the subcommands.
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
    pub indent: Option<usize>,

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

    /// Comma separated list of GCP KMS resource IDs (not supported yet).
    #[arg(long, env = "SOPS_GCP_KMS_IDS", value_name = "IDS")]
    pub gcp_kms: Option<String>,

    /// Comma separated list of Azure Key Vault URLs (not supported yet).
    #[arg(long, env = "SOPS_AZURE_KEYVAULT_URLS", value_name = "URLS")]
    pub azure_kv: Option<String>,

    /// Comma separated list of Vault transit URIs (not supported yet).
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

    /// Use the local key service (always on; accepted for compatibility).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, hide = true)]
    pub enable_local_keyservice: bool,

    /// Remote key services (not supported).
    #[arg(long, value_name = "URI", hide = true)]
    pub keyservice: Vec<String>,
}
