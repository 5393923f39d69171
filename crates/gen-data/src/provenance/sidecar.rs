//! Provenance beside a file: `<file>.provenance.json`, for formats with no metadata slot that
//! every reader skips (CSV, plain text).

use super::Provenance;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The suffix appended to a file's name for its sidecar.
pub const SUFFIX: &str = ".provenance.json";

/// The sidecar of `path`: `path` with [`SUFFIX`] appended (`samples.csv.provenance.json`).
pub fn path_of(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(SUFFIX);
    path.with_file_name(name)
}

/// Writes the sidecar of `path` and returns its path.
pub fn write(path: &Path, provenance: &Provenance) -> Result<PathBuf> {
    let side = path_of(path);
    std::fs::write(&side, provenance.to_json() + "\n").map_err(|e| Error::io(&side, e))?;
    Ok(side)
}

/// The record for `path`: from its sidecar, or from `path` itself when it is a sidecar.
/// `None` when neither exists.
pub fn read(path: &Path) -> Result<Option<(PathBuf, Provenance)>> {
    let is_sidecar = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(SUFFIX));
    let side = if is_sidecar {
        path.to_path_buf()
    } else {
        path_of(path)
    };
    if !side.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&side).map_err(|e| Error::io(&side, e))?;
    let p = Provenance::from_json(&text, &side)?;
    Ok(Some((side, p)))
}

#[cfg(test)]
mod tests {
    use super::super::tests::example;
    use super::super::{inspect, label_file};
    use super::*;

    #[test]
    fn csv_gets_a_sidecar_that_inspect_finds() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("traj.csv");
        std::fs::write(&csv, "shape,kind,index,step,x,y\nAngle,generated,0,0,1,2\n").unwrap();
        assert_eq!(inspect(&csv).unwrap().provenance, None);
        let p = example();
        let side = label_file(&csv, &p).unwrap();
        assert_eq!(side, dir.path().join("traj.csv.provenance.json"));
        // The CSV itself is untouched.
        assert!(std::fs::read_to_string(&csv).unwrap().starts_with("shape,"));
        let found = inspect(&csv).unwrap();
        assert_eq!(found.provenance.as_ref(), Some(&p));
        assert_eq!(found.source, side);
        assert_eq!(inspect(&side).unwrap().provenance, Some(p));
    }

    #[test]
    fn a_broken_sidecar_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let txt = dir.path().join("s.txt");
        std::fs::write(&txt, "text").unwrap();
        std::fs::write(path_of(&txt), "{\"software\": 1}").unwrap();
        let err = inspect(&txt).unwrap_err().to_string();
        assert!(err.contains("s.txt.provenance.json"), "{err}");
    }
}
