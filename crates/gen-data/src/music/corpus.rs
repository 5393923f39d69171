//! The Bach chorales dataset: every four-part `.mxl` of the folder as a [`Chorale`], duplicates
//! dropped, split by file name.

use super::chorale::{CHORALE_PARTS, Chorale};
use super::musicxml;
use super::split::{Split, split_digest, split_of};
use crate::{Error, Result, paths};
use std::collections::HashMap;
use std::path::Path;

/// The dataset's name in `datasets/datasets.toml` (`cargo xtask fetch-data bach-chorales`).
pub const BACH_CHORALES: &str = "bach-chorales";

/// Why a file is not among the chorales.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// It does not have exactly four parts (the number it has).
    Parts(usize),
    /// Its piano-roll equals that of an earlier file (by name order), named here.
    Duplicate(String),
}

/// A file that was read but not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Its file name.
    pub name: String,
    /// Why.
    pub reason: SkipReason,
}

/// The chorales, split, with what was left out.
#[derive(Debug, Clone)]
pub struct ChoraleSet {
    /// The training chorales, by file name.
    pub train: Vec<Chorale>,
    /// The validation chorales, by file name.
    pub valid: Vec<Chorale>,
    /// The test chorales, by file name.
    pub test: Vec<Chorale>,
    /// How many `.mxl` files were read.
    pub files: usize,
    /// The files not kept, by file name.
    pub skipped: Vec<Skipped>,
}

/// Counts over some chorales.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollStats {
    /// Chorales.
    pub chorales: usize,
    /// Frames, over all of them.
    pub frames: usize,
    /// The shortest chorale, in frames (0 when there are none).
    pub min_frames: usize,
    /// The longest chorale, in frames.
    pub max_frames: usize,
    /// Sounding keys per frame, averaged over all frames.
    pub notes_per_frame: f64,
}

impl RollStats {
    /// The counts over `chorales`.
    pub fn of<'a>(chorales: impl IntoIterator<Item = &'a Chorale>) -> Self {
        let mut stats = RollStats {
            chorales: 0,
            frames: 0,
            min_frames: usize::MAX,
            max_frames: 0,
            notes_per_frame: 0.0,
        };
        let mut sounding = 0usize;
        for c in chorales {
            let n = c.roll.frames();
            stats.chorales += 1;
            stats.frames += n;
            stats.min_frames = stats.min_frames.min(n);
            stats.max_frames = stats.max_frames.max(n);
            sounding += c.roll.sounding();
        }
        if stats.chorales == 0 {
            stats.min_frames = 0;
        }
        if stats.frames > 0 {
            stats.notes_per_frame = sounding as f64 / stats.frames as f64;
        }
        stats
    }
}

impl ChoraleSet {
    /// The chorales of `split`.
    pub fn split(&self, split: Split) -> &[Chorale] {
        match split {
            Split::Train => &self.train,
            Split::Valid => &self.valid,
            Split::Test => &self.test,
        }
    }

    /// Every kept chorale: train, then valid, then test.
    pub fn all(&self) -> impl Iterator<Item = &Chorale> {
        self.train.iter().chain(&self.valid).chain(&self.test)
    }

    /// The counts over every kept chorale.
    pub fn stats(&self) -> RollStats {
        RollStats::of(self.all())
    }

    /// The [`split_digest`] of the kept chorales' names.
    pub fn digest(&self) -> String {
        split_digest(
            Split::ALL
                .into_iter()
                .flat_map(|s| self.split(s).iter().map(move |c| (s, c.name.as_str()))),
        )
    }
}

/// Loads the `bach-chorales` folder of the data folder ([`paths::dataset_dir`]).
pub fn load_bach_chorales() -> Result<ChoraleSet> {
    load_chorales_from(&paths::dataset_dir(BACH_CHORALES)?)
}

