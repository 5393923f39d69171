//! `SHA256SUMS`: one checksum file that stands for a whole folder tree. The one listing
//! mechanism of the fetch: [`write_sums`] writes it (the `copy` converter after copying a
//! `sha256sums_of` glob, the `hydrogen-drumkits` converter), [`check_sums`] verifies it.
//!
//! A dataset of hundreds of files (the 408 Bach chorales, the drum kits in subfolders) lists a
//! single canonical file in `datasets.toml`, `SHA256SUMS`, whose own sha256 is pinned there. The file holds one line per
//! other file of the dataset folder, in `sha256sum` format (`<64 hex>  <relative/path>`, sorted
//! by path bytes), so `sha256sum -c SHA256SUMS` checks a copy by hand too. Verifying the dataset
//! checks the pinned sum of `SHA256SUMS`, then every line of it, and that the folder holds no
//! file it does not list.

use super::verify::sha256_file;
use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

/// The name of the checksum file at the top of a dataset folder.
pub const SUMS_FILE: &str = "SHA256SUMS";

/// Every regular file under `dir`, as `/`-separated paths relative to `dir`, sorted by bytes,
/// without the top-level [`SUMS_FILE`]. Links, special files and names that are not UTF-8 or
/// hold a newline or backslash are an error (the sums file could not name them).
pub fn list_files(dir: &Path) -> Result<Vec<String>> {
    let mut files = Vec::new();
    walk(dir, "", &mut files)?;
    files.retain(|f| f != SUMS_FILE);
    files.sort();
    Ok(files)
}

fn walk(dir: &Path, prefix: &str, files: &mut Vec<String>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("could not list {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("could not list {}", dir.display()))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            bail!("{}: the name is not UTF-8", path.display());
        };
        check_component(&name).with_context(|| path.display().to_string())?;
        let rel = format!("{prefix}{name}");
        let kind = entry
            .file_type()
            .with_context(|| format!("could not stat {}", path.display()))?;
        if kind.is_dir() {
            walk(&path, &format!("{rel}/"), files)?;
        } else if kind.is_file() {
            files.push(rel);
        } else {
            bail!("{} is neither a file nor a folder", path.display());
        }
    }
    Ok(())
}

/// One path component that a sums line can name: not empty, not `.`/`..`, no `/`, `\`,
/// newline or other control character.
fn check_component(name: &str) -> Result<()> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\'])
        || name.chars().any(char::is_control)
    {
        bail!("`{name}` cannot be listed in {SUMS_FILE}");
    }
    Ok(())
}

/// Writes `dir/SHA256SUMS` for every file under `dir` (see [`list_files`]).
pub fn write_sums(dir: &Path) -> Result<()> {
    let mut text = String::new();
    for rel in list_files(dir)? {
        let sum = sha256_file(&dir.join(&rel))?;
        let _ = writeln!(text, "{sum}  {rel}");
    }
    let path = dir.join(SUMS_FILE);
    std::fs::write(&path, text).with_context(|| format!("could not write {}", path.display()))
}

/// The `(sha256, path)` lines of a sums file, checked: lower-case hex, relative paths of plain
/// components, sorted and unique.
pub fn parse_sums(text: &str) -> Result<Vec<(String, String)>> {
    let mut entries: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let Some((sum, rel)) = line.split_once("  ") else {
            bail!("line {line_no}: expected `<sha256>  <path>`");
        };
        if sum.len() != 64
            || !sum
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            bail!("line {line_no}: `{sum}` is not 64 lower-case hex digits");
        }
        for part in rel.split('/') {
            check_component(part).with_context(|| format!("line {line_no}: path `{rel}`"))?;
        }
        if let Some((_, last)) = entries.last() {
            if last.as_str() >= rel {
                bail!("line {line_no}: `{rel}` is out of order or listed twice");
            }
        }
        entries.push((sum.to_owned(), rel.to_owned()));
    }
    Ok(entries)
}

