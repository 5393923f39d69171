//! A Hydrogen kit's `drumkit.xml`: the kit's name and licence, and its instruments with the
//! sample files each plays.
//!
//! Hydrogen has written two layouts, with or without the `http://www.hydrogen-music.org/drumkit`
//! namespace: `drumkit_info > instrumentList > instrument > (name, layer > filename)`, older kits
//! with a `filename` right under `instrument`, newer ones with `instrumentComponent > layer`.
//! Elements are matched by local name, and an instrument's files are every `filename` below it.

use super::DrumClass;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// The file name of a kit's description.
pub const DRUMKIT_XML: &str = "drumkit.xml";

/// One instrument (pad) of a kit.
#[derive(Debug, Clone, PartialEq)]
pub struct Instrument {
    /// Its name, trimmed (may be empty).
    pub name: String,
    /// The sample files its layers play, as written (relative to the kit folder).
    pub files: Vec<String>,
}

/// What a kit's `drumkit.xml` says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KitInfo {
    /// The kit's `name`, if given.
    pub name: Option<String>,
    /// The kit's `license`, if given.
    pub license: Option<String>,
    /// Its instruments, in file order.
    pub instruments: Vec<Instrument>,
}

impl KitInfo {
    /// Reads and parses the `drumkit.xml` at `path`.
    pub fn read(path: &Path) -> Result<KitInfo> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        KitInfo::parse(&text).map_err(|reason| Error::format(path, "drumkit.xml", reason))
    }

    /// Parses the text of a `drumkit.xml`; the error says what is wrong.
    pub fn parse(text: &str) -> std::result::Result<KitInfo, String> {
        let doc = roxmltree::Document::parse(text).map_err(|e| format!("not XML: {e}"))?;
        let root = doc.root_element();
        if root.tag_name().name() != "drumkit_info" {
            return Err(format!(
                "the root element is <{}>, expected <drumkit_info>",
                root.tag_name().name()
            ));
        }
        let child_text = |node: roxmltree::Node<'_, '_>, name: &str| {
            node.children()
                .find(|c| c.is_element() && c.tag_name().name() == name)
                .map(|c| c.text().unwrap_or_default().trim().to_owned())
        };
        let instruments = root
            .descendants()
            .filter(|n| n.is_element() && n.tag_name().name() == "instrument")
            .map(|inst| Instrument {
                name: child_text(inst, "name").unwrap_or_default(),
                files: inst
                    .descendants()
                    .filter(|n| n.is_element() && n.tag_name().name() == "filename")
                    .filter_map(|n| n.text().map(str::trim))
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned)
                    .collect(),
            })
            .collect();
        Ok(KitInfo {
            name: child_text(root, "name"),
            license: child_text(root, "license"),
            instruments,
        })
    }

    /// Each sample file the kit's instruments play, with the names of those instruments (in
    /// file order, each name once).
    pub fn instruments_by_file(&self) -> BTreeMap<&str, Vec<&str>> {
        let mut map: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for inst in &self.instruments {
            for file in &inst.files {
                let names = map.entry(file.as_str()).or_default();
                if !names.contains(&inst.name.as_str()) {
                    names.push(inst.name.as_str());
                }
            }
        }
        map
    }
}

/// The label of a sample file played by the instruments `names`: the one class their names map
/// to ([`DrumClass::from_instrument_name`]), `Ok(None)` when none maps to a class, or `Err` with
/// the classes when names map to different ones (the caller leaves such a file unlabelled and
/// says so).
pub fn label_of(names: &[&str]) -> std::result::Result<Option<DrumClass>, Vec<DrumClass>> {
    let mut classes: Vec<DrumClass> = names
        .iter()
        .filter_map(|n| DrumClass::from_instrument_name(n))
        .collect();
    classes.sort();
    classes.dedup();
    match classes.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(classes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMESPACED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<drumkit_info xmlns="http://www.hydrogen-music.org/drumkit">
  <name>Forzee Stereo Drumkit</name>
  <license>GPL &amp; more</license>
  <instrumentList>
    <instrument>
      <id>0</id>
      <name>Kick (Tama Superstar 22")</name>
      <instrumentComponent>
        <layer><filename>Kick-0.wav</filename></layer>
        <layer><filename>Kick-1.wav</filename></layer>
      </instrumentComponent>
    </instrument>
    <instrument><name>  Tom Hi </name><layer><filename>tom.flac</filename></layer></instrument>
    <instrument><name>Tom Mid</name><layer><filename>tom.flac</filename></layer></instrument>
    <instrument><name>Ride</name><layer><filename>tom.flac</filename></layer></instrument>
    <instrument><name>17</name></instrument>
  </instrumentList>
</drumkit_info>"#;

    const OLD: &str = "<drumkit_info><name>Old</name><instrumentList><instrument>\
        <name>Hand Clap</name><filename>clap.wav</filename></instrument></instrumentList>\
        </drumkit_info>";

    #[test]
    fn both_layouts_parse_to_instruments_and_files() {
        let kit = KitInfo::parse(NAMESPACED).unwrap();
        assert_eq!(kit.name.as_deref(), Some("Forzee Stereo Drumkit"));
        assert_eq!(kit.license.as_deref(), Some("GPL & more"));
        assert_eq!(kit.instruments.len(), 5);
        assert_eq!(kit.instruments[0].files, ["Kick-0.wav", "Kick-1.wav"]);
        assert_eq!(kit.instruments[1].name, "Tom Hi");
        assert!(kit.instruments[4].files.is_empty());
        let by_file = kit.instruments_by_file();
        assert_eq!(by_file["tom.flac"], ["Tom Hi", "Tom Mid", "Ride"]);

        let old = KitInfo::parse(OLD).unwrap();
        assert_eq!(old.instruments[0].files, ["clap.wav"]);
        assert_eq!(old.license, None);
    }

    #[test]
    fn labels_agree_conflict_or_are_absent() {
        assert_eq!(label_of(&["Tom Hi", "Tom Mid"]), Ok(Some(DrumClass::Tom)));
        assert_eq!(label_of(&["Tom Hi", "17"]), Ok(Some(DrumClass::Tom)));
        assert_eq!(label_of(&["Cowbell"]), Ok(None));
        assert_eq!(label_of(&[]), Ok(None));
        assert_eq!(
            label_of(&["Tom Hi", "Ride"]),
            Err(vec![DrumClass::Tom, DrumClass::Cymbal])
        );
    }

    #[test]
    fn bad_documents_are_errors_naming_the_problem() {
        let err = KitInfo::parse("<drumkit_info><name>x</drumkit_info>").unwrap_err();
        assert!(err.contains("not XML"), "{err}");
        let err = KitInfo::parse("<song/>").unwrap_err();
        assert!(err.contains("<song>"), "{err}");
        let dir = std::env::temp_dir().join("gen-data-kit-test-missing");
        let err = KitInfo::read(&dir.join(DRUMKIT_XML))
            .unwrap_err()
            .to_string();
        assert!(err.contains("drumkit.xml"), "{err}");
    }
}
