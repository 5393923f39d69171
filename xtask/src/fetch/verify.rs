//! Checksums of canonical files, and whether a dataset folder holds a verified copy.

use super::manifest::{Dataset, FileSpec, Source};
use super::sums::{SUMS_FILE, check_sums, parse_sums};
use anyhow::{Context, Result, bail};
use md5::Md5;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Lower-case hex SHA-256 of the file at `path`.
pub fn sha256_file(path: &Path) -> Result<String> {
    hex_digest_file::<Sha256>(path)
}

/// Lower-case hex MD5 of the file at `path` (only used for upstream files that publish
/// nothing but an MD5).
pub fn md5_file(path: &Path) -> Result<String> {
    hex_digest_file::<Md5>(path)
}

/// Lower-case hex digest `D` of the file at `path`, read in 1 MiB chunks.
fn hex_digest_file<D: Digest>(path: &Path) -> Result<String> {
    let mut file =
        File::open(path).with_context(|| format!("could not open {}", path.display()))?;
    let mut hasher = D::new();
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
    Ok(hasher.finalize().iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    }))
}

/// Checks the file `dir/<spec.name>` against the checksum the manifest records for it (a
/// `SHA256SUMS` is then checked file by file by [`verify_files`]).
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

/// The paths that the `SHA256SUMS` among `source`'s files lists (read from `dir`); none when the
/// source lists no `SHA256SUMS`.
pub fn listed_names(dir: &Path, source: &Source) -> Result<Vec<String>> {
    if !source.files.iter().any(|f| f.name == SUMS_FILE) {
        return Ok(Vec::new());
    }
    let path = dir.join(SUMS_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("could not read {}", path.display()))?;
    let entries = parse_sums(&text).with_context(|| path.display().to_string())?;
    Ok(entries.into_iter().map(|(_, name)| name).collect())
}

/// Checks every file `source` yields in `dir`; the error lists each file that fails. A listed
/// `SHA256SUMS` extends the check to the whole tree it lists (see [`super::sums`]).
pub fn verify_files(dir: &Path, source: &Source) -> Result<()> {
    let failures: Vec<String> = source
        .files
        .iter()
        .filter_map(|spec| check_file(dir, spec).err().map(|e| format!("{e:#}")))
        .collect();
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    if source.files.iter().any(|f| f.name == SUMS_FILE) {
        check_sums(dir)?;
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

    #[test]
    fn digests_span_read_chunks() {
        // python3 -c "import hashlib; b = bytes(i % 251 for i in range((3 << 20) + 5));
        //             print(hashlib.md5(b).hexdigest(), hashlib.sha256(b).hexdigest())"
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        let bytes: Vec<u8> = (0..(3usize << 20) + 5).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(md5_file(&path).unwrap(), "028bfcc1395093c0df0dc731de96e1b5");
        assert_eq!(
            sha256_file(&path).unwrap(),
            "b01669d77761c4dfdfc8fb927821087bcf5c9ef1f917c4f1f8504e529f19edab"
        );
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
            path: None,
            sha256sums_of: None,
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

    #[test]
    fn listings_pin_every_listed_file() {
        // The tree of a download: two .mxl files in a folder, a licence elsewhere.
        let dir = tempfile::tempdir().unwrap();
        let (tree, out) = (dir.path().join("tree"), dir.path().join("out"));
        std::fs::create_dir_all(tree.join("pkg/corpus")).unwrap();
        std::fs::create_dir_all(tree.join("pkg.dist-info")).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(tree.join("pkg/corpus/a.mxl"), b"").unwrap();
        std::fs::write(tree.join("pkg/corpus/b.mxl"), b"abc").unwrap();
        std::fs::write(tree.join("pkg.dist-info/LICENSE"), b"abc").unwrap();
        // The listing is "ba78…15ad  LICENSE\ne3b0…b855  a.mxl\nba78…15ad  b.mxl\n" (the sums
        // of "abc" and ""); its own sha256 from `sha256sum`:
        let m = Manifest::parse(
            r#"
[[dataset]]
name = "toy"
description = "x"
license = "MIT"
[[dataset.source]]
kind = "pypi"
packages = ["pkg==1"]
files = [
  { name = "SHA256SUMS", sha256 = "d57f2fd2c38016cdbf2db639b081dfbbf18b7ec1c69999d916ef7ca326bbe035", sha256sums_of = "pkg/corpus/*.mxl" },
  { name = "LICENSE", path = "pkg.dist-info/LICENSE", sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
]
"#,
        )
        .unwrap();
        let source = &m.dataset("toy").unwrap().sources[0];
        super::super::convert::convert(source, &tree, &out).unwrap();
        assert_eq!(
            listed_names(&out, source).unwrap(),
            ["LICENSE", "a.mxl", "b.mxl"]
        );
        verify_files(&out, source).unwrap();
        assert!(matches!(
            status(&out, m.dataset("toy").unwrap()),
            Status::Verified(0)
        ));
        // A listed file changed: the listing still matches, the file does not.
        std::fs::write(out.join("b.mxl"), b"abd").unwrap();
        let err = verify_files(&out, source).unwrap_err().to_string();
        assert!(
            err.contains("b.mxl: sha256 is") && !err.contains("a.mxl"),
            "{err}"
        );
        // A file beside the listed ones: the folder may hold nothing else.
        std::fs::write(out.join("b.mxl"), b"abc").unwrap();
        std::fs::write(out.join("extra.mxl"), b"").unwrap();
        let err = format!("{:#}", verify_files(&out, source).unwrap_err());
        assert!(err.contains("extra.mxl: not listed"), "{err}");
        // A listing under another name is no longer a listing.
        let other = Manifest::parse(
            "[[dataset]]\nname = \"d\"\ndescription = \"x\"\nlicense = \"MIT\"\n[[dataset.source]]\nkind = \"pypi\"\n\
             packages = [\"p\"]\nfiles = [{ name = \"SUMS\", sha256 = \"d57f2fd2c38016cdbf2db639b081dfbbf18b7ec1c69999d916ef7ca326bbe035\", sha256sums_of = \"a/*.b\" }]",
        );
        let err = format!("{:#}", other.unwrap_err());
        assert!(err.contains("belongs to the file `SHA256SUMS`"), "{err}");
        // A wrong glob finds nothing.
        let bad = Manifest::parse(
            "[[dataset]]\nname = \"d\"\ndescription = \"x\"\nlicense = \"MIT\"\n[[dataset.source]]\nkind = \"pypi\"\n\
             packages = [\"p\"]\nfiles = [{ name = \"S\", sha256 = \"00\", sha256sums_of = \"a/*/b\" }]",
        );
        assert!(bad.is_err());
    }
}
