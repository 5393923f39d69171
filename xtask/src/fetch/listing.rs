//! Checksum listings: one canonical file, in `sha256sum` format, that records the sha256 of every
//! file a glob matched in the download, and of the source's other files, so of every file of the
//! dataset folder but itself. The manifest pins the listing's own sha256, so a dataset of
//! hundreds of files (the 408 Bach chorales) is pinned by one line, and each of its files is
//! still checked one by one (`sha256sum -c SHA256SUMS` in the dataset folder checks them too).
//!
//! Globs are deliberately small: `folder/prefix*suffix`, one `*` in the last component only,
//! matching plain files directly in that folder.

use super::manifest::check_relative_path;
use super::verify::sha256_file;
use anyhow::{Context, Result, bail};
use std::path::Path;

/// Checks that `glob` is `[folder/]prefix*suffix` with a plain relative folder.
pub fn check_glob(glob: &str) -> Result<()> {
    let (folder, name) = split_glob(glob);
    if let Some(folder) = folder {
        check_relative_path(folder)?;
        if folder.contains('*') {
            bail!("`{glob}`: only the last component may hold a `*`");
        }
    }
    if name.matches('*').count() != 1 || name.contains(['?', '[', ']']) {
        bail!("`{glob}`: the last component needs exactly one `*` and no other wildcard");
    }
    Ok(())
}

fn split_glob(glob: &str) -> (Option<&str>, &str) {
    match glob.rsplit_once('/') {
        Some((folder, name)) => (Some(folder), name),
        None => (None, glob),
    }
}

/// Whether the file name `name` matches the glob component `pattern` (one `*`).
pub fn matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        Some((prefix, suffix)) => {
            name.len() >= prefix.len() + suffix.len()
                && name.starts_with(prefix)
                && name.ends_with(suffix)
        }
        None => pattern == name,
    }
}

/// The plain files of `from/<glob's folder>` that the glob matches, sorted by name; an error when
/// none does.
pub fn matching_files(from: &Path, glob: &str) -> Result<Vec<String>> {
    let (folder, pattern) = split_glob(glob);
    let dir = folder.map_or_else(|| from.to_path_buf(), |f| from.join(f));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("the download has no folder {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| matches(pattern, n))
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("no file in {} matches `{pattern}`", dir.display());
    }
    Ok(names)
}

/// Copies every file that `glob` matches under `from` into `out`, and writes the listing
/// `out/<listing>` of those files and of `also` (files already in `out`), sorted by name.
/// Returns the copied names.
pub fn copy_and_list(
    from: &Path,
    glob: &str,
    out: &Path,
    listing: &str,
    also: &[String],
) -> Result<Vec<String>> {
    let (folder, _) = split_glob(glob);
    let dir = folder.map_or_else(|| from.to_path_buf(), |f| from.join(f));
    let names = matching_files(from, glob)?;
    for name in &names {
        let dest = out.join(name);
        if dest.exists() || name == listing {
            bail!("`{name}` would be written twice (the listing `{listing}` and another entry)");
        }
        std::fs::copy(dir.join(name), &dest)
            .with_context(|| format!("could not copy {}", dir.join(name).display()))?;
    }
    let mut listed: Vec<&String> = names.iter().chain(also).collect();
    listed.sort();
    let mut text = String::new();
    for name in listed {
        text.push_str(&format!("{}  {name}\n", sha256_file(&out.join(name))?));
    }
    std::fs::write(out.join(listing), text)
        .with_context(|| format!("could not write {}", out.join(listing).display()))?;
    Ok(names)
}

/// The `(sha256, name)` entries of the listing at `path`, checked: `sha256sum` text format, plain
/// names, sorted, no repeats.
pub fn read_listing(path: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read the listing {}", path.display()))?;
    let mut entries: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some((sum, name)) = line.split_once("  ") else {
            bail!("{} line {}: not `<sha256>  <name>`", path.display(), i + 1);
        };
        let plain = !name.is_empty()
            && !name.starts_with('.')
            && !name.contains(['/', '\\', '\0'])
            && name.chars().all(|c| !c.is_control());
        let hex = sum.len() == 64
            && sum
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !plain || !hex {
            bail!("{} line {}: bad entry {line:?}", path.display(), i + 1);
        }
        if entries
            .last()
            .is_some_and(|(_, last)| last.as_str() >= name)
        {
            bail!(
                "{} line {}: `{name}` is out of order or repeated",
                path.display(),
                i + 1
            );
        }
        entries.push((sum.to_owned(), name.to_owned()));
    }
    Ok(entries)
}

