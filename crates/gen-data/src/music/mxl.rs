//! Compressed MusicXML (`.mxl`): a zip whose `META-INF/container.xml` names the root MusicXML
//! file. Also the text decoding that every MusicXML file goes through.
//!
//! Limits, checked before anything is allocated: a file (`.mxl` or plain MusicXML) of at most
//! [`MAX_FILE_BYTES`], and zip entries that declare at most [`MAX_ENTRY_BYTES`] uncompressed (a
//! zip bomb is refused from its header; an entry that inflates past what it declares is cut
//! off there and refused too).

use crate::{Error, Result};
use std::io::Cursor;
use std::path::Path;

/// The largest `.mxl` or MusicXML file read (64 MiB).
pub const MAX_FILE_BYTES: u64 = 64 << 20;
/// The largest uncompressed zip entry read (16 MiB; the largest chorale is under 0.3 MiB).
pub const MAX_ENTRY_BYTES: u64 = 16 << 20;

const CONTAINER: &str = "META-INF/container.xml";

/// Whether `bytes` start like a zip archive (`PK\x03\x04`).
pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

/// The root MusicXML document of the `.mxl` archive `bytes`, as text; `origin` names the file in
/// errors.
pub fn root_document(bytes: &[u8], origin: &Path) -> Result<String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| Error::format(origin, "zip", e.to_string()))?;
    let container = decode_text(&read_entry(&mut archive, CONTAINER, origin)?);
    let root =
        root_file_name(&container).map_err(|reason| Error::format(origin, CONTAINER, reason))?;
    Ok(decode_text(&read_entry(&mut archive, &root, origin)?))
}

/// The `full-path` of the first `<rootfile>` in a container document.
fn root_file_name(container: &str) -> std::result::Result<String, String> {
    let doc = parse_xml(container).map_err(|e| e.to_string())?;
    doc.descendants()
        .find(|n| n.has_tag_name("rootfile"))
        .and_then(|n| n.attribute("full-path"))
        .map(str::to_owned)
        .ok_or_else(|| "no <rootfile full-path=...>".to_owned())
}

fn read_entry(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
    origin: &Path,
) -> Result<Vec<u8>> {
    let index = crate::zipped::index_of(archive, name, origin)?;
    crate::zipped::read_entry(archive, index, name, MAX_ENTRY_BYTES, origin)
}

/// Text from a MusicXML file's bytes: UTF-16 when it starts with a UTF-16 byte-order mark, else
/// UTF-8 with any invalid bytes replaced by U+FFFD (some exporters write Latin-1 titles into
/// files that declare UTF-8; only element names and numbers matter here). A UTF-8 BOM and the
/// whitespace some exporters put before `<?xml` are dropped.
pub fn decode_text(bytes: &[u8]) -> String {
    let utf16 = |big: bool, body: &[u8]| {
        let units: Vec<u16> = body
            .chunks_exact(2)
            .map(|p| match p {
                [a, b] if big => u16::from_be_bytes([*a, *b]),
                [a, b] => u16::from_le_bytes([*a, *b]),
                _ => 0xFFFD,
            })
            .collect();
        String::from_utf16_lossy(&units)
    };
    let text = match bytes {
        [0xFE, 0xFF, body @ ..] => utf16(true, body),
        [0xFF, 0xFE, body @ ..] => utf16(false, body),
        [0xEF, 0xBB, 0xBF, body @ ..] => String::from_utf8_lossy(body).into_owned(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    text.trim_start().to_owned()
}

/// Parses XML with the DTD allowed (MusicXML files declare one; it is not fetched, and roxmltree
/// bounds entity expansion).
pub fn parse_xml(text: &str) -> std::result::Result<roxmltree::Document<'_>, roxmltree::Error> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    roxmltree::Document::parse_with_options(text, options)
}

/// The MusicXML text of the file `path`: unzipped when it is an `.mxl` archive (by content, not
/// name), else decoded as it is.
pub fn read_musicxml_text(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(Error::format(
            path,
            "file",
            format!(
                "{} bytes, above the {MAX_FILE_BYTES}-byte limit",
                meta.len()
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    musicxml_text(&bytes, path)
}

/// The MusicXML text of file content `bytes` (an `.mxl` archive or plain MusicXML).
pub fn musicxml_text(bytes: &[u8], origin: &Path) -> Result<String> {
    if is_zip(bytes) {
        root_document(bytes, origin)
    } else {
        Ok(decode_text(bytes))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// An `.mxl` archive holding `files` (name, content), deflated.
    pub(crate) fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in files {
            writer.start_file(*name, options).unwrap();
            writer.write_all(content).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    pub(crate) fn container_for(root: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<container><rootfiles>\
             <rootfile full-path=\"{root}\"/></rootfiles></container>"
        )
    }

    #[test]
    fn finds_the_root_file_through_the_container() {
        let bytes = zip_of(&[
            (CONTAINER, container_for("inner/score.xml").as_bytes()),
            ("inner/score.xml", b"  <score-partwise/>"),
            ("other.xml", b"<not-this/>"),
        ]);
        assert!(is_zip(&bytes));
        let text = musicxml_text(&bytes, Path::new("a.mxl")).unwrap();
        assert_eq!(text, "<score-partwise/>");
    }

    #[test]
    fn missing_container_or_root_names_the_entry() {
        let origin = Path::new("a.mxl");
        let no_container = zip_of(&[("score.xml", b"<score-partwise/>")]);
        let err = root_document(&no_container, origin)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a.mxl") && err.contains("META-INF/container.xml"),
            "{err}"
        );
        let no_root = zip_of(&[(CONTAINER, container_for("gone.xml").as_bytes())]);
        let err = root_document(&no_root, origin).unwrap_err().to_string();
        assert!(err.contains("gone.xml"), "{err}");
        let bad = zip_of(&[(CONTAINER, b"<container><rootfiles/></container>")]);
        let err = root_document(&bad, origin).unwrap_err().to_string();
        assert!(err.contains("no <rootfile"), "{err}");
    }

    #[test]
    fn corrupt_zip_is_a_format_error() {
        let mut bytes = zip_of(&[(CONTAINER, container_for("s.xml").as_bytes())]);
        bytes.truncate(bytes.len() / 2);
        let err = musicxml_text(&bytes, Path::new("cut.mxl")).unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{err}");
    }

    #[test]
    fn zip_bomb_is_refused_from_its_declared_size() {
        // 17 MiB of zeros deflate to about 17 KiB; the header declares the full size.
        let big = vec![0u8; (MAX_ENTRY_BYTES + (1 << 20)) as usize];
        let bytes = zip_of(&[
            (CONTAINER, container_for("s.xml").as_bytes()),
            ("s.xml", &big),
        ]);
        assert!(bytes.len() < 1 << 20);
        let err = musicxml_text(&bytes, Path::new("bomb.mxl"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("s.xml") && err.contains("above the 16777216-byte limit; refused"),
            "{err}"
        );
    }

    #[test]
    fn decodes_boms_and_leading_space() {
        assert_eq!(decode_text(b"\xEF\xBB\xBF <a/>"), "<a/>");
        let utf16le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("<a>é</a>".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode_text(&utf16le), "<a>é</a>");
        let utf16be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain("<b/>".encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert_eq!(decode_text(&utf16be), "<b/>");
        // Latin-1 in a UTF-8 file: replaced, not an error.
        assert_eq!(decode_text(b"<t>sch\xf6n</t>"), "<t>sch\u{fffd}n</t>");
    }
}
