//! The LASA handwriting dataset (Khansari-Zadeh & Billard 2011): 30 shapes drawn on a tablet,
//! 7 demonstrations each, every one ending at the target `(0, 0)`.
//!
//! Each shape is one MATLAB v5 file `NAME.mat` (read by [`crate::mat`]) holding a `demos`
//! cell array of structs with the fields `pos`, `t`, `vel`, `acc` (`2 x n`, here `n = 1000`)
//! and `dt`. [`load_lasa`] reads every `.mat` file of a folder; the shape's name is the file
//! name without `.mat`. Fetch the data with `cargo xtask fetch-data lasa`.
//!
//! Arrays are turned to time-major `[n, 2]` matrices (one row per sample), the layout of
//! [`crate::trajectory`]. Positions are in the dataset's units (millimetres on the tablet).
//!
//! ```no_run
//! let shapes = gen_data::lasa::load_lasa(gen_data::paths::dataset_dir("lasa")?)?;
//! assert_eq!(shapes.len(), 30);
//! let angle = &shapes[0];
//! assert_eq!((angle.name.as_str(), angle.demos.len()), ("Angle", 7));
//! assert_eq!(angle.demos[0].pos.dim(), (1000, 2));
//! # Ok::<(), gen_data::Error>(())
//! ```

use crate::mat::{MatArray, MatFile, StructArray};
use crate::{Error, Result};
use ndarray::{Array1, Array2};
use std::path::{Path, PathBuf};

/// The name of the dataset in `datasets/datasets.toml`.
pub const DATASET: &str = "lasa";

/// One demonstration.
#[derive(Debug, Clone, PartialEq)]
pub struct Demo {
    /// Positions `[n, 2]`.
    pub pos: Array2<f64>,
    /// Sample times `[n]`.
    pub t: Array1<f64>,
    /// Velocities `[n, 2]`.
    pub vel: Array2<f64>,
    /// Accelerations `[n, 2]`.
    pub acc: Array2<f64>,
    /// The sampling period.
    pub dt: f64,
}

/// A shape and its demonstrations.
#[derive(Debug, Clone, PartialEq)]
pub struct LasaShape {
    /// The file name without `.mat`, e.g. `Angle`.
    pub name: String,
    /// The demonstrations, in file order.
    pub demos: Vec<Demo>,
}

/// Reads every `*.mat` file of `dir` as a shape, sorted by name.
///
/// Errors ([`Error::MissingDataset`]) when `dir` does not exist or holds no `.mat` file, and
/// with the file and field named when a file does not have the LASA layout.
pub fn load_lasa(dir: impl AsRef<Path>) -> Result<Vec<LasaShape>> {
    let dir = dir.as_ref();
    let missing = || Error::MissingDataset {
        name: DATASET.into(),
        path: dir.to_path_buf(),
    };
    let entries = std::fs::read_dir(dir).map_err(|_| missing())?;
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.extension().is_some_and(|e| e == "mat") && path.is_file() {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(missing());
    }
    files.sort();
    files.iter().map(load_lasa_file).collect()
}

/// Reads one LASA file; the shape's name is the file name without its extension.
pub fn load_lasa_file(path: impl AsRef<Path>) -> Result<LasaShape> {
    let path = path.as_ref();
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| Error::format(path, "file name", "is not valid UTF-8"))?
        .to_string();
    shape_of(&MatFile::read(path)?, path, name)
}

/// The shape `name` held by the parsed LASA file `file` (read from `path`).
pub(crate) fn shape_of(file: &MatFile, path: &Path, name: String) -> Result<LasaShape> {
    let demos = file.cell("demos")?;
    if demos.cells.is_empty() {
        return Err(Error::format(path, "demos", "the cell array is empty"));
    }
    let demos = demos
        .cells
        .iter()
        .enumerate()
        .map(|(i, cell)| demo(path, i, cell))
        .collect::<Result<Vec<_>>>()?;
    Ok(LasaShape { name, demos })
}

/// Checks and converts demo `i` (0-based; named 1-based as in MATLAB).
fn demo(path: &Path, i: usize, cell: &MatArray) -> Result<Demo> {
    let at = |field: &str| format!("demos{{{}}}{field}", i + 1);
    let MatArray::Struct(s) = cell else {
        return Err(Error::format(
            path,
            at(""),
            format!("is a {}, expected a struct", cell.kind_name()),
        ));
    };
    if s.elements.len() != 1 {
        return Err(Error::format(
            path,
            at(""),
            format!("struct array of {} elements, expected 1", s.elements.len()),
        ));
    }
    let pos = matrix(path, s, &at(".pos"), "pos")?;
    let n = pos.ncols();
    if pos.nrows() != 2 || n < 2 {
        return Err(Error::format(
            path,
            at(".pos"),
            format!("is {:?}, expected 2 x n with n >= 2", pos.dim()),
        ));
    }
    let same_shape = |name: &str| -> Result<Array2<f64>> {
        let m = matrix(path, s, &at(&format!(".{name}")), name)?;
        if m.dim() != pos.dim() {
            return Err(Error::format(
                path,
                at(&format!(".{name}")),
                format!("is {:?}, pos is {:?}", m.dim(), pos.dim()),
            ));
        }
        Ok(m.reversed_axes().as_standard_layout().into_owned())
    };
    let vel = same_shape("vel")?;
    let acc = same_shape("acc")?;
    let t = matrix(path, s, &at(".t"), "t")?;
    if t.len() != n || !(t.nrows() == 1 || t.ncols() == 1) {
        return Err(Error::format(
            path,
            at(".t"),
            format!("is {:?}, expected a vector of {n}", t.dim()),
        ));
    }
    let dt_matrix = matrix(path, s, &at(".dt"), "dt")?;
    let dt = match dt_matrix.as_slice() {
        Some([v]) => *v,
        _ => {
            return Err(Error::format(
                path,
                at(".dt"),
                format!("is {:?}, expected a scalar", dt_matrix.dim()),
            ));
        }
    };
    Ok(Demo {
        pos: pos.reversed_axes().as_standard_layout().into_owned(),
        t: Array1::from_iter(t.iter().copied()),
        vel,
        acc,
        dt,
    })
}

