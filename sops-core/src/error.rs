//! The library's top-level error, and the sops exit code for each kind of failure.

use crate::cipher::CipherError;
use crate::crypt::CryptError;
use crate::format::FormatError;
use crate::keys::{KeyError, RecoveryError};
use crate::metadata::MetadataError;

/// Exit codes of the sops binary (`cmd/sops/codes` in sops), which wrappers rely on.
pub mod exit_code {
    /// Anything without a more specific code.
    pub const ERROR_GENERIC: i32 = 1;
    /// The input could not be read or parsed.
    pub const COULD_NOT_READ_INPUT_FILE: i32 = 2;
    /// The output could not be written.
    pub const COULD_NOT_WRITE_OUTPUT_FILE: i32 = 3;
    /// The tree cannot be written in the output format.
    pub const ERROR_DUMPING_TREE: i32 = 4;
    /// The config file could not be read.
    pub const ERROR_READING_CONFIG: i32 = 5;
    /// Bad `--encryption-context`.
    pub const ERROR_INVALID_KMS_ENCRYPTION_CONTEXT_FORMAT: i32 = 6;
    /// Bad `--set` value.
    pub const ERROR_INVALID_SET_FORMAT: i32 = 7;
    /// Flags that cannot be combined.
    pub const ERROR_CONFLICTING_PARAMETERS: i32 = 8;
    /// The MAC could not be encrypted.
    pub const ERROR_ENCRYPTING_MAC: i32 = 21;
    /// The tree could not be encrypted (e.g. unsupported value type).
    pub const ERROR_ENCRYPTING_TREE: i32 = 23;
    /// The MAC could not be decrypted.
    pub const ERROR_DECRYPTING_MAC: i32 = 24;
    /// A value could not be decrypted.
    pub const ERROR_DECRYPTING_TREE: i32 = 25;
    /// Keys cannot be changed on a file that does not exist.
    pub const CANNOT_CHANGE_KEYS_FROM_NON_EXISTENT_FILE: i32 = 49;
    /// The MAC does not match (or cannot be decrypted).
    pub const MAC_MISMATCH: i32 = 51;
    /// The file has no MAC.
    pub const MAC_NOT_FOUND: i32 = 52;
    /// No config file found.
    pub const CONFIG_FILE_NOT_FOUND: i32 = 61;
    /// Interrupted by the user.
    pub const KEYBOARD_INTERRUPT: i32 = 85;
    /// Bad `--extract` / `--set` path.
    pub const INVALID_TREE_PATH_FORMAT: i32 = 91;
    /// An empty YAML file.
    pub const NEED_AT_LEAST_ONE_DOCUMENT: i32 = 92;
    /// The file does not exist or none was given.
    pub const NO_FILE_SPECIFIED: i32 = 100;
    /// No master key could decrypt the data key.
    pub const COULD_NOT_RETRIEVE_KEY: i32 = 128;
    /// No key to encrypt with.
    pub const NO_ENCRYPTION_KEY_FOUND: i32 = 111;
    /// The same key type listed twice in `--decryption-order`.
    pub const DUPLICATE_DECRYPTION_KEY_TYPE: i32 = 112;
    /// Edit made no change.
    pub const FILE_HAS_NOT_BEEN_MODIFIED: i32 = 200;
    /// The editor failed or none was found.
    pub const NO_EDITOR_FOUND: i32 = 201;
    /// Version comparison failed.
    pub const FAILED_TO_COMPARE_VERSIONS: i32 = 202;
    /// The input already has sops metadata.
    pub const FILE_ALREADY_ENCRYPTED: i32 = 203;
}

/// Everything that can go wrong reading, decrypting, encrypting or writing a sops file.
/// No message ever contains a plaintext value or key material.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input does not parse, or the output cannot be written in the format.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The `sops` metadata is missing or malformed.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// A value could not be encrypted or decrypted.
    #[error(transparent)]
    Crypt(#[from] CryptError),
    /// No master key could recover the data key.
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
    /// A master key could not be parsed or used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The stored MAC could not be decrypted (tampered MAC or `lastmodified`).
    #[error("Cannot decrypt MAC: {0}")]
    MacUndecryptable(CipherError),
    /// The stored MAC has a `type:` tag sops does not know (sops exit code 51).
    #[error("Cannot decrypt MAC: Unknown datatype: {0}")]
    MacUnknownType(String),
    /// The MAC does not match the content: the file was changed outside sops.
    #[error("MAC mismatch: the file's values do not match its MAC{detail} (was the file changed outside sops? --ignore-mac skips this check)")]
    MacMismatch {
        /// `", and the file has no MAC"` when the MAC is missing, else empty.
        detail: &'static str,
    },
    /// The plaintext already has a `sops` entry (or `sops_` keys): it looks encrypted.
    #[error("The file you have provided contains a top-level entry called 'sops', or for flat file formats top-level entries starting with 'sops_'. This is generally due to the file already being encrypted. SOPS uses a top-level entry called 'sops' to store the metadata required to decrypt the file. For this reason, SOPS can not encrypt files that already contain such an entry.\n\nIf this is an unencrypted file, rename the 'sops' entry.\n\nIf this is an encrypted file and you want to edit it, use the editor mode, for example: `sops my_file.yaml`")]
    AlreadyEncrypted,
    /// More than one partial-encryption selector was given.
    #[error("cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex in the same file")]
    ConflictingSelectors,
    /// No recipient to encrypt the data key for.
    #[error("config file not found, or has no creation rules, and no keys provided through command line options")]
    NoRecipients,
}

impl Error {
    /// The exit code sops uses for this failure.
    pub fn exit_code(&self) -> i32 {
        use exit_code::*;
        match self {
            Error::Format(FormatError::Parse(_)) => COULD_NOT_READ_INPUT_FILE,
            Error::Format(FormatError::EmptyYaml) => NEED_AT_LEAST_ONE_DOCUMENT,
            Error::Format(FormatError::Unsupported(_)) => ERROR_ENCRYPTING_TREE,
            Error::Format(FormatError::Emit(_)) => ERROR_DUMPING_TREE,
            Error::Metadata(_) => ERROR_GENERIC,
            Error::Crypt(CryptError::BadRegex { .. }) => ERROR_GENERIC,
            Error::Crypt(_) => ERROR_DECRYPTING_TREE,
            Error::Recovery(_) => COULD_NOT_RETRIEVE_KEY,
            Error::Key(_) => ERROR_GENERIC,
            Error::MacUndecryptable(_) | Error::MacUnknownType(_) | Error::MacMismatch { .. } => {
                MAC_MISMATCH
            }
            Error::AlreadyEncrypted => FILE_ALREADY_ENCRYPTED,
            Error::ConflictingSelectors => ERROR_CONFLICTING_PARAMETERS,
            Error::NoRecipients => ERROR_GENERIC,
        }
    }
}
