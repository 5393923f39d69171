//! The MAT-file reader against files that scipy wrote, an independent writer.
//!
//! `tests/fixtures/mat/make_fixture.py` (numpy 2.4.6, scipy 1.17.1) saved the same variables
//! with `scipy.io.savemat`, plain and compressed, and wrote `expected.json`: what numpy held,
//! with every value as the hex bits of its `f64`. The reader must give back every array, kind,
//! class, dimension and value bit for bit, and reject with a located error what it does not
//! read.

use gen_data::mat::{MatArray, MatFile, NumericClass};
use serde_json::{Value, json};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mat")
        .join(name)
}

/// A parsed array in `expected.json`'s form.
fn describe(array: &MatArray) -> Value {
    match array {
        MatArray::Numeric(a) => json!({
            "kind": "numeric",
            "class": match a.class {
                NumericClass::Double => "double",
                NumericClass::Single => "single",
            },
            "dims": a.dims,
            "bits": a.data.iter().map(|v| format!("{:#018x}", v.to_bits())).collect::<Vec<_>>(),
        }),
        MatArray::Cell(c) => json!({
            "kind": "cell",
            "dims": c.dims,
            "cells": c.cells.iter().map(describe).collect::<Vec<_>>(),
        }),
        MatArray::Struct(s) => json!({
            "kind": "struct",
            "dims": s.dims,
            "fields": s.fields,
            "elements": s
                .elements
                .iter()
                .map(|e| e.iter().map(describe).collect::<Vec<_>>())
                .collect::<Vec<_>>(),
        }),
    }
}

/// The first place where `got` and `want` differ, as a path such as `demos.cells[2].bits[5]`.
fn difference(got: &Value, want: &Value, path: &str) -> Option<String> {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            let keys = |m: &serde_json::Map<String, Value>| m.keys().cloned().collect::<Vec<_>>();
            if keys(g) != keys(w) {
                return Some(format!(
                    "{path}: keys {:?}, expected {:?}",
                    keys(g),
                    keys(w)
                ));
            }
            w.iter()
                .find_map(|(k, wv)| difference(&g[k], wv, &format!("{path}.{k}")))
        }
        (Value::Array(g), Value::Array(w)) => {
            if g.len() != w.len() {
                return Some(format!("{path}: {} items, expected {}", g.len(), w.len()));
            }
            g.iter()
                .zip(w)
                .enumerate()
                .find_map(|(i, (gv, wv))| difference(gv, wv, &format!("{path}[{i}]")))
        }
        _ if got == want => None,
        _ => Some(format!("{path}: {got}, expected {want}")),
    }
}

#[test]
fn reads_every_value_that_scipy_wrote() {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).unwrap()).unwrap();
    let names: Vec<&str> = expected["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        names.len(),
        8,
        "expected.json lists the fixture's variables"
    );
    for file_name in ["plain.mat", "compressed.mat"] {
        let file = MatFile::read(fixture(file_name)).unwrap();
        assert!(
            file.description.starts_with("MATLAB 5.0 MAT-file"),
            "{file_name}: {}",
            file.description
        );
        assert!(!file.big_endian, "{file_name}");
        let got: Vec<&str> = file.variables.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(got, names, "{file_name}: variables in file order");
        for v in &file.variables {
            if let Some(diff) = difference(
                &describe(&v.value),
                &expected["arrays"][&v.name],
                &format!("{file_name}: {}", v.name),
            ) {
                panic!("{diff}");
            }
        }
        // The accessors LASA's loader uses.
        assert_eq!(file.numeric("dt").unwrap().scalar(), Some(0.5));
        assert_eq!(file.cell("demos").unwrap().cells.len(), 3);
    }
}

#[test]
fn rejects_what_it_does_not_read_with_the_variable_named() {
    for (file_name, variable, reason) in [
        ("reject_char.mat", "label", "mxCHAR"),
        (
            "reject_logical.mat",
            "mask",
            "logical arrays are not supported",
        ),
        ("reject_int32.mat", "counts", "mxINT32"),
        (
            "reject_complex.mat",
            "z",
            "complex arrays are not supported",
        ),
        ("reject_sparse.mat", "s", "mxSPARSE"),
    ] {
        let err = MatFile::read(fixture(file_name)).unwrap_err().to_string();
        assert!(err.contains(file_name), "{err}");
        assert!(err.contains(&format!("{variable} (byte ")), "{err}");
        assert!(err.contains(reason), "{err}");
    }
}