/// Field `name` of the single-element struct `s` as a matrix.
fn matrix(path: &Path, s: &StructArray, at: &str, name: &str) -> Result<Array2<f64>> {
    match s.field(0, name) {
        None => Err(Error::format(
            path,
            at,
            format!("field missing (the struct has {:?})", s.fields),
        )),
        Some(MatArray::Numeric(a)) => a.to_array2().ok_or_else(|| {
            Error::format(
                path,
                at,
                format!("has {} dimensions, expected 2", a.dims.len()),
            )
        }),
        Some(other) => Err(Error::format(
            path,
            at,
            format!("is a {}, expected a numeric array", other.kind_name()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mat::tests::{Writer, lasa_like};

    const FIELDS: [&str; 5] = ["pos", "t", "vel", "acc", "dt"];

    /// A LASA file with `demos` of the given per-demo positions `[2 x n]` (row-major input);
    /// t = 0..n, vel = 2 pos, acc = 3 pos, dt = 0.5.
    fn lasa_file(w: Writer, demos: &[Vec<[f64; 2]>]) -> Vec<u8> {
        let cells: Vec<Vec<u8>> = demos
            .iter()
            .map(|points| {
                let n = points.len() as i32;
                let col_major = |k: f64| -> Vec<f64> {
                    points.iter().flat_map(|p| [p[0] * k, p[1] * k]).collect()
                };
                let t: Vec<f64> = (0..points.len()).map(|i| i as f64).collect();
                w.structs(
                    "",
                    &[1, 1],
                    &FIELDS,
                    &[vec![
                        w.doubles("", &[2, n], &col_major(1.0)),
                        w.doubles("", &[1, n], &t),
                        w.doubles("", &[2, n], &col_major(2.0)),
                        w.doubles("", &[2, n], &col_major(3.0)),
                        w.doubles("", &[1, 1], &[0.5]),
                    ]],
                )
            })
            .collect();
        let demos = w.cell("demos", &[1, cells.len() as i32], &cells);
        w.file(&[
            w.compressed(&w.doubles("dt", &[1, 1], &[0.5])),
            w.compressed(&demos),
        ])
    }

    #[test]
    fn loads_a_folder_of_shapes_time_major() {
        let dir = tempfile::tempdir().unwrap();
        let w = Writer { big: false };
        let a = vec![[3.0, 4.0], [1.0, 2.0], [0.0, 0.0]];
        let b = vec![[-1.0, 5.0], [0.0, 0.0]];
        std::fs::write(dir.path().join("Zed.mat"), lasa_file(w, &[a.clone(), b])).unwrap();
        std::fs::write(
            dir.path().join("Alpha.mat"),
            lasa_file(Writer { big: true }, &[a]),
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a shape").unwrap();
        let shapes = load_lasa(dir.path()).unwrap();
        let names: Vec<&str> = shapes.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Alpha", "Zed"]);
        let zed = &shapes[1];
        assert_eq!(zed.demos.len(), 2);
        let d = &zed.demos[0];
        assert_eq!(d.pos, ndarray::array![[3.0, 4.0], [1.0, 2.0], [0.0, 0.0]]);
        assert_eq!(d.vel, &d.pos * 2.0);
        assert_eq!(d.acc, &d.pos * 3.0);
        assert_eq!(d.t.to_vec(), [0.0, 1.0, 2.0]);
        assert_eq!(d.dt, 0.5);
        assert_eq!(zed.demos[1].pos.dim(), (2, 2));
        assert_eq!(shapes[0].demos[0], *d);
    }

    #[test]
    fn wrong_layouts_name_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_lasa(dir.path()).unwrap_err().to_string();
        assert!(err.contains("fetch-data lasa"), "{err}");
        let path = dir.path().join("Odd.mat");
        // The mat module's fixture: pos is 2 x 3 but vel is 2 x 2.
        std::fs::write(&path, lasa_like(Writer { big: false }, true)).unwrap();
        let err = load_lasa_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("Odd.mat") && err.contains("demos{1}.vel"),
            "{err}"
        );
        // One point only.
        std::fs::write(&path, lasa_file(Writer { big: false }, &[vec![[0.0, 0.0]]])).unwrap();
        let err = load_lasa_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("demos{1}.pos") && err.contains("n >= 2"),
            "{err}"
        );
        // No `demos` variable.
        let w = Writer { big: false };
        std::fs::write(&path, w.file(&[w.doubles("dt", &[1, 1], &[0.5])])).unwrap();
        let err = load_lasa_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("demos") && err.contains("variable missing"),
            "{err}"
        );
        // A missing field.
        let demo = w.structs(
            "",
            &[1, 1],
            &["pos"],
            &[vec![w.doubles("", &[2, 2], &[1.0, 2.0, 0.0, 0.0])]],
        );
        std::fs::write(&path, w.file(&[w.cell("demos", &[1, 1], &[demo])])).unwrap();
        let err = load_lasa_file(&path).unwrap_err().to_string();
        assert!(
            err.contains("demos{1}.vel") && err.contains("field missing"),
            "{err}"
        );
    }
}
