//! Provenance in PNG files, through the `png` crate: an XMP packet in an `iTXt` chunk with
//! IPTC's digital source type, and `tEXt` chunks (`iTXt` for text beyond Latin-1).

use super::{Format, Found, KEY_PREFIX, Provenance};
use crate::{Error, Result};
use std::io::Cursor;
use std::path::Path;

/// The `iTXt` keyword that XMP-aware readers (exiftool, PIL, Adobe's SDK) look for.
pub const XMP_KEYWORD: &str = "XML:com.adobe.xmp";

/// Keywords this module writes besides gen's own `gen:*`; an earlier label's are replaced.
const STANDARD_KEYWORDS: [&str; 4] = [XMP_KEYWORD, "Software", "Comment", "Creation Time"];

/// Escapes `&`, `<`, `>` and `"` for XML text and attributes.
fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The XMP packet: `Iptc4xmpExt:DigitalSourceType`, `xmp:CreatorTool`, `xmp:CreateDate` and
/// the comment as `dc:description`.
pub fn xmp_packet(p: &Provenance) -> String {
    format!(
        r#"<?xpacket begin="{bom}" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    Iptc4xmpExt:DigitalSourceType="{source}"
    xmp:CreatorTool="{tool}"
    xmp:CreateDate="{date}">
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{comment}</rdf:li></rdf:Alt></dc:description>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="r"?>"#,
        bom = '\u{feff}',
        source = xml_escape(&p.source_type),
        tool = xml_escape(&p.software),
        date = xml_escape(&p.created),
        comment = xml_escape(&p.comment()),
    )
}

/// The digital source type declared in an XMP packet, if any.
pub fn xmp_source_type(xmp: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xmp).ok()?;
    const NS: &str = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/";
    doc.descendants().find_map(|node| {
        node.attribute((NS, "DigitalSourceType"))
            .map(str::to_string)
            .or_else(|| {
                (node.tag_name().namespace() == Some(NS)
                    && node.tag_name().name() == "DigitalSourceType")
                    .then(|| node.text().map(str::to_string))
                    .flatten()
            })
    })
}

/// The text entries the label adds, `(keyword, text)`, in order.
pub fn entries(p: &Provenance) -> Vec<(String, String)> {
    let mut out = vec![
        (XMP_KEYWORD.to_string(), xmp_packet(p)),
        ("Software".to_string(), p.software.clone()),
        ("Comment".to_string(), p.comment()),
        ("Creation Time".to_string(), p.created.clone()),
    ];
    out.extend(
        p.to_pairs()
            .into_iter()
            .map(|(k, v)| (format!("{KEY_PREFIX}{k}"), v)),
    );
    out
}

fn ours(keyword: &str) -> bool {
    keyword.starts_with(KEY_PREFIX) || STANDARD_KEYWORDS.contains(&keyword)
}

/// A decoded PNG: its header, pixels as stored, and its text entries.
struct Decoded {
    info: png::Info<'static>,
    pixels: Vec<u8>,
    texts: Vec<(String, String)>,
}

fn decode(bytes: &[u8], path: &Path) -> Result<Decoded> {
    let bad = |e: png::DecodingError| Error::format(path, "PNG", e.to_string());
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder.read_info().map_err(bad)?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| Error::format(path, "PNG", "image too large"))?;
    let mut pixels = vec![0; size];
    let frame = reader.next_frame(&mut pixels).map_err(bad)?;
    pixels.truncate(frame.buffer_size());
    reader.finish().map_err(bad)?;
    let info = reader.info().clone();
    let mut texts = Vec::new();
    for t in &info.uncompressed_latin1_text {
        texts.push((t.keyword.clone(), t.text.clone()));
    }
    for t in &info.compressed_latin1_text {
        texts.push((t.keyword.clone(), t.get_text().map_err(bad)?));
    }
    for t in &info.utf8_text {
        texts.push((t.keyword.clone(), t.get_text().map_err(bad)?));
    }
    Ok(Decoded {
        info,
        pixels,
        texts,
    })
}

/// Encodes pixels (`color` L8, La8, Rgb8 or Rgba8 layout, row-major) as a PNG carrying
/// `provenance` when given.
pub fn encode(
    pixels: &[u8],
    width: u32,
    height: u32,
    color: png::ColorType,
    provenance: Option<&Provenance>,
    path: &Path,
) -> Result<Vec<u8>> {
    let texts = provenance.map(entries).unwrap_or_default();
    encode_with(
        pixels,
        width,
        height,
        color,
        png::BitDepth::Eight,
        None,
        &texts,
        path,
    )
}

#[allow(clippy::too_many_arguments)] // The PNG header's fields, each needed.
fn encode_with(
    pixels: &[u8],
    width: u32,
    height: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    palette: Option<(&[u8], Option<&[u8]>)>,
    texts: &[(String, String)],
    path: &Path,
) -> Result<Vec<u8>> {
    let bad = |e: png::EncodingError| Error::format(path, "PNG", e.to_string());
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(color);
        encoder.set_depth(depth);
        if let Some((plte, trns)) = palette {
            encoder.set_palette(plte.to_vec());
            if let Some(trns) = trns {
                encoder.set_trns(trns.to_vec());
            }
        }
        for (keyword, text) in texts {
            let latin1 = text.chars().all(|c| u32::from(c) < 256) && keyword != XMP_KEYWORD;
            if latin1 {
                encoder
                    .add_text_chunk(keyword.clone(), text.clone())
                    .map_err(bad)?;
            } else {
                encoder
                    .add_itxt_chunk(keyword.clone(), text.clone())
                    .map_err(bad)?;
            }
        }
        let mut writer = encoder.write_header().map_err(bad)?;
        writer.write_image_data(pixels).map_err(bad)?;
        writer.finish().map_err(bad)?;
    }
    Ok(out)
}

