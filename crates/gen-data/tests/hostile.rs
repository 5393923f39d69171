//! Hostile files (made by `tests/fixtures/hostile/make_hostile.py`, numpy and Python's own
//! `pickle`): pickles naming `os.system`, `builtins.eval`, `subprocess.Popen`; zip bombs in
//! `.npz` and `.mxl` (a header declaring 10 GB, and 1000:1 with a header that lies); IDX
//! headers claiming 2^31 images or labels; MAT arrays claiming 2^40 elements and zlib bombs.
//! Each is refused with an error naming the file, the part and the limit, while a global
//! allocator with a hard limit refuses any allocation beyond [`BUDGET`] bytes: a reader that
//! allocated what a header claims would abort this test. Nothing in a pickle runs: the readers
//! are Rust, and the marker file the pickles would create stays absent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gen_data::imdb::{ImdbSource, LoadOptions, load_data};
use gen_data::mat::MatFile;
use gen_data::music::mxl::read_musicxml_text;
use gen_data::{Error, idx};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[global_allocator]
static ALLOC: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

/// The memory each hostile file may make its reader allocate, beyond what was live before.
const BUDGET: usize = 8 << 20;
/// What a hostile pickle would create, if anything ran it (see make_hostile.py).
const MARKER: &str = "/tmp/gen-hostile-pickle-ran";

/// The allocator's limit is global: tests of this file run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hostile")
        .join(name)
}

fn load_npz(path: &Path) -> gen_data::Result<()> {
    let source = ImdbSource::Npz {
        npz: path.to_path_buf(),
        word_index: None,
    };
    load_data(&source, &LoadOptions::default()).map(|_| ())
}

/// Runs `load` on `path` under the allocation budget; returns its error.
fn refused(path: &Path, load: fn(&Path) -> gen_data::Result<()>) -> Error {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    ALLOC.set_limit(ALLOC.allocated() + BUDGET).unwrap();
    let result = load(path);
    ALLOC.set_limit(usize::MAX).unwrap();
    match result {
        Ok(()) => panic!("{} was accepted", path.display()),
        Err(e) => e,
    }
}

/// `(file, loader, what the error must say)`.
type Case = (
    &'static str,
    fn(&Path) -> gen_data::Result<()>,
    &'static [&'static str],
);

const PICKLES: [Case; 5] = [
    (
        "pickle_os_system.npz",
        load_npz,
        &["x_train.npy", "global \"posix.system\""],
    ),
    (
        "pickle_os_system_protocol3.npz",
        load_npz,
        &["x_train.npy", "global \"os.system\""],
    ),
    (
        "pickle_posix_system_protocol3.npz",
        load_npz,
        &["global \"posix.system\""],
    ),
    (
        "pickle_builtins_eval.npz",
        load_npz,
        &["global \"builtins.eval\""],
    ),
    (
        "pickle_subprocess_popen.npz",
        load_npz,
        &["global \"subprocess.Popen\""],
    ),
];

fn mxl(path: &Path) -> gen_data::Result<()> {
    read_musicxml_text(path).map(|_| ())
}

const BOMBS: [Case; 4] = [
    (
        "bomb_declared_10gb.npz",
        load_npz,
        &["x_train.npy: declares 10000000000 bytes uncompressed, above the 536870912-byte limit"],
    ),
    (
        "bomb_lying_1000to1.npz",
        load_npz,
        &["x_train.npy: inflates past the 1000 bytes its header declares"],
    ),
    (
        "bomb_declared_10gb.mxl",
        mxl,
        &["score.xml: declares 10000000000 bytes uncompressed, above the 16777216-byte limit"],
    ),
    (
        "bomb_lying_1000to1.mxl",
        mxl,
        &["score.xml: inflates past the 1000 bytes its header declares"],
    ),
];

fn idx_images(path: &Path) -> gen_data::Result<()> {
    idx::read_idx_images(path).map(|_| ())
}