/// Checks every file that the listing `dir/<listing>` names against its recorded sha256; the
/// error names each file that is missing or differs.
pub fn check_listed(dir: &Path, listing: &str) -> Result<()> {
    let mut failures = Vec::new();
    for (want, name) in read_listing(&dir.join(listing))? {
        let path = dir.join(&name);
        match sha256_file(&path) {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(format!(
                "{}: sha256 is {got}, but {listing} lists {want}",
                path.display()
            )),
            Err(_) => failures.push(format!(
                "{} (listed in {listing}) is missing",
                path.display()
            )),
        }
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_have_one_star_in_the_last_component() {
        assert!(check_glob("music21/corpus/bach/*.mxl").is_ok());
        assert!(check_glob("*.txt").is_ok());
        for bad in [
            "a/*/b.mxl",
            "a/b.mxl",
            "a/**.mxl",
            "../x/*.mxl",
            "a/?.mxl",
            "/abs/*.mxl",
        ] {
            assert!(check_glob(bad).is_err(), "{bad}");
        }
        assert!(matches("*.mxl", "bwv1.6.mxl"));
        assert!(matches("bwv*.mxl", "bwv1.6.mxl"));
        assert!(!matches("*.mxl", "bwv67.4.xml"));
        // Prefix and suffix may not overlap.
        assert!(!matches("ab*ba", "aba"));
    }

    #[test]
    fn copies_lists_and_checks_the_matches() {
        let dir = tempfile::tempdir().unwrap();
        let (tree, out) = (dir.path().join("tree"), dir.path().join("out"));
        std::fs::create_dir_all(tree.join("corpus/sub")).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(tree.join("corpus/b.mxl"), b"abc").unwrap();
        std::fs::write(tree.join("corpus/a.mxl"), b"").unwrap();
        std::fs::write(tree.join("corpus/c.krn"), b"not kept").unwrap();
        std::fs::write(tree.join("corpus/sub/d.mxl"), b"not a direct child").unwrap();
        std::fs::write(out.join("LICENSE"), b"abc").unwrap();
        let names = copy_and_list(
            &tree,
            "corpus/*.mxl",
            &out,
            "SHA256SUMS",
            &["LICENSE".into()],
        )
        .unwrap();
        assert_eq!(names, ["a.mxl", "b.mxl"]);
        // printf '' | sha256sum; printf 'abc' | sha256sum
        assert_eq!(
            std::fs::read_to_string(out.join("SHA256SUMS")).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  LICENSE\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a.mxl\n\
             ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  b.mxl\n"
        );
        check_listed(&out, "SHA256SUMS").unwrap();

        std::fs::write(out.join("b.mxl"), b"abd").unwrap();
        std::fs::remove_file(out.join("a.mxl")).unwrap();
        let err = check_listed(&out, "SHA256SUMS").unwrap_err().to_string();
        assert!(
            err.contains("a.mxl (listed in SHA256SUMS) is missing")
                && err.contains("b.mxl: sha256 is"),
            "{err}"
        );
        let err = matching_files(&tree, "corpus/*.wav")
            .unwrap_err()
            .to_string();
        assert!(err.contains("matches `*.wav`"), "{err}");
    }

    #[test]
    fn bad_listings_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("SUMS");
        let sum = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        for (text, want) in [
            (format!("{sum} a\n"), "line 1: not"),
            (format!("{sum}  ../a\n"), "bad entry"),
            (format!("{}  a\n", &sum[1..]), "bad entry"),
            (
                format!("{sum}  b\n{sum}  a\n"),
                "line 2: `a` is out of order",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = read_listing(&path).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
    }
}
