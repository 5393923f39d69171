//! # gen-fuzz
//!
//! Fuzz targets for every parser that reads files from outside (gen-data's formats, run
//! configs, checkpoint headers), driven by libFuzzer (`libfuzzer-sys`): coverage-guided
//! mutation that keeps a corpus of inputs reaching new code. It builds on stable Rust:
//! `cargo xtask fuzz` compiles this crate with the same sanitizer-coverage flags as cargo-fuzz
//! (no sanitizer, so no nightly), writes the seeds with `gen-fuzz-seeds`, and runs `gen-fuzz`
//! once per target with `GEN_FUZZ_TARGET` naming it.
//!
//! Each input runs under a global allocator capped at [`MAX_HEAP`] (an allocation past it
//! aborts, which libFuzzer records as a crash with the input), libFuzzer's 1 s per-input
//! timeout, and libFuzzer's abort on any panic; the one exception is a panic inside symphonia,
//! which gen-data catches and turns into an error by design (see `gen_data::drums::decode`):
//! those are counted and reported, not hidden.

use std::path::Path;

/// The environment variable that names the target `gen-fuzz` runs.
pub const TARGET_ENV: &str = "GEN_FUZZ_TARGET";
/// The most heap the fuzzed code may hold at once: 1 GiB.
pub const MAX_HEAP: usize = 1 << 30;

/// One fuzz target: a parser on raw bytes.
pub struct Target {
    /// The name `--target` takes.
    pub name: &'static str,
    /// What it parses.
    pub about: &'static str,
    /// Parses the input; returns whether it was accepted.
    pub run: fn(&[u8]) -> bool,
    /// The longest input libFuzzer builds (`-max_len`); longer seeds are cut.
    pub max_len: usize,
}

/// Every target, in the order `cargo xtask fuzz` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "npz",
        about: "Keras imdb.npz: zip of .npy files with pickled object arrays",
        run: gen_data::fuzzing::npz,
        max_len: 64 << 10,
    },
    Target {
        name: "npy",
        about: ".npy header and payload (integer labels, object arrays)",
        run: gen_data::fuzzing::npy,
        max_len: 16 << 10,
    },
    Target {
        name: "pickle",
        about: "the pickle of an object array: opcode scan, global allowlist, decode",
        run: gen_data::fuzzing::pickle,
        max_len: 16 << 10,
    },
    Target {
        name: "idx",
        about: "IDX images and labels, plain or gzip (MNIST, Fashion-MNIST)",
        run: gen_data::fuzzing::idx,
        max_len: 64 << 10,
    },
    Target {
        name: "imdb-csv",
        about: "IMDB reviews CSV (text, label)",
        run: gen_data::fuzzing::imdb_csv,
        max_len: 64 << 10,
    },
    Target {
        name: "mat",
        about: "MATLAB v5 .mat (LASA shapes), zlib-compressed elements included",
        run: gen_data::fuzzing::mat,
        max_len: 64 << 10,
    },
    Target {
        name: "musicxml",
        about: "MusicXML, plain or compressed (.mxl zip), to a score",
        run: gen_data::fuzzing::musicxml,
        max_len: 64 << 10,
    },
    Target {
        name: "audio",
        about: "drum samples: WAV, FLAC, AIFF through symphonia, resampled by rubato",
        run: gen_data::fuzzing::audio,
        max_len: 64 << 10,
    },
    Target {
        name: "drumkit-xml",
        about: "Hydrogen drumkit.xml",
        run: gen_data::fuzzing::drumkit_xml,
        max_len: 32 << 10,
    },
    Target {
        name: "toml-config",
        about: "TOML to a table and to gen-data's typed config (imdb LoadOptions)",
        run: toml_config,
        max_len: 16 << 10,
    },
    Target {
        name: "checkpoint",
        about: "checkpoint pair: JSON state and file record, verified against its safetensors file",
        run: gen_data::fuzzing::checkpoint,
        max_len: 16 << 10,
    },
    Target {
        name: "safetensors-header",
        about: "safetensors header and tensor views (the reader tch uses for checkpoints)",
        run: safetensors_header,
        max_len: 16 << 10,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// TOML text to a generic table, then to a typed, `deny_unknown_fields` config.
pub fn toml_config(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let table = toml::from_str::<toml::Table>(text).is_ok();
    toml::from_str::<gen_data::imdb::LoadOptions>(text).is_ok() || table
}

/// A safetensors file: the header, then every tensor view.
pub fn safetensors_header(bytes: &[u8]) -> bool {
    match safetensors::SafeTensors::deserialize(bytes) {
        Ok(tensors) => tensors
            .tensors()
            .iter()
            .all(|(_, view)| view.data().len() <= bytes.len()),
        Err(_) => false,
    }
}

/// The committed test fixtures of gen-data.
pub fn fixtures_dir() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/gen-data/tests/fixtures"
    ))
}

pub mod seeds;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_every_target_accepts_some_seed() {
        let dir = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let written = seeds::write_all(dir.path(), data.path()).unwrap();
        for t in TARGETS {
            assert_eq!(TARGETS.iter().filter(|u| u.name == t.name).count(), 1);
            let files = written.get(t.name).unwrap();
            assert!(!files.is_empty(), "{}", t.name);
            let accepted = files
                .iter()
                .filter(|f| (t.run)(&std::fs::read(f).unwrap()))
                .count();
            // Every target has at least one valid seed to mutate from (except where the
            // fixtures only hold hostile files: those must all be refused).
            assert!(accepted > 0, "{}: no seed accepted", t.name);
        }
    }
}
