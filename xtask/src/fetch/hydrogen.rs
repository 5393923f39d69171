//! The `hydrogen-drumkits` converter: Debian's `hydrogen-drumkits` package becomes the `drums`
//! dataset.
//!
//! Output layout (every file checked through `SHA256SUMS`, see [`super::sums`]):
//! - `<kit>/`: each kit folder of the package as it is (samples, `drumkit.xml`, any README),
//!   plus `<kit>/COPYRIGHT`: that kit's paragraph of Debian's machine-readable copyright record
//!   (who holds the copyright, the licence, where it was stated), followed by the licence's full
//!   text where the record has it;
//! - `copyright`: Debian's whole record, for all kits;
//! - `SHA256SUMS`.
//!
//! The package has no licence file per kit (upstream's `LICENSE` files were folded into Debian's
//! record), hence the per-kit excerpt. A kit that no paragraph covers is an error, so every kit
//! keeps its licence next to its samples.

use super::sums::{SUMS_FILE, write_sums};
use anyhow::{Context, Result, bail};
use std::path::Path;

/// The file each kit folder must hold.
pub const DRUMKIT_XML: &str = "drumkit.xml";
/// The per-kit licence excerpt the converter writes.
pub const KIT_COPYRIGHT: &str = "COPYRIGHT";

/// Moves each kit folder of `kits` (every subfolder, each with a `drumkit.xml`) into `out`,
/// writes each kit's `COPYRIGHT` from the Debian copyright record `copyright`, copies the
/// record to `out/copyright`, and writes `out/SHA256SUMS`.
pub fn convert(kits: &Path, copyright: &Path, out: &Path) -> Result<()> {
    let record = std::fs::read_to_string(copyright)
        .with_context(|| format!("could not read {}", copyright.display()))?;
    let paragraphs = parse_dep5(&record);
    let mut names: Vec<String> = std::fs::read_dir(kits)
        .with_context(|| format!("could not list {}", kits.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("{} holds no kit folders", kits.display());
    }
    for name in &names {
        if matches!(name.as_str(), "copyright" | SUMS_FILE) {
            bail!("a kit is called `{name}`, a name the dataset reserves");
        }
        let src = kits.join(name);
        if !src.join(DRUMKIT_XML).is_file() {
            bail!("kit {} has no {DRUMKIT_XML}", src.display());
        }
        if src.join(KIT_COPYRIGHT).exists() {
            bail!("kit {} already has a {KIT_COPYRIGHT}", src.display());
        }
        let text = kit_copyright(&paragraphs, name).with_context(|| {
            format!(
                "kit `{name}`: no licence in {} (a `Files:` paragraph naming \
                 `drumkits/{name}.h2drumkit`)",
                copyright.display()
            )
        })?;
        let dest = out.join(name);
        std::fs::rename(&src, &dest)
            .with_context(|| format!("could not move {} to {}", src.display(), dest.display()))?;
        std::fs::write(dest.join(KIT_COPYRIGHT), text)
            .with_context(|| format!("could not write {name}/{KIT_COPYRIGHT}"))?;
    }
    std::fs::copy(copyright, out.join("copyright"))
        .with_context(|| format!("could not copy {}", copyright.display()))?;
    write_sums(out)
}

/// One paragraph of a DEP-5 record: its text as written, and its fields (name, value with the
/// continuation lines joined by newlines).
#[derive(Debug)]
pub struct Paragraph {
    /// The paragraph as written.
    pub text: String,
    /// `(field name, value)` in order.
    pub fields: Vec<(String, String)>,
}

impl Paragraph {
    /// The value of field `name` (case-insensitive, as DEP-5 says), if present.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Splits a DEP-5 (Debian machine-readable copyright) record into paragraphs at blank lines.
pub fn parse_dep5(record: &str) -> Vec<Paragraph> {
    let mut paragraphs = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in record.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if !current.is_empty() {
                paragraphs.push(paragraph(&current));
                current.clear();
            }
        } else {
            current.push(line);
        }
    }
    paragraphs
}

fn paragraph(lines: &[&str]) -> Paragraph {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    Paragraph {
        text: lines.join("\n"),
        fields,
    }
}

/// Whether the `Files:` pattern `drumkits/<stem>.h2drumkit` covers the kit folder `kit`: the
/// stem matches it as a glob (`?` one character, `*` any run), or is its first words (Debian
/// names `circAfrique.h2drumkit` what unpacks as `circAfrique v4`).
pub fn covers(pattern: &str, kit: &str) -> bool {
    let Some(stem) = pattern
        .strip_prefix("drumkits/")
        .and_then(|p| p.strip_suffix(".h2drumkit"))
    else {
        return false;
    };
    glob(stem.as_bytes(), kit.as_bytes())
        || kit
            .strip_prefix(stem)
            .is_some_and(|rest| rest.starts_with(' '))
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, text.get(i..).unwrap_or(&[]))),
        Some((&p, rest)) => match text.split_first() {
            Some((&t, text_rest)) => (p == b'?' || p == t) && glob(rest, text_rest),
            None => false,
        },
    }
}