/// Checks the tree under `dir` against `dir/SHA256SUMS`: every listed file matches, and no
/// other file is there. The error names up to ten files that fail, and how many in all.
pub fn check_sums(dir: &Path) -> Result<()> {
    let sums_path = dir.join(SUMS_FILE);
    let text = std::fs::read_to_string(&sums_path)
        .with_context(|| format!("could not read {}", sums_path.display()))?;
    let entries = parse_sums(&text).with_context(|| sums_path.display().to_string())?;
    let listed: BTreeSet<&str> = entries.iter().map(|(_, p)| p.as_str()).collect();
    let present = list_files(dir)?;
    let mut failures: Vec<String> = present
        .iter()
        .filter(|p| !listed.contains(p.as_str()))
        .map(|p| format!("{p}: not listed in {SUMS_FILE}"))
        .collect();
    for (want, rel) in &entries {
        let path = dir.join(rel);
        if !path.is_file() {
            failures.push(format!("{rel}: missing"));
            continue;
        }
        let got = sha256_file(&path)?;
        if &got != want {
            failures.push(format!(
                "{rel}: sha256 is {got}, {SUMS_FILE} expects {want}"
            ));
        }
    }
    if !failures.is_empty() {
        let shown: Vec<&str> = failures.iter().take(10).map(String::as_str).collect();
        bail!(
            "{} of {} files under {} do not verify: {}{}",
            failures.len(),
            entries.len(),
            dir.display(),
            shown.join("; "),
            if failures.len() > shown.len() {
                "; ..."
            } else {
                ""
            }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("Kit B/sub")).unwrap();
        std::fs::write(dir.path().join("Kit B/sub/x.wav"), b"abc").unwrap();
        std::fs::write(dir.path().join("Kit B/drumkit.xml"), b"").unwrap();
        std::fs::write(dir.path().join("copyright"), b"abc").unwrap();
        dir
    }

    #[test]
    fn sums_file_lists_every_file_sorted_in_sha256sum_format() {
        let dir = tree();
        write_sums(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(SUMS_FILE)).unwrap();
        // printf 'abc' | sha256sum; printf '' | sha256sum
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            text,
            format!("{empty}  Kit B/drumkit.xml\n{abc}  Kit B/sub/x.wav\n{abc}  copyright\n")
        );
        check_sums(dir.path()).unwrap();
        // Writing again is byte-identical (the sums file does not list itself).
        write_sums(dir.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(SUMS_FILE)).unwrap(),
            text
        );
    }

    #[test]
    fn check_names_changed_missing_and_extra_files() {
        let dir = tree();
        write_sums(dir.path()).unwrap();
        std::fs::write(dir.path().join("Kit B/sub/x.wav"), b"abd").unwrap();
        std::fs::remove_file(dir.path().join("copyright")).unwrap();
        std::fs::write(dir.path().join("Kit B/extra.flac"), b"").unwrap();
        let err = format!("{:#}", check_sums(dir.path()).unwrap_err());
        assert!(err.contains("3 of 3 files"), "{err}");
        assert!(err.contains("Kit B/sub/x.wav: sha256 is"), "{err}");
        assert!(err.contains("copyright: missing"), "{err}");
        assert!(err.contains("Kit B/extra.flac: not listed"), "{err}");
    }

    #[test]
    fn parse_rejects_unsafe_or_unsorted_lines() {
        let sum = "0".repeat(64);
        for (text, want) in [
            (format!("{sum} a"), "expected"),
            (format!("{}  a", "A".repeat(64)), "hex"),
            (format!("{sum}  ../a"), "cannot be listed"),
            (format!("{sum}  /a"), "cannot be listed"),
            (format!("{sum}  a//b"), "cannot be listed"),
            (format!("{sum}  b\n{sum}  a"), "out of order"),
            (format!("{sum}  a\n{sum}  a"), "listed twice"),
        ] {
            let err = format!("{:#}", parse_sums(&text).unwrap_err());
            assert!(err.contains(want), "{text:?}: {err}");
        }
        let ok = parse_sums(&format!("{sum}  a b/c.wav\n{sum}  d")).unwrap();
        assert_eq!(ok[0].1, "a b/c.wav");
    }
}
