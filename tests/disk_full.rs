//! A full disk: `gen train` into a small tmpfs that runs out of space at many different
//! moments. Each run stops with one message that names the file and says "No space left on
//! device", exits non-zero, and leaves a checkpoint that `gen resume` (once there is space
//! again) continues to the very weights of a run that never ran out.
//!
//! Mounting a tmpfs needs root (CI runs as root). `.ci/run` sets `GEN_REQUIRE_TMPFS=1`, so that
//! CI fails rather than skips when the mount is refused; elsewhere the test says that it skipped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code may panic.

mod common;

use common::{fails_with, fixture, run_gen, stderr, train};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted on a temporary folder, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .ok()?;
        status.success().then_some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Bytes still free.
    fn available(&self) -> u64 {
        fs4::available_space(self.path()).unwrap()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Bytes of the files under `dir`.
fn tree_size(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() {
            tree_size(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

/// Fills `fs` up to `leave` free bytes with one file, which it returns.
fn fill(fs: &Tmpfs, leave: u64) -> PathBuf {
    let filler = fs.path().join("filler");
    let size = fs.available().saturating_sub(leave);
    let file = std::fs::File::create(&filler).unwrap();
    // tmpfs allocates on write, so write the bytes (set_len would leave a hole).
    let mut w = std::io::BufWriter::new(file);
    std::io::Write::write_all(&mut w, &vec![0u8; size as usize]).unwrap();
    std::io::Write::flush(&mut w).unwrap();
    filler
}

#[test]
fn a_full_disk_stops_cleanly_and_the_run_resumes_to_the_same_weights() {
    let Some(fs) = Tmpfs::mount("16m") else {
        assert!(
            std::env::var_os("GEN_REQUIRE_TMPFS").is_none(),
            "GEN_REQUIRE_TMPFS is set but `mount -t tmpfs` failed (it needs root)"
        );
        eprintln!("skipped: `mount -t tmpfs` failed (not root?); CI sets GEN_REQUIRE_TMPFS=1");
        return;
    };
    let data = fixture();
    let work = tempfile::tempdir().unwrap();
    let epochs: [&str; 0] = []; // train()'s two epochs
    let reference = train(data.path(), work.path(), "reference", &epochs);
    assert!(reference.status.success(), "{}", stderr(&reference));
    let reference = work.path().join("reference");
    let want = std::fs::read(reference.join("checkpoints/last.safetensors")).unwrap();
    // Room for the whole run and its temporary files; each level leaves a fraction of it.
    let need = 2 * tree_size(&reference);
    let levels = 12;
    let (mut failed, mut resumed) = (0, 0);
    for level in 0..levels {
        let leave = need * level / levels;
        let run = fs.path().join(format!("run{level}"));
        let filler = fill(&fs, leave);
        let out = train(data.path(), fs.path(), run.to_str().unwrap(), &epochs);
        std::fs::remove_file(&filler).unwrap();
        let result = check_level(level, &out, &run, &data, &want);
        // Every level starts from the same free space.
        std::fs::remove_dir_all(&run).unwrap();
        match result {
            Level::Completed => {}
            Level::OutOfSpace { resumed: r } => {
                failed += 1;
                resumed += u64::from(r);
            }
        }
    }
    eprintln!("{failed} of {levels} runs ran out of space; {resumed} resumed to the same weights");
    assert!(failed >= levels / 2, "only {failed} runs ran out of space");
    assert!(
        resumed >= levels / 4,
        "only {resumed} runs that ran out of space resumed"
    );
}

/// What happened at one level of free space.
enum Level {
    /// The run had room enough.
    Completed,
    /// It ran out of space; `resumed`: `gen resume` continued it (else it had no checkpoint).
    OutOfSpace { resumed: bool },
}

/// Checks the run `out` at `level`: a clean failure that names the file, no temporary file
/// left, and a resume to the `want`ed weights when a checkpoint was written.
fn check_level(
    level: u64,
    out: &std::process::Output,
    run: &Path,
    data: &tempfile::TempDir,
    want: &[u8],
) -> Level {
    {
        if out.status.success() {
            return Level::Completed;
        }
        let err = stderr(out);
        fails_with(out, &["No space left on device", run.to_str().unwrap()]);
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error")).count(),
            1,
            "one message, at level {level}:\n{err}"
        );
        assert!(
            !std::fs::read_dir(run.join("checkpoints"))
                .map(|d| d
                    .flatten()
                    .any(|e| e.path().extension().is_some_and(|x| x == "tmp")))
                .unwrap_or(false),
            "a temporary file left behind at level {level}"
        );
        let had_checkpoint = run.join("checkpoints/last.json").exists();
        let again = run_gen(
            data.path(),
            run.parent().unwrap(),
            &["resume", run.to_str().unwrap(), "-q"],
        );
        if !again.status.success() {
            // Only a run that ran out of space before its first checkpoint may fail to resume,
            // and then with a clear message.
            assert!(!had_checkpoint, "level {level}: {}", stderr(&again));
            eprintln!(
                "level {level}: {} / resume: {}",
                err.trim(),
                stderr(&again).trim()
            );
            fails_with(&again, &[run.to_str().unwrap()]);
            return Level::OutOfSpace { resumed: false };
        }
        eprintln!("level {level}: {}", err.trim());
        assert_eq!(
            std::fs::read(run.join("checkpoints/last.safetensors")).unwrap(),
            want,
            "level {level}: the resumed run's weights differ from the uninterrupted run's"
        );
        Level::OutOfSpace { resumed: true }
    }
}
