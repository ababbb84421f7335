//! The HTTP/1.1 response reader shared by the small blocking clients of the cloud key sources
//! (Vault transit, GCP KMS, HuaweiCloud KMS, Azure Key Vault). Each source keeps its own request writing,
//! TLS settings and error texts; this is only the part that was the same in all of them.

use std::io::{BufRead, BufReader, Read};

use zeroize::Zeroizing;

/// The largest answer body accepted from a key service (they answer a few hundred bytes).
pub(crate) const MAX_RESPONSE: usize = 1 << 20;

/// Reads an HTTP/1.1 response: the status, the headers, then a body by `Content-Length`,
/// chunked, or up to the end of the connection. I/O errors are worded by `io_message`, so
/// each source keeps its own hints.
pub(crate) fn read_response(
    stream: impl Read,
    io_message: fn(std::io::Error) -> String,
) -> Result<(u16, Zeroizing<Vec<u8>>), String> {
    read_response_with_headers(stream, io_message).map(|(status, _, body)| (status, body))
}

/// A response's header fields, in order, names as sent.
pub(crate) type Headers = Vec<(String, String)>;

/// [`read_response`], keeping the header fields (Azure reads `WWW-Authenticate`).
pub(crate) fn read_response_with_headers(
    stream: impl Read,
    io_message: fn(std::io::Error) -> String,
) -> Result<(u16, Headers, Zeroizing<Vec<u8>>), String> {
    let mut reader = BufReader::new(stream.take(MAX_RESPONSE as u64 + 64 * 1024));
    let mut line = String::new();
    reader.read_line(&mut line).map_err(io_message)?;
    if line.is_empty() {
        return Err("EOF (the server closed the connection without an answer)".into());
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .filter(|_| line.starts_with("HTTP/"))
        .ok_or_else(|| "malformed HTTP response".to_string())?;
    let mut headers = Headers::new();
    loop {
        line.clear();
        reader.read_line(&mut line).map_err(io_message)?;
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let chunked =
        find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length: Option<usize> = find("content-length").and_then(|v| v.parse().ok());
    let mut body = Zeroizing::new(Vec::new());
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line).map_err(io_message)?;
            let size_text = line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| "malformed chunked body".to_string())?;
            if size == 0 {
                break;
            }
            if body.len() + size > MAX_RESPONSE {
                return Err("the answer is too large".into());
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..]).map_err(io_message)?;
            line.clear();
            reader.read_line(&mut line).map_err(io_message)?;
        }
    } else if let Some(n) = length {
        if n > MAX_RESPONSE {
            return Err("the answer is too large".into());
        }
        body.resize(n, 0);
        reader.read_exact(&mut body).map_err(io_message)?;
    } else {
        // Up to the end; a TLS peer that closes without close_notify still ends the body.
        match reader.read_to_end(&mut body) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
            Err(e) => return Err(io_message(e)),
        }
    }
    Ok((status, headers, body))
}