/// Loads every `*.mxl` file in `dir`, in name order: a file of other than four parts is
/// skipped, and so is one whose piano-roll (after transposition to C) equals an earlier file's;
/// the others go to their [`split_of`] split. A file that cannot be read is an error naming it
/// (the fetched files are checksummed, so this means a reader bug or a damaged copy).
pub fn load_chorales_from(dir: &Path) -> Result<ChoraleSet> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".mxl"))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(Error::format(
            dir,
            "*.mxl",
            format!("no .mxl files; run `cargo xtask fetch-data {BACH_CHORALES}`"),
        ));
    }
    let mut set = ChoraleSet {
        train: Vec::new(),
        valid: Vec::new(),
        test: Vec::new(),
        files: names.len(),
        skipped: Vec::new(),
    };
    let mut seen: HashMap<Vec<u8>, String> = HashMap::new();
    for name in names {
        let path = dir.join(&name);
        let score = musicxml::read_score(&path)?;
        if score.parts.len() != CHORALE_PARTS {
            set.skipped.push(Skipped {
                name,
                reason: SkipReason::Parts(score.parts.len()),
            });
            continue;
        }
        let chorale = Chorale::from_score(&name, &score, &path)?;
        let mut key = chorale.roll.view().iter().copied().collect::<Vec<u8>>();
        key.extend(chorale.roll.frames().to_le_bytes());
        if let Some(first) = seen.get(&key) {
            set.skipped.push(Skipped {
                name,
                reason: SkipReason::Duplicate(first.clone()),
            });
            continue;
        }
        seen.insert(key, name.clone());
        match split_of(&name) {
            Split::Train => set.train.push(chorale),
            Split::Valid => set.valid.push(chorale),
            Split::Test => set.test.push(chorale),
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::music::baselines;
    use sha2::{Digest, Sha256};

    /// The first 16 hex digits of the sha256 of the lines "<frame> <midi>\n" of the sounding
    /// cells, by frame then pitch (as `music21_rolls.py` writes them).
    fn cells_digest(chorale: &Chorale) -> String {
        let mut text = String::new();
        for ((t, k), &v) in chorale.roll.view().indexed_iter() {
            if v == 1 {
                text.push_str(&format!("{t} {}\n", k + 21));
            }
        }
        Sha256::digest(text.as_bytes())
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Every four-part chorale reads exactly as music21 reads it: same frames, same cells.
    #[test]
    #[ignore = "needs `cargo xtask fetch-data bach-chorales`"]
    fn matches_music21() {
        let dir = paths::dataset_dir(BACH_CHORALES).unwrap();
        let want = include_str!("../../tests/fixtures/music/music21-rolls.tsv");
        let mut checked = 0;
        for line in want.lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            let path = dir.join(fields[0]);
            let score = musicxml::read_score(&path).unwrap();
            let chorale = Chorale::from_score(fields[0], &score, &path).unwrap();
            let got = [
                chorale.roll.frames().to_string(),
                chorale.roll.sounding().to_string(),
                cells_digest(&chorale),
            ];
            assert_eq!(got, fields[1..], "{}", fields[0]);
            checked += 1;
        }
        assert_eq!(checked, 364);
    }

    /// The counts, the split and the baselines of the fetched data.
    #[test]
    #[ignore = "needs `cargo xtask fetch-data bach-chorales`"]
    fn bach_chorales_counts_split_and_baselines_are_pinned() {
        let set = load_bach_chorales().unwrap();
        assert_eq!(set.files, 408);
        let parts = set
            .skipped
            .iter()
            .filter(|s| matches!(s.reason, SkipReason::Parts(_)))
            .count();
        let duplicates: Vec<(&str, &str)> = set
            .skipped
            .iter()
            .filter_map(|s| match &s.reason {
                SkipReason::Duplicate(of) => Some((s.name.as_str(), of.as_str())),
                SkipReason::Parts(_) => None,
            })
            .collect();
        assert_eq!(parts, 44);
        assert_eq!(
            duplicates,
            [
                ("bwv18.5-w.mxl", "bwv18.5-lz.mxl"),
                ("bwv398.mxl", "bwv197.7-a.mxl")
            ]
        );
        let stats = set.stats();
        assert_eq!(
            (
                stats.chorales,
                stats.frames,
                stats.min_frames,
                stats.max_frames
            ),
            (362, 19_701, 24, 193)
        );
        assert!((stats.notes_per_frame - 3.8727).abs() < 1e-4, "{stats:?}");
        let counts = Split::ALL.map(|s| set.split(s).len());
        let frames = Split::ALL.map(|s| RollStats::of(set.split(s)).frames);
        assert_eq!(counts, [220, 66, 76]);
        assert_eq!(frames, [12_259, 3_337, 4_105]);
        assert_eq!(
            set.digest(),
            "664a10e0e8e5a19da1c9c9f8afa06d7e2ca54ba11a7f6d139b9791fab34ecafd"
        );
        let rolls = |s: Split| set.split(s).iter().map(|c| &c.roll);
        let test = baselines(rolls(Split::Train), rolls(Split::Test))
            .unwrap()
            .unwrap();
        assert!((test.bernoulli - 10.6253).abs() < 1e-4, "{test:?}");
        assert!((test.markov - 10.1160).abs() < 1e-4, "{test:?}");
        let valid = baselines(rolls(Split::Train), rolls(Split::Valid))
            .unwrap()
            .unwrap();
        assert!((valid.bernoulli - 10.6980).abs() < 1e-4, "{valid:?}");
        assert!((valid.markov - 10.2350).abs() < 1e-4, "{valid:?}");
    }

    #[test]
    fn loads_a_folder_dedupes_and_splits() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/music");
        let dir = tempfile::tempdir().unwrap();
        // The four-part fixture under two names (a duplicate), the three-part one, and a file
        // that is not .mxl (ignored).
        let four = std::fs::read(fixtures.join("four_parts.musicxml")).unwrap();
        let three = std::fs::read(fixtures.join("three_parts.musicxml")).unwrap();
        let zip = |xml: &[u8]| {
            crate::music::mxl::tests::zip_of(&[
                (
                    "META-INF/container.xml",
                    crate::music::mxl::tests::container_for("s.xml").as_bytes(),
                ),
                ("s.xml", xml),
            ])
        };
        std::fs::write(dir.path().join("a.mxl"), zip(&four)).unwrap();
        std::fs::write(dir.path().join("b.mxl"), zip(&four)).unwrap();
        std::fs::write(dir.path().join("c.mxl"), zip(&three)).unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"ignored").unwrap();
        let set = load_chorales_from(dir.path()).unwrap();
        assert_eq!(set.files, 3);
        assert_eq!(
            set.skipped,
            [
                Skipped {
                    name: "b.mxl".into(),
                    reason: SkipReason::Duplicate("a.mxl".into())
                },
                Skipped {
                    name: "c.mxl".into(),
                    reason: SkipReason::Parts(3)
                },
            ]
        );
        // a.mxl's split is fixed by its name: bucket 4 (train).
        assert_eq!(split_of("a.mxl"), Split::Train);
        assert_eq!(set.train.len(), 1);
        assert_eq!(set.stats().frames, 8);

        let empty = tempfile::tempdir().unwrap();
        let err = load_chorales_from(empty.path()).unwrap_err().to_string();
        assert!(err.contains("fetch-data bach-chorales"), "{err}");
        // A damaged file is an error naming it.
        std::fs::write(dir.path().join("d.mxl"), b"PK\x03\x04 damaged").unwrap();
        let err = load_chorales_from(dir.path()).unwrap_err().to_string();
        assert!(err.contains("d.mxl"), "{err}");
    }
}