/// The PNG `bytes` re-encoded with `provenance` (pixels, bit depth and palette kept; other
/// tools' text chunks kept; an earlier gen label replaced).
pub fn label(bytes: &[u8], provenance: &Provenance, path: &Path) -> Result<Vec<u8>> {
    let d = decode(bytes, path)?;
    let mut texts: Vec<(String, String)> = d.texts.into_iter().filter(|(k, _)| !ours(k)).collect();
    texts.extend(entries(provenance));
    let palette = d
        .info
        .palette
        .as_deref()
        .map(|p| (p, d.info.trns.as_deref()));
    encode_with(
        &d.pixels,
        d.info.width,
        d.info.height,
        d.info.color_type,
        d.info.bit_depth,
        palette,
        &texts,
        path,
    )
}

/// The provenance found in a PNG file's text chunks.
pub fn read(bytes: &[u8], path: &Path) -> Result<Found> {
    let d = decode(bytes, path)?;
    let declared_source_type = d
        .texts
        .iter()
        .find(|(k, _)| k == XMP_KEYWORD)
        .and_then(|(_, xmp)| xmp_source_type(xmp));
    let gen_pairs: Vec<(&str, &str)> = d
        .texts
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(KEY_PREFIX).map(|k| (k, v.as_str())))
        .collect();
    let provenance = if gen_pairs.is_empty() {
        None
    } else {
        Some(Provenance::from_pairs(gen_pairs, path)?)
    };
    Ok(Found {
        format: Format::Png,
        source: path.to_path_buf(),
        provenance,
        declared_source_type,
        entries: d.texts,
    })
}

#[cfg(test)]
mod tests {
    use super::super::TRAINED_ALGORITHMIC_MEDIA;
    use super::super::tests::example;
    use super::*;

    fn grey(w: u32, h: u32) -> Vec<u8> {
        (0..w * h).map(|i| (i * 37 % 256) as u8).collect()
    }

    #[test]
    fn label_keeps_pixels_and_reads_back() {
        let path = Path::new("grid.png");
        let pixels = grey(5, 3);
        let plain = encode(&pixels, 5, 3, png::ColorType::Grayscale, None, path).unwrap();
        let found = read(&plain, path).unwrap();
        assert_eq!(found.provenance, None);
        assert_eq!(found.declared_source_type, None);

        let p = example();
        let labelled = label(&plain, &p, path).unwrap();
        let found = read(&labelled, path).unwrap();
        assert_eq!(found.provenance.as_ref(), Some(&p));
        assert_eq!(
            found.declared_source_type.as_deref(),
            Some(TRAINED_ALGORITHMIC_MEDIA)
        );
        // The pixels, read by the `image` crate (a second decoder), are unchanged.
        let img = image::load_from_memory(&labelled).unwrap().to_luma8();
        assert_eq!(img.dimensions(), (5, 3));
        assert_eq!(img.into_raw(), pixels);
        // Labelling again replaces the label instead of adding a second one.
        let mut q = p.clone();
        q.seed = 7;
        let twice = label(&labelled, &q, path).unwrap();
        let found = read(&twice, path).unwrap();
        assert_eq!(found.provenance.map(|p| p.seed), Some(7));
        let xmps = found
            .entries
            .iter()
            .filter(|(k, _)| k == XMP_KEYWORD)
            .count();
        assert_eq!(xmps, 1);
    }

    #[test]
    fn other_tools_text_survives_and_unicode_goes_to_itxt() {
        let path = Path::new("x.png");
        let pixels: Vec<u8> = (0..2 * 2 * 3).map(|i| i as u8 * 20).collect();
        let mut plain = Vec::new();
        {
            let mut e = png::Encoder::new(&mut plain, 2, 2);
            e.set_color(png::ColorType::Rgb);
            e.add_text_chunk("Author".into(), "someone".into()).unwrap();
            let mut w = e.write_header().unwrap();
            w.write_image_data(&pixels).unwrap();
        }
        let mut p = example();
        p.sampling
            .insert("prompt".into(), serde_json::json!("café 日本"));
        let labelled = label(&plain, &p, path).unwrap();
        let found = read(&labelled, path).unwrap();
        assert_eq!(found.provenance.as_ref(), Some(&p));
        assert!(
            found
                .entries
                .iter()
                .any(|(k, v)| k == "Author" && v == "someone")
        );
        let img = image::load_from_memory(&labelled).unwrap().to_rgb8();
        assert_eq!(img.into_raw(), pixels);
    }

    #[test]
    fn xmp_escapes_and_parses() {
        let mut p = example();
        p.software = "gen <\"&\">".into();
        let xmp = xmp_packet(&p);
        assert_eq!(
            xmp_source_type(&xmp).as_deref(),
            Some(TRAINED_ALGORITHMIC_MEDIA)
        );
        assert!(xmp.contains("gen &lt;&quot;&amp;&quot;&gt;"));
    }

    #[test]
    fn corrupt_png_names_the_file() {
        let err = read(b"\x89PNG\r\n\x1a\nbroken", Path::new("bad.png"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.png"), "{err}");
    }
}