fn idx_labels(path: &Path) -> gen_data::Result<()> {
    idx::read_idx_labels(path).map(|_| ())
}

fn mat(path: &Path) -> gen_data::Result<()> {
    MatFile::read(path).map(|_| ())
}

const ALLOCATION_BOMBS: [Case; 8] = [
    (
        "idx_2e31_images",
        idx_images,
        &[
            "dims: sizes 2147483648x28x28 need 1683627180032 bytes, more than the limit of 1073741824",
        ],
    ),
    (
        "idx_2e31_images.gz",
        idx_images,
        &[
            "dims: sizes 2147483648x28x28 need 1683627180032 bytes, more than the limit of 1073741824",
        ],
    ),
    (
        "idx_2e31_labels",
        idx_labels,
        &["dims: sizes 2147483648 need 2147483648 bytes, more than the limit of 1073741824"],
    ),
    (
        "idx_822mb_claimed_100b_present.gz",
        idx_images,
        &[
            "payload: truncated: sizes 1048576x28x28 need 822083584 bytes of data, the file has only 100",
        ],
    ),
    (
        "mat_2e40_doubles.mat",
        mat,
        &["1 values for dimensions [1048576, 1048576] (1099511627776 elements)"],
    ),
    (
        "mat_2e40_cells.mat",
        mat,
        &["dimensions [1048576, 1048576] (1099511627776 elements) do not fit in the"],
    ),
    (
        "mat_zlib_tag_states_4gb.mat",
        mat,
        &["tag states 4294967288 bytes, more than the 536870912 bytes accepted"],
    ),
    (
        "mat_zlib_lying_1000to1.mat",
        mat,
        &["inflates past the 72 bytes its element's tag states"],
    ),
];

/// Checks each case; returns one line per file for the report.
fn check(cases: &[Case]) -> Vec<String> {
    cases
        .iter()
        .map(|(name, load, wants)| {
            let path = fixture(name);
            let err = refused(&path, *load).to_string();
            assert!(err.starts_with(&path.display().to_string()), "{err}");
            for want in *wants {
                assert!(err.contains(want), "{name}: {err}\nwants: {want}");
            }
            format!("refused {name}: {err}")
        })
        .collect()
}

#[test]
fn pickles_naming_dangerous_globals_are_refused_and_nothing_runs() {
    let _ = std::fs::remove_file(MARKER);
    let lines = check(&PICKLES);
    for line in &lines {
        assert!(line.contains("nothing was imported or run"), "{line}");
        println!("{line}");
    }
    assert!(!Path::new(MARKER).exists(), "{MARKER} was created");
}

#[test]
fn the_benign_twin_of_the_hostile_pickles_loads() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let source = ImdbSource::Npz {
        npz: fixture("benign_control.npz"),
        word_index: None,
    };
    let opts = LoadOptions {
        start_char: None,
        index_from: 0,
        num_words: Some(10_000),
        ..LoadOptions::default()
    };
    let data = load_data(&source, &opts).unwrap();
    let mut reviews = data.x_train.clone();
    reviews.sort();
    assert_eq!(reviews, [vec![1, 14, 22], vec![1, 194, 1153, 194]]);
}

#[test]
fn decompression_bombs_are_refused_before_they_fill_memory() {
    for line in check(&BOMBS) {
        println!("{line}");
    }
}

#[test]
fn allocation_bombs_are_refused_before_allocating() {
    for line in check(&ALLOCATION_BOMBS) {
        println!("{line}");
    }
}

#[test]
fn every_hostile_fixture_is_covered() {
    let mut covered: Vec<&str> = PICKLES
        .iter()
        .chain(&BOMBS)
        .chain(&ALLOCATION_BOMBS)
        .map(|c| c.0)
        .chain(["benign_control.npz", "make_hostile.py"])
        .collect();
    covered.sort_unstable();
    let mut present: Vec<String> = std::fs::read_dir(fixture(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    present.sort();
    assert_eq!(present, covered);
}
