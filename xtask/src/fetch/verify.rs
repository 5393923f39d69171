//! Checksums of canonical files, and whether a dataset folder holds a verified copy.

use super::manifest::{Dataset, FileSpec, Source};
use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::process::Command;

/// Lower-case hex SHA-256 of the file at `path`.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        File::open(path).with_context(|| format!("could not open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("could not read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hasher
        .finalize()
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        }))
}

/// Lower-case hex MD5 of the file at `path`, from coreutils' `md5sum` (only used for upstream
/// files that publish nothing but an MD5).
pub fn md5_file(path: &Path) -> Result<String> {
    let out = Command::new("md5sum")
        .arg(path)
        .output()
        .context("could not run `md5sum` (coreutils) to check an MD5")?;
    if !out.status.success() {
        bail!("`md5sum {}` failed ({})", path.display(), out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    match text.split_whitespace().next() {
        Some(sum) if sum.len() == 32 => Ok(sum.to_ascii_lowercase()),
        _ => bail!("`md5sum {}` printed no checksum", path.display()),
    }
}

/// Checks the file `dir/<spec.name>` against the checksum the manifest records for it.
pub fn check_file(dir: &Path, spec: &FileSpec) -> Result<()> {
    let path = dir.join(&spec.name);
    let meta =
        std::fs::metadata(&path).with_context(|| format!("{} is missing", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    let (algo, want, got) = match (&spec.sha256, &spec.md5) {
        (Some(want), _) => ("sha256", want, sha256_file(&path)?),
        (None, Some(want)) => ("md5", want, md5_file(&path)?),
        (None, None) => {
            let got = sha256_file(&path)?;
            bail!(
                "datasets.toml records no checksum for `{}`: its sha256 is {got} \
                 (add `sha256 = \"{got}\"` once you trust the source)",
                spec.name
            )
        }
    };
    if &got != want {
        bail!(
            "{}: {algo} is {got}, but datasets.toml expects {want}",
            path.display()
        );
    }
    Ok(())
}

/// Checks every file `source` yields in `dir`; the error lists each file that fails.
pub fn verify_files(dir: &Path, source: &Source) -> Result<()> {
    let failures: Vec<String> = source
        .files
        .iter()
        .filter_map(|spec| check_file(dir, spec).err().map(|e| format!("{e:#}")))
        .collect();
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(())
}

/// What a dataset folder holds.
#[derive(Debug)]
pub enum Status {
    /// No folder, or none of the sources' file sets is complete in it.
    Absent,
    /// Every file of source `index` (0-based) is present and matches its checksum.
    Verified(usize),
    /// Every file of source `index` is present, but some do not match (the reason).
    Corrupt(usize, String),
}

/// Whether `dir` holds a verified copy of `dataset`, from which source. Sources whose files are
/// not all present are skipped without hashing, so the check reads only one file set.
pub fn status(dir: &Path, dataset: &Dataset) -> Status {
    let mut corrupt = None;
    for (i, source) in dataset.sources.iter().enumerate() {
        if !source.files.iter().all(|f| dir.join(&f.name).is_file()) {
            continue;
        }
        match verify_files(dir, source) {
            Ok(()) => return Status::Verified(i),
            Err(err) => {
                corrupt.get_or_insert((i, format!("{err:#}")));
            }
        }
    }
    match corrupt {
        Some((i, why)) => Status::Corrupt(i, why),
        None => Status::Absent,
    }
}

#[cfg(test)]
mod tests {
    use super::super::manifest::Manifest;
    use super::*;

    #[test]
    fn sha256_of_known_text() {
        // printf 'abc' | sha256sum
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // printf 'abc' | md5sum
        assert_eq!(md5_file(&path).unwrap(), "900150983cd24fb0d6963f7d28e17f72");
    }

    fn toy() -> Manifest {
        Manifest::parse(
            r#"
[[dataset]]
name = "toy"
description = "x"
license = "unknown"
[[dataset.source]]
kind = "url"
urls = ["https://example.invalid/abc"]
files = [{ name = "abc", md5 = "900150983cd24fb0d6963f7d28e17f72" }]
[[dataset.source]]
kind = "apt"
packages = ["p"]
files = [
  { name = "abc", sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
  { name = "empty", sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
]
"#,
        )
        .unwrap()
    }

    #[test]
    fn status_finds_the_verified_source_and_detects_corruption() {
        let m = toy();
        let d = m.dataset("toy").unwrap();
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(status(dir.path(), d), Status::Absent));

        std::fs::write(dir.path().join("empty"), b"").unwrap();
        assert!(
            matches!(status(dir.path(), d), Status::Absent),
            "abc still missing"
        );

        std::fs::write(dir.path().join("abc"), b"abc").unwrap();
        assert!(matches!(status(dir.path(), d), Status::Verified(0)));

        // One changed byte: neither source verifies; the first complete one reports why.
        std::fs::write(dir.path().join("abc"), b"abd").unwrap();
        match status(dir.path(), d) {
            Status::Corrupt(0, why) => assert!(why.contains("md5 is"), "{why}"),
            other => panic!("{other:?}"),
        }
        let err = verify_files(dir.path(), &d.sources[1])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("abc: sha256 is") && !err.contains("empty"),
            "{err}"
        );
    }

    #[test]
    fn missing_checksum_reports_the_actual_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("abc"), b"abc").unwrap();
        let spec = FileSpec {
            name: "abc".into(),
            sha256: None,
            md5: None,
        };
        let err = check_file(dir.path(), &spec).unwrap_err().to_string();
        assert!(err.contains("ba7816bf8f01cfea"), "{err}");
        let missing = FileSpec {
            name: "nope".into(),
            ..spec
        };
        let err = check_file(dir.path(), &missing).unwrap_err().to_string();
        assert!(err.contains("nope is missing"), "{err}");
    }
}
