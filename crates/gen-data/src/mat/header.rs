//! The 128-byte header of a v5 MAT-file: its descriptive text, the version `0x0100` and the
//! endian indicator that sets the byte order of everything after it.

use crate::{Error, Result};
use std::path::Path;

/// Bytes of the header; the first data element starts here.
pub(super) const HEADER_BYTES: usize = 128;
/// Bytes of the descriptive text at its start.
pub(super) const TEXT_BYTES: usize = 116;

/// The byte order of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Endian {
    Little,
    Big,
}

/// Checks the 128-byte header; returns its text and the file's byte order.
pub(super) fn parse_header(bytes: &[u8], path: &Path) -> Result<(String, Endian)> {
    let Some(header) = bytes.get(..HEADER_BYTES) else {
        return Err(Error::format(
            path,
            "header",
            format!(
                "truncated: {} bytes, a MAT-file header has {HEADER_BYTES}",
                bytes.len()
            ),
        ));
    };
    let text = header.get(..TEXT_BYTES).unwrap_or_default();
    if !text.starts_with(b"MATLAB") {
        return Err(Error::format(
            path,
            "header",
            "does not start with `MATLAB`: not a v5 MAT-file (v4 files are not supported)",
        ));
    }
    let endian = match header.get(126..128) {
        Some(b"IM") => Endian::Little,
        Some(b"MI") => Endian::Big,
        other => {
            return Err(Error::format(
                path,
                "header endian indicator (offset 126)",
                format!("{other:?} is neither `IM` nor `MI`"),
            ));
        }
    };
    let version_bytes = [
        header.get(124).copied().unwrap_or(0),
        header.get(125).copied().unwrap_or(0),
    ];
    let version = match endian {
        Endian::Little => u16::from_le_bytes(version_bytes),
        Endian::Big => u16::from_be_bytes(version_bytes),
    };
    if version != 0x0100 {
        let hint = if version == 0x0200 {
            " (a v7.3 file, which is HDF5: re-save it with `save -v7`)"
        } else {
            ""
        };
        return Err(Error::format(
            path,
            "header version (offset 124)",
            format!("{version:#06x}, expected 0x0100{hint}"),
        ));
    }
    let description = String::from_utf8_lossy(text)
        .trim_end_matches([' ', '\0'])
        .to_string();
    Ok((description, endian))
}
