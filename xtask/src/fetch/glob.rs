//! The globs of `sha256sums_of`: which files of a download a `copy` source takes besides the
//! ones it names (the 408 Bach chorales). The files are then listed and checked like every
//! other file of the folder, by its `SHA256SUMS` ([`super::sums`]).
//!
//! Globs are deliberately small: `folder/prefix*suffix`, one `*` in the last component only,
//! matching plain files directly in that folder.

use super::manifest::check_relative_path;
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

/// Copies every file that `glob` matches under `from` into `out`; a name already in `out` is an
/// error. Returns the copied names, sorted.
pub fn copy_matches(from: &Path, glob: &str, out: &Path) -> Result<Vec<String>> {
    let (folder, _) = split_glob(glob);
    let dir = folder.map_or_else(|| from.to_path_buf(), |f| from.join(f));
    let names = matching_files(from, glob)?;
    for name in &names {
        let dest = out.join(name);
        if dest.exists() || name == super::sums::SUMS_FILE {
            bail!("`{name}` would be written twice (matched by `{glob}` and named elsewhere)");
        }
        std::fs::copy(dir.join(name), &dest)
            .with_context(|| format!("could not copy {}", dir.join(name).display()))?;
    }
    Ok(names)
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
    fn copies_the_matches_only() {
        let dir = tempfile::tempdir().unwrap();
        let (tree, out) = (dir.path().join("tree"), dir.path().join("out"));
        std::fs::create_dir_all(tree.join("corpus/sub")).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(tree.join("corpus/b.mxl"), b"abc").unwrap();
        std::fs::write(tree.join("corpus/a.mxl"), b"").unwrap();
        std::fs::write(tree.join("corpus/c.krn"), b"not kept").unwrap();
        std::fs::write(tree.join("corpus/sub/d.mxl"), b"not a direct child").unwrap();
        let names = copy_matches(&tree, "corpus/*.mxl", &out).unwrap();
        assert_eq!(names, ["a.mxl", "b.mxl"]);
        assert_eq!(std::fs::read(out.join("b.mxl")).unwrap(), b"abc");
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 2);
        // Copying again would overwrite: refused.
        let err = copy_matches(&tree, "corpus/*.mxl", &out)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`a.mxl` would be written twice"), "{err}");
        let err = matching_files(&tree, "corpus/*.wav")
            .unwrap_err()
            .to_string();
        assert!(err.contains("matches `*.wav`"), "{err}");
    }
}