/// The `COPYRIGHT` text of `kit`: a header, each paragraph whose `Files:` covers it, and the
/// full text of each licence those paragraphs name where the record holds it in a stand-alone
/// `License:` paragraph.
pub fn kit_copyright(paragraphs: &[Paragraph], kit: &str) -> Result<String> {
    let own: Vec<&Paragraph> = paragraphs
        .iter()
        .filter(|p| {
            p.field("Files")
                .is_some_and(|f| f.split_whitespace().any(|pat| covers(pat, kit)))
        })
        .collect();
    if own.is_empty() {
        bail!("no paragraph covers it");
    }
    let mut text = format!(
        "Licence of the drum kit `{kit}`: its paragraph of Debian's copyright record of the\n\
         hydrogen-drumkits package (the whole record is ../copyright).\n"
    );
    let mut licences_done: Vec<&str> = Vec::new();
    for p in &own {
        text.push('\n');
        text.push_str(&p.text);
        text.push('\n');
    }
    for p in &own {
        let Some(licence) = p.field("License") else {
            continue;
        };
        let short = licence.lines().next().unwrap_or_default().trim();
        if short.is_empty() || licences_done.contains(&short) {
            continue;
        }
        licences_done.push(short);
        let full = paragraphs.iter().find(|q| {
            q.field("Files").is_none()
                && q.fields.first().is_some_and(|(n, v)| {
                    n.eq_ignore_ascii_case("License") && v.lines().next() == Some(short)
                })
        });
        if let Some(full) = full {
            text.push('\n');
            text.push_str(&full.text);
            text.push('\n');
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str =
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: hydrogen-drumkits

Files:
 drumkits/ElectricEmpireKit.h2drumkit
 drumkits/Gimme?A?Hand?1.0.h2drumkit
Copyright: Someone
License: GPL-2+

Files: drumkits/circAfrique.h2drumkit
Copyright: Jim Harney
License: CC0
Comment:
 License listed in drumkit.xml.

License: GPL-2+
License-Reference: /usr/share/common-licenses/GPL-2

License: CC0
 Statement of Purpose
 .
 The laws of most jurisdictions...
";

    #[test]
    fn patterns_cover_kits_by_glob_or_first_words() {
        assert!(covers(
            "drumkits/Gimme?A?Hand?1.0.h2drumkit",
            "Gimme A Hand 1.0"
        ));
        assert!(covers("drumkits/circAfrique.h2drumkit", "circAfrique v4"));
        assert!(covers("drumkits/HardElectro1.h2drumkit", "HardElectro1"));
        assert!(covers("drumkits/Millo*.h2drumkit", "Millo_MultiLayered2"));
        assert!(!covers(
            "drumkits/Millo_MultiLayered2.h2drumkit",
            "Millo_MultiLayered3"
        ));
        assert!(!covers("drumkits/circAfrique.h2drumkit", "circAfriqueX"));
        assert!(!covers("debian/*", "debian"));
    }

    #[test]
    fn kit_copyright_holds_its_paragraph_and_licence_text() {
        let paragraphs = parse_dep5(RECORD);
        assert_eq!(paragraphs.len(), 5);
        let text = kit_copyright(&paragraphs, "circAfrique v4").unwrap();
        assert!(
            text.contains("Copyright: Jim Harney\nLicense: CC0"),
            "{text}"
        );
        assert!(text.contains("Statement of Purpose"), "{text}");
        assert!(!text.contains("Someone"), "{text}");
        let text = kit_copyright(&paragraphs, "Gimme A Hand 1.0").unwrap();
        assert!(
            text.contains("Copyright: Someone") && text.contains("License-Reference"),
            "{text}"
        );
        let err = kit_copyright(&paragraphs, "Unknown Kit").unwrap_err();
        assert!(err.to_string().contains("no paragraph"), "{err}");
    }

    #[test]
    fn convert_moves_kits_and_writes_licences_and_sums() {
        let dir = tempfile::tempdir().unwrap();
        let (kits, out) = (dir.path().join("kits"), dir.path().join("out"));
        for kit in ["circAfrique v4", "HardElectro1"] {
            std::fs::create_dir_all(kits.join(kit)).unwrap();
            std::fs::write(kits.join(kit).join(DRUMKIT_XML), b"<drumkit_info/>").unwrap();
            std::fs::write(kits.join(kit).join("a.flac"), b"fLaC").unwrap();
        }
        std::fs::create_dir(&out).unwrap();
        let copyright = dir.path().join("copyright");
        let record = RECORD.replace("ElectricEmpireKit", "HardElectro1");
        std::fs::write(&copyright, &record).unwrap();
        convert(&kits, &copyright, &out).unwrap();
        assert!(out.join("HardElectro1/a.flac").is_file());
        let licence = std::fs::read_to_string(out.join("circAfrique v4/COPYRIGHT")).unwrap();
        assert!(licence.contains("Jim Harney"), "{licence}");
        assert_eq!(
            std::fs::read_to_string(out.join("copyright")).unwrap(),
            record
        );
        super::super::sums::check_sums(&out).unwrap();
        let sums = std::fs::read_to_string(out.join(SUMS_FILE)).unwrap();
        assert_eq!(sums.lines().count(), 7, "{sums}");

        // A kit without a licence paragraph is an error naming it.
        let (kits2, out2) = (dir.path().join("kits2"), dir.path().join("out2"));
        std::fs::create_dir_all(kits2.join("Nameless")).unwrap();
        std::fs::write(kits2.join("Nameless").join(DRUMKIT_XML), b"").unwrap();
        std::fs::create_dir(&out2).unwrap();
        let err = format!("{:#}", convert(&kits2, &copyright, &out2).unwrap_err());
        assert!(err.contains("kit `Nameless`: no licence"), "{err}");
    }
}
