//! Loading a drums folder: labels from drumkit.xml, skipped files with reasons, warnings, the
//! cache (hit, rewrite, unwritable), and per-class counts. The folder is built from the
//! committed fixtures (tests/fixtures/drums).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test]

use gen_data::drums::{
    self, CLIP_LEN, CacheStatus, ClassCounts, DrumClass, SplitSpec, load_drums, load_drums_cached,
};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/drums")
        .join(name)
}

const KIT_A: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<drumkit_info xmlns="http://www.hydrogen-music.org/drumkit">
  <name>Kit A</name>
  <license>CC0</license>
  <instrumentList>
    <instrument><name>Kick</name><layer><filename>kick.wav</filename></layer></instrument>
    <instrument><name>Closed HH</name><layer><filename>hat.aiff</filename></layer></instrument>
    <instrument><name>Tom Hi</name><layer><filename>both.flac</filename></layer></instrument>
    <instrument><name>Ride</name><layer><filename>both.flac</filename></layer></instrument>
    <instrument><name>Cowbell</name><layer><filename>bell.wav</filename></layer></instrument>
    <instrument><name>Snare</name><layer><filename>gone.wav</filename></layer></instrument>
    <instrument><name>Hand Clap</name><layer><filename>broken.wav</filename></layer></instrument>
    <instrument><name>17</name><layer><filename>silent.wav</filename></layer></instrument>
  </instrumentList>
</drumkit_info>"#;

/// A dataset folder: kit `Kit A` with a kick, a hat, a file two classes claim, a cowbell, a
/// broken file, a silent file and a named-but-missing one; kit `Kit B` without drumkit.xml.
fn dataset() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("Kit A");
    let b = dir.path().join("Kit B");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(a.join("drumkit.xml"), KIT_A).unwrap();
    std::fs::copy(fixture("pcm16_mono_8k.wav"), a.join("kick.wav")).unwrap();
    std::fs::copy(fixture("pcm16_stereo_44k.aiff"), a.join("hat.aiff")).unwrap();
    std::fs::copy(fixture("pcm24_mono_44k.flac"), a.join("both.flac")).unwrap();
    std::fs::copy(fixture("pcm8_mono_22k.wav"), a.join("bell.wav")).unwrap();
    let mut broken = std::fs::read(fixture("pcm24_stereo_48k.wav")).unwrap();
    broken.truncate(20);
    std::fs::write(a.join("broken.wav"), broken).unwrap();
    // 16-bit mono 8 kHz WAV of 100 zero samples.
    let mut silent = std::fs::read(fixture("pcm16_mono_8k.wav")).unwrap();
    silent.truncate(44);
    silent.extend([0u8; 200]);
    silent[40..44].copy_from_slice(&200u32.to_le_bytes());
    silent[4..8].copy_from_slice(&236u32.to_le_bytes());
    std::fs::write(a.join("silent.wav"), silent).unwrap();
    std::fs::write(a.join("notes.txt"), b"not audio").unwrap();
    std::fs::copy(fixture("sine1k_16bit_44k.wav"), b.join("Sine.WAV")).unwrap();
    dir
}

fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        out.push(e.file_name().into_string().unwrap());
        if e.file_type().unwrap().is_dir() {
            for f in listing(&e.path()) {
                out.push(format!("{}/{f}", e.file_name().into_string().unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn labels_skips_and_warnings() {
    let data = dataset();
    let set = load_drums(data.path()).unwrap();
    let summary: Vec<(&str, Option<DrumClass>)> = set
        .clips
        .iter()
        .map(|c| (c.path.as_str(), c.class))
        .collect();
    assert_eq!(
        summary,
        [
            ("Kit A/bell.wav", None),
            ("Kit A/both.flac", None),
            ("Kit A/hat.aiff", Some(DrumClass::HiHat)),
            ("Kit A/kick.wav", Some(DrumClass::Kick)),
            ("Kit B/Sine.WAV", None),
        ]
    );
    assert!(set.clips.iter().all(|c| c.samples.len() == CLIP_LEN));
    let kick = &set.clips[3];
    assert_eq!(
        (kick.kit.as_str(), kick.source_rate, kick.source_channels),
        ("Kit A", 8000, 1)
    );
    assert_eq!(kick.instruments, ["Kick"]);
    assert_eq!(set.clips[1].instruments, ["Tom Hi", "Ride"]);
    // 300 frames at 8 kHz are 600 samples at 16 kHz, then zero padding.
    assert!(kick.peak() > 0.5, "{}", kick.peak());
    assert!(kick.samples[600..].iter().all(|&s| s == 0.0));

    assert_eq!(set.report.loaded, 5);
    let skipped: Vec<&str> = set.report.skipped.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(skipped, ["Kit A/broken.wav", "Kit A/silent.wav"]);
    assert!(
        set.report.skipped[1].reason.contains("silent"),
        "{:?}",
        set.report.skipped
    );
    let warnings = set.report.warnings.join("\n");
    assert!(
        warnings
            .contains("Kit A/both.flac: its instruments (Tom Hi, Ride) disagree (tom vs cymbal)"),
        "{warnings}"
    );
    assert!(
        warnings.contains("names gone.wav, which is not in the kit"),
        "{warnings}"
    );
    assert!(warnings.contains("Kit B: no drumkit.xml"), "{warnings}");
    assert_eq!(set.report.cache, CacheStatus::NotUsed);

    let counts = ClassCounts::of(&set.clips);
    assert_eq!(
        (counts.get(DrumClass::Kick), counts.get(DrumClass::HiHat)),
        (1, 1)
    );
    assert_eq!((counts.labelled(), counts.unlabelled), (2, 3));
    let split = drums::split_clips(&set.clips, &SplitSpec::default()).unwrap();
    assert_eq!(split.train.len() + split.valid.len() + split.test.len(), 5);
}

#[test]
fn malformed_drumkit_xml_is_an_error_naming_it() {
    let data = dataset();
    std::fs::write(data.path().join("Kit A/drumkit.xml"), "<drumkit_info>").unwrap();
    let err = load_drums(data.path()).unwrap_err().to_string();
    assert!(
        err.contains("Kit A/drumkit.xml") && err.contains("not XML"),
        "{err}"
    );
}

#[test]
fn cache_is_written_then_read_and_never_touches_the_data() {
    let data = dataset();
    let cache = tempfile::tempdir().unwrap();
    let before = listing(data.path());
    let plain = load_drums(data.path()).unwrap();

    let first = load_drums_cached(data.path(), cache.path()).unwrap();
    let CacheStatus::Written(file) = &first.report.cache else {
        panic!("{:?}", first.report.cache)
    };
    assert!(file.starts_with(cache.path()));
    let second = load_drums_cached(data.path(), cache.path()).unwrap();
    assert_eq!(second.report.cache, CacheStatus::Hit(file.clone()));
    assert_eq!(second.clips, plain.clips);
    assert_eq!(second.report.skipped, plain.report.skipped);
    assert_eq!(second.report.warnings, plain.report.warnings);
    assert_eq!(listing(data.path()), before);

    // A damaged cache is ignored and rewritten.
    let bytes = std::fs::read(file).unwrap();
    std::fs::write(file, &bytes[..bytes.len() - 1]).unwrap();
    let third = load_drums_cached(data.path(), cache.path()).unwrap();
    assert_eq!(third.report.cache, CacheStatus::Written(file.clone()));
    assert_eq!(third.clips, plain.clips);

    // Other data (a changed file) gets another cache file.
    std::fs::copy(
        fixture("pcm24_stereo_48k.wav"),
        data.path().join("Kit A/kick.wav"),
    )
    .unwrap();
    let changed = load_drums_cached(data.path(), cache.path()).unwrap();
    let CacheStatus::Written(other) = &changed.report.cache else {
        panic!("{:?}", changed.report.cache)
    };
    assert_ne!(other, file);
    assert_eq!(changed.clips[3].source_rate, 48000);
}

#[test]
fn unwritable_cache_still_loads_and_names_the_variable() {
    let data = dataset();
    let blocker = tempfile::NamedTempFile::new().unwrap();
    // A folder below a regular file cannot be created, even by root.
    let cache = blocker.path().join("cache");
    let set = load_drums_cached(data.path(), &cache).unwrap();
    assert_eq!(set.report.loaded, 5);
    let CacheStatus::Unwritable(why) = &set.report.cache else {
        panic!("{:?}", set.report.cache)
    };
    assert!(why.contains("GEN_CACHE_DIR"), "{why}");
}

#[test]
fn missing_dataset_names_the_fetch_command() {
    let root = tempfile::tempdir().unwrap();
    let err = gen_data::paths::dataset_dir_in(root.path(), drums::DATASET)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cargo xtask fetch-data drums"), "{err}");
}

/// The whole tree under `dir`, hidden entries included, with each file's size and
/// modification time: any write shows.
fn snapshot(dir: &Path) -> Vec<String> {
    listing(dir)
        .into_iter()
        .map(|rel| {
            let meta = std::fs::metadata(dir.join(&rel)).unwrap();
            format!("{rel} {} {:?}", meta.len(), meta.modified().unwrap())
        })
        .collect()
}

/// `drums::load_default()` with the data folder made read-only (mode 0555; tests run as root,
/// which the mode does not stop, so the test checks the tree is unchanged instead) and no
/// `GEN_CACHE_DIR`: the cache goes to `$XDG_CACHE_HOME/gen`, and nothing under the data folder
/// changes. The loading runs in a child process (this test binary, re-run with a marker
/// variable), since changing the environment of the test process itself is unsafe.
#[test]
fn default_cache_goes_to_the_user_cache_and_the_data_folder_is_untouched() {
    const CHILD: &str = "GEN_DATA_TEST_READ_ONLY_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let set = drums::load_default().unwrap();
        assert_eq!(set.report.loaded, 5);
        let CacheStatus::Written(file) = &set.report.cache else {
            panic!("{:?}", set.report.cache)
        };
        println!("cache file: {}", file.display());
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let data = dataset();
    let folder = root.path().join(drums::DATASET);
    std::fs::rename(data.path(), &folder).unwrap();
    std::fs::write(root.path().join("datasets.toml"), "").unwrap();
    let mut dirs = vec![root.path().to_path_buf()];
    dirs.extend(
        listing(root.path())
            .iter()
            .map(|rel| root.path().join(rel))
            .filter(|p| p.is_dir()),
    );
    for dir in &dirs {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    let before = snapshot(root.path());
    let (cache, home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "default_cache_goes_to_the_user_cache_and_the_data_folder_is_untouched",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("GEN_DATA_DIR", root.path())
        .env_remove(drums::CACHE_DIR_ENV)
        .env("XDG_CACHE_HOME", cache.path())
        .env("HOME", home.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!(
            "cache file: {}",
            cache.path().join("gen").display()
        )),
        "{text}"
    );
    assert_eq!(snapshot(root.path()), before, "the data folder changed");
    assert_eq!(listing(&cache.path().join("gen")).len(), 1);
    assert!(listing(home.path()).is_empty());
    for dir in &dirs {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}
