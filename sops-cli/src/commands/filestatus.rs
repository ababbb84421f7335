//! `sops filestatus`: print whether a file is encrypted, as `{"encrypted":true}`.

use anyhow::Result;
use sops_core::metadata::MetadataError;
use sops_core::EncryptedFile;

use super::Invocation;

/// Prints `{"encrypted":true}` or `{"encrypted":false}`.
pub fn run(inv: &Invocation) -> Result<()> {
    let input = inv.read_input().map_err(|e| {
        crate::exit::fail(
            sops_core::error::exit_code::ERROR_GENERIC,
            format!("cannot check file status: cannot load encrypted file: {e}"),
        )
    })?;
    let encrypted = match EncryptedFile::parse(&input, inv.input_format) {
        Ok(_) => true,
        Err(sops_core::Error::Metadata(MetadataError::NotFound)) => false,
        // sops: any other load error is exit 1 with this prefix.
        Err(e) => {
            return Err(crate::exit::fail(
                sops_core::error::exit_code::ERROR_GENERIC,
                format!("cannot check file status: cannot load encrypted file: {e}"),
            ))
        }
    };
    println!("{{\"encrypted\":{encrypted}}}");
    Ok(())
}
