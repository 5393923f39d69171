//! One zip entry read with bounded memory (the `.npz` and `.mxl` readers use it).
//!
//! An entry's declared uncompressed size is checked against the caller's limit before anything
//! is allocated, so a header declaring 10 GB is refused at once. Then at most the declared size
//! is inflated: an entry whose data inflates past what its header declares (a lying header, the
//! usual zip bomb) is cut off there and refused, so memory never exceeds the declared size,
//! itself within the limit.

use crate::{Error, Result};
use std::io::{Read, Seek};
use std::path::Path;

/// The bytes of entry `index` of `archive`, named `name` in errors, at most `limit` bytes
/// uncompressed; `origin` names the archive in errors.
pub(crate) fn read_entry<R: Read + Seek>(
    archive: &mut zip::ZipArchive<R>,
    index: usize,
    name: &str,
    limit: u64,
    origin: &Path,
) -> Result<Vec<u8>> {
    let fail = |reason: String| Error::format(origin, name, reason);
    let entry = archive
        .by_index(index)
        .map_err(|e| fail(format!("zip entry: {e}")))?;
    let declared = entry.size();
    if declared > limit {
        return Err(fail(format!(
            "declares {declared} bytes uncompressed, above the {limit}-byte limit; refused \
             before inflating"
        )));
    }
    let mut bytes = Vec::new();
    // `declared` is at most `limit`, so this reservation is bounded too.
    bytes
        .try_reserve_exact(usize::try_from(declared).unwrap_or(0))
        .map_err(|e| fail(e.to_string()))?;
    entry
        .take(declared + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("inflating: {e}")))?;
    let got = bytes.len() as u64;
    if got > declared {
        return Err(fail(format!(
            "inflates past the {declared} bytes its header declares (a zip bomb?); refused \
             after reading {got} bytes"
        )));
    }
    if got < declared {
        return Err(fail(format!(
            "inflates to {got} bytes, but its header declares {declared}"
        )));
    }
    Ok(bytes)
}

/// The index of entry `name` in `archive`, or an error naming it.
pub(crate) fn index_of<R: Read + Seek>(
    archive: &zip::ZipArchive<R>,
    name: &str,
    origin: &Path,
) -> Result<usize> {
    archive
        .index_for_name(name)
        .ok_or_else(|| Error::format(origin, name, "entry missing from the archive"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    /// A deflated zip of one entry `name` holding `data`.
    fn zip_of(name: &str, data: &[u8]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        w.start_file(name, o).unwrap();
        w.write_all(data).unwrap();
        w.finish().unwrap().into_inner()
    }

    /// Overwrites the declared uncompressed size of the only entry, in its local header
    /// (offset 22) and its central-directory record (offset 24).
    fn lie_about_size(zip: &mut [u8], size: u32) {
        let local = zip.windows(4).position(|w| w == b"PK\x03\x04").unwrap();
        zip[local + 22..local + 26].copy_from_slice(&size.to_le_bytes());
        let central = zip.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
        zip[central + 24..central + 28].copy_from_slice(&size.to_le_bytes());
    }

    fn read(zip: &[u8], limit: u64) -> Result<Vec<u8>> {
        let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
        read_entry(&mut archive, 0, "e", limit, Path::new("a.zip"))
    }

    #[test]
    fn honest_entries_read_whole() {
        let data = b"hello hello hello".repeat(10);
        assert_eq!(read(&zip_of("e", &data), 1000).unwrap(), data);
    }

    #[test]
    fn declared_size_over_the_limit_is_refused() {
        let err = read(&zip_of("e", &[0; 2000]), 1000)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a.zip: e: declares 2000 bytes uncompressed, above the 1000-byte limit"),
            "{err}"
        );
    }

    #[test]
    fn a_lying_header_stops_the_read_at_the_declared_size() {
        let mut zip = zip_of("e", &vec![0; 1 << 20]);
        assert!(zip.len() < 4096, "{}", zip.len());
        lie_about_size(&mut zip, 100);
        let err = read(&zip, 1 << 30).unwrap_err().to_string();
        assert!(
            err.contains("inflates past the 100 bytes its header declares")
                && err.contains("after reading 101 bytes"),
            "{err}"
        );
        let mut zip = zip_of("e", &[7; 100]);
        lie_about_size(&mut zip, 200);
        let err = read(&zip, 1 << 30).unwrap_err().to_string();
        assert!(err.contains("inflates to 100 bytes"), "{err}");
    }
}
