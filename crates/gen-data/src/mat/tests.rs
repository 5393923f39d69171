//! The reader's unit tests, and a hand-built MAT v5 writer for fixtures (also used by
//! [`crate::lasa`]'s tests).

use super::header::TEXT_BYTES;
use super::matrix::{FLAG_COMPLEX, FLAG_LOGICAL, MX_CELL, MX_DOUBLE, MX_SINGLE, MX_STRUCT};
use super::tags::*;
use super::*;
use proptest::prelude::*;
use std::io::Write;

/// A hand-built MAT v5 writer for fixtures, byte for byte what the format describes.
#[derive(Clone, Copy)]
pub(crate) struct Writer {
    pub(crate) big: bool,
}

impl Writer {
    fn u32(&self, v: u32) -> [u8; 4] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    /// A regular element, padded to 8 bytes.
    pub(crate) fn element(&self, ty: u32, data: &[u8]) -> Vec<u8> {
        let mut out = self.u32(ty).to_vec();
        out.extend_from_slice(&self.u32(data.len() as u32));
        out.extend_from_slice(data);
        while out.len() % 8 != 0 {
            out.push(0);
        }
        out
    }

    /// A small data element (at most 4 bytes of data).
    pub(crate) fn small(&self, ty: u32, data: &[u8]) -> Vec<u8> {
        assert!(data.len() <= 4);
        let mut out = self.u32(((data.len() as u32) << 16) | ty).to_vec();
        let mut slot = data.to_vec();
        slot.resize(4, 0);
        out.extend_from_slice(&slot);
        out
    }

    /// Values of one numeric type, in this writer's byte order.
    pub(crate) fn values<const N: usize>(&self, values: &[[u8; N]]) -> Vec<u8> {
        values
            .iter()
            .flat_map(|v| {
                let mut v = *v;
                if self.big {
                    v.reverse();
                }
                v
            })
            .collect()
    }

    /// A miMATRIX element: flags, dimensions, name, then `body`.
    pub(crate) fn matrix(&self, flags: u32, dims: &[i32], name: &str, body: &[u8]) -> Vec<u8> {
        let mut data = self.element(MI_UINT32, &[self.u32(flags), [0; 4]].concat());
        let dims: Vec<u8> = dims.iter().flat_map(|d| self.u32(*d as u32)).collect();
        data.extend(self.element(MI_INT32, &dims));
        if name.len() <= 4 && !name.is_empty() {
            data.extend(self.small(MI_INT8, name.as_bytes()));
        } else {
            data.extend(self.element(MI_INT8, name.as_bytes()));
        }
        data.extend_from_slice(body);
        self.element(MI_MATRIX, &data)
    }

    /// A double array stored as miDOUBLE.
    pub(crate) fn doubles(&self, name: &str, dims: &[i32], values: &[f64]) -> Vec<u8> {
        let bytes: Vec<[u8; 8]> = values.iter().map(|v| v.to_le_bytes()).collect();
        let body = self.element(MI_DOUBLE, &self.values(&bytes));
        self.matrix(u32::from(MX_DOUBLE), dims, name, &body)
    }

    /// A struct with one element per entry of `elements`, each a list of field arrays.
    pub(crate) fn structs(
        &self,
        name: &str,
        dims: &[i32],
        fields: &[&str],
        elements: &[Vec<Vec<u8>>],
    ) -> Vec<u8> {
        let slot = 8;
        let mut body = self.small(MI_INT32, &self.u32(slot as u32));
        let names: Vec<u8> = fields
            .iter()
            .flat_map(|f| {
                let mut b = f.as_bytes().to_vec();
                b.resize(slot, 0);
                b
            })
            .collect();
        body.extend(self.element(MI_INT8, &names));
        for element in elements {
            for field in element {
                body.extend_from_slice(field);
            }
        }
        self.matrix(u32::from(MX_STRUCT), dims, name, &body)
    }

    /// A cell array of the given arrays.
    pub(crate) fn cell(&self, name: &str, dims: &[i32], cells: &[Vec<u8>]) -> Vec<u8> {
        self.matrix(u32::from(MX_CELL), dims, name, &cells.concat())
    }

    /// A miCOMPRESSED element holding `element`.
    pub(crate) fn compressed(&self, element: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(element).unwrap();
        let z = z.finish().unwrap();
        let mut out = self.u32(MI_COMPRESSED).to_vec();
        out.extend_from_slice(&self.u32(z.len() as u32));
        out.extend_from_slice(&z);
        out
    }

    /// A whole file: header, then the given top-level elements.
    pub(crate) fn file(&self, elements: &[Vec<u8>]) -> Vec<u8> {
        let mut out = b"MATLAB 5.0 MAT-file, Platform: test".to_vec();
        out.resize(TEXT_BYTES, b' ');
        out.extend_from_slice(&[0; 8]);
        if self.big {
            out.extend_from_slice(&0x0100u16.to_be_bytes());
            out.extend_from_slice(b"MI");
        } else {
            out.extend_from_slice(&0x0100u16.to_le_bytes());
            out.extend_from_slice(b"IM");
        }
        for e in elements {
            out.extend_from_slice(e);
        }
        out
    }
}

/// A LASA-like file: `dt` (compressed) and `demos`, a 1x2 cell of structs with `pos`,
/// `t`, `vel`, `acc`, `dt`, each stored in a different data type.
pub(crate) fn lasa_like(w: Writer, compress: bool) -> Vec<u8> {
    let demo = |k: f64| {
        // pos = [1 2 3; 4 5 6] + k, stored column-major: 1 4 2 5 3 6.
        let pos = w.doubles(
            "",
            &[2, 3],
            &[1.0 + k, 4.0 + k, 2.0 + k, 5.0 + k, 3.0 + k, 6.0 + k],
        );
        // t = [0 1 2] packed as miUINT8, as MATLAB packs integral doubles.
        let t = w.matrix(
            u32::from(MX_DOUBLE),
            &[1, 3],
            "",
            &w.element(MI_UINT8, &[0, 1, 2]),
        );
        // vel = [-300 2; 7 -1] packed as miINT16.
        let vel_values: Vec<[u8; 2]> = [-300i16, 7, 2, -1]
            .iter()
            .map(|v| v.to_le_bytes())
            .collect();
        let vel = w.matrix(
            u32::from(MX_DOUBLE),
            &[2, 2],
            "",
            &w.element(MI_INT16, &w.values(&vel_values)),
        );
        // acc: a single array [0.5 -0.25] as miSINGLE.
        let acc_values: Vec<[u8; 4]> = [0.5f32, -0.25].iter().map(|v| v.to_le_bytes()).collect();
        let acc = w.matrix(
            u32::from(MX_SINGLE),
            &[1, 2],
            "",
            &w.element(MI_SINGLE, &w.values(&acc_values)),
        );
        // dt = 3 as a small miUINT8 element.
        let dt = w.matrix(u32::from(MX_DOUBLE), &[1, 1], "", &w.small(MI_UINT8, &[3]));
        w.structs(
            "",
            &[1, 1],
            &["pos", "t", "vel", "acc", "dt"],
            &[vec![pos, t, vel, acc, dt]],
        )
    };
    let demos = w.cell("demos", &[1, 2], &[demo(0.0), demo(10.0)]);
    let dt = w.doubles("dt", &[1, 1], &[0.125]);
    if compress {
        w.file(&[w.compressed(&dt), w.compressed(&demos)])
    } else {
        w.file(&[dt, demos])
    }
}

fn numeric(a: &MatArray) -> &NumericArray {
    match a {
        MatArray::Numeric(n) => n,
        other => panic!("expected numeric, got {other:?}"),
    }
}

#[test]
fn reads_hand_built_file_in_every_layout() {
    for big in [false, true] {
        for compress in [false, true] {
            let w = Writer { big };
            let file = MatFile::parse(&lasa_like(w, compress), "fixture.mat").unwrap();
            assert_eq!(file.big_endian, big);
            assert_eq!(file.description, "MATLAB 5.0 MAT-file, Platform: test");
            let names: Vec<&str> = file.variables.iter().map(|v| v.name.as_str()).collect();
            assert_eq!(names, ["dt", "demos"]);
            assert_eq!(file.numeric("dt").unwrap().scalar(), Some(0.125));
            let demos = file.cell("demos").unwrap();
            assert_eq!(demos.dims, [1, 2]);
            for (i, k) in [(0, 0.0), (1, 10.0)] {
                let MatArray::Struct(s) = &demos.cells[i] else {
                    panic!("demo {i} is not a struct")
                };
                assert_eq!(s.fields, ["pos", "t", "vel", "acc", "dt"]);
                let pos = numeric(s.field(0, "pos").unwrap());
                assert_eq!(pos.class, NumericClass::Double);
                assert_eq!(
                    pos.to_array2().unwrap(),
                    ndarray::array![[1.0 + k, 2.0 + k, 3.0 + k], [4.0 + k, 5.0 + k, 6.0 + k]]
                );
                assert_eq!(numeric(s.field(0, "t").unwrap()).data, [0.0, 1.0, 2.0]);
                assert_eq!(
                    numeric(s.field(0, "vel").unwrap()).to_array2().unwrap(),
                    ndarray::array![[-300.0, 2.0], [7.0, -1.0]]
                );
                let acc = numeric(s.field(0, "acc").unwrap());
                assert_eq!(acc.class, NumericClass::Single);
                assert_eq!(acc.data, [0.5, -0.25]);
                assert_eq!(numeric(s.field(0, "dt").unwrap()).scalar(), Some(3.0));
                assert!(s.field(0, "missing").is_none());
                assert!(s.field(1, "pos").is_none());
            }
        }
    }
}

#[test]
fn reads_empty_cells_and_small_packed_types() {
    let w = Writer { big: false };
    let empty = w.element(MI_MATRIX, &[]);
    let int8 = w.matrix(
        u32::from(MX_DOUBLE),
        &[1, 2],
        "",
        &w.small(MI_INT8, &[0xff, 0x80]),
    );
    let int32: Vec<[u8; 4]> = [-70000i32].iter().map(|v| v.to_le_bytes()).collect();
    let int32 = w.matrix(
        u32::from(MX_DOUBLE),
        &[1, 1],
        "",
        &w.small(MI_INT32, &w.values(&int32)),
    );
    let u16s: Vec<[u8; 2]> = [65535u16].iter().map(|v| v.to_le_bytes()).collect();
    let u16s = w.matrix(
        u32::from(MX_DOUBLE),
        &[1, 1],
        "",
        &w.small(MI_UINT16, &w.values(&u16s)),
    );
    let u32s: Vec<[u8; 4]> = [4_000_000_000u32].iter().map(|v| v.to_le_bytes()).collect();
    let u32s = w.matrix(
        u32::from(MX_DOUBLE),
        &[1, 1],
        "",
        &w.element(MI_UINT32, &w.values(&u32s)),
    );
    let bytes = w.file(&[w.cell("c", &[5, 1], &[empty, int8, int32, u16s, u32s])]);
    let file = MatFile::parse(&bytes, "f.mat").unwrap();
    let c = file.cell("c").unwrap();
    assert_eq!(c.dims, [5, 1]);
    assert_eq!(numeric(&c.cells[0]).dims, [0, 0]);
    assert_eq!(numeric(&c.cells[1]).data, [-1.0, -128.0]);
    assert_eq!(numeric(&c.cells[2]).data, [-70000.0]);
    assert_eq!(numeric(&c.cells[3]).data, [65535.0]);
    assert_eq!(numeric(&c.cells[4]).data, [4e9]);
    // A struct array of two elements names its fields per element.
    let s = w.structs(
        "s",
        &[1, 2],
        &["a"],
        &[
            vec![w.doubles("", &[1, 1], &[1.0])],
            vec![w.doubles("", &[1, 1], &[2.0])],
        ],
    );
    let file = MatFile::parse(&w.file(&[s]), "f.mat").unwrap();
    let Some(MatArray::Struct(s)) = file.get("s") else {
        panic!()
    };
    assert_eq!(numeric(s.field(1, "a").unwrap()).data, [2.0]);
    assert!(
        file.numeric("s")
            .unwrap_err()
            .to_string()
            .contains("is a struct array")
    );
    assert!(
        file.numeric("zz")
            .unwrap_err()
            .to_string()
            .contains("variable missing")
    );
}

fn parse_err(bytes: &[u8]) -> String {
    MatFile::parse(bytes, "bad.mat").unwrap_err().to_string()
}

fn assert_err(bytes: &[u8], parts: &[&str]) {
    let msg = parse_err(bytes);
    assert!(msg.starts_with("bad.mat: "), "{msg}");
    for p in parts {
        assert!(msg.contains(p), "{msg:?} lacks {p:?}");
    }
}

#[test]
fn rejects_what_it_does_not_read_with_located_errors() {
    let w = Writer { big: false };
    let good = lasa_like(w, false);
    assert_err(&good[..100], &["header", "truncated"]);
    let mut v4 = good.clone();
    v4[..6].copy_from_slice(&[0; 6]);
    assert_err(&v4, &["header", "MATLAB"]);
    let mut v73 = good.clone();
    v73[124..126].copy_from_slice(&0x0200u16.to_le_bytes());
    assert_err(&v73, &["version", "v7.3", "HDF5"]);
    let mut endian = good.clone();
    endian[126..128].copy_from_slice(b"XX");
    assert_err(&endian, &["endian"]);
    // A truncated top-level element is caught before its content is read.
    assert_err(
        &good[..good.len() - 20],
        &["top level (byte 192)", "runs past the end"],
    );
    // A cell that ends early names the cell that is cut.
    let short = w.file(&[w.cell("demos", &[1, 2], &[w.doubles("", &[1, 1], &[1.0])])]);
    assert_err(&short, &["demos{2}", "truncated element tag"]);

    let pos = |body: Vec<u8>, flags: u32| {
        let demo = w.structs(
            "",
            &[1, 1],
            &["pos"],
            &[vec![w.matrix(flags, &[1, 1], "", &body)]],
        );
        w.file(&[w.cell("demos", &[1, 2], &[w.doubles("", &[1, 1], &[1.0]), demo])])
    };
    let one = w.element(MI_DOUBLE, &1.0f64.to_le_bytes());
    assert_err(
        &pos(one.clone(), 6 | FLAG_COMPLEX),
        &["demos{2}.pos", "complex"],
    );
    assert_err(
        &pos(one.clone(), 9 | FLAG_LOGICAL),
        &["demos{2}.pos", "logical"],
    );
    assert_err(&pos(one.clone(), 4), &["demos{2}.pos", "mxCHAR"]);
    assert_err(&pos(one.clone(), 5), &["demos{2}.pos", "mxSPARSE"]);
    assert_err(&pos(one.clone(), 12), &["demos{2}.pos", "mxINT32"]);
    assert_err(
        &pos(w.element(MI_INT64, &1i64.to_le_bytes()), 6),
        &["demos{2}.pos", "miINT64"],
    );
    assert_err(
        &pos(w.element(MI_DOUBLE, &[0; 16]), 6),
        &["demos{2}.pos", "2 values", "1 elements"],
    );
    assert_err(
        &pos(w.element(MI_DOUBLE, &[0; 7]), 6),
        &["demos{2}.pos", "whole number"],
    );
    assert_err(
        &pos([one.clone(), one.clone()].concat(), 6),
        &["demos{2}.pos", "unexpected bytes"],
    );
    assert_err(
        &pos(
            w.element(MI_DOUBLE, &1.0f64.to_le_bytes()),
            6 | FLAG_COMPLEX,
        ),
        &["byte "],
    );
    // A single array may not hold doubles.
    assert_err(&pos(one, 7), &["demos{2}.pos", "miDOUBLE", "single"]);
    // A cell whose dimensions promise more cells than there are bytes.
    assert_err(
        &w.file(&[w.cell("c", &[1000, 1000], &[])]),
        &["c", "do not fit"],
    );
    // Negative and too few dimensions.
    assert_err(
        &w.file(&[w.doubles("x", &[-1, 1], &[])]),
        &["dimensions", "negative"],
    );
    assert_err(
        &w.file(&[w.doubles("x", &[1], &[0.0])]),
        &["dimensions", "2 to"],
    );
    // A top-level element that is neither miMATRIX nor miCOMPRESSED.
    assert_err(
        &w.file(&[w.element(MI_DOUBLE, &[0; 8])]),
        &["top level", "miDOUBLE"],
    );
    // A compressed element that is not zlib.
    let mut not_zlib = w.u32(MI_COMPRESSED).to_vec();
    not_zlib.extend_from_slice(&w.u32(4));
    not_zlib.extend_from_slice(b"abcd");
    assert_err(
        &w.file(&[not_zlib]),
        &["compressed element", "zlib", "byte 128"],
    );
    // Errors inside a compressed element give both offsets.
    let inner = w.compressed(&w.doubles("x", &[1, 2], &[1.0]));
    assert_err(
        &w.file(&[inner]),
        &["x: real part", "of the compressed element at byte 128"],
    );
    // Nesting deeper than MAX_DEPTH.
    let mut nested = w.doubles("", &[1, 1], &[1.0]);
    for _ in 0..=MAX_DEPTH {
        nested = w.cell("", &[1, 1], &[nested]);
    }
    let mut top = w.cell("deep", &[1, 1], &[nested]);
    top = w.file(&[top]);
    assert_err(&top, &["deep{1}{1}", "nest more than"]);
    // Repeated field names.
    let dup = w.structs("s", &[1, 1], &["a", "a"], &[vec![]]);
    assert_err(&w.file(&[dup]), &["s: field names", "repeated"]);
}

fn flips() -> impl Strategy<Value = Vec<(prop::sample::Index, u8)>> {
    prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    /// Bit flips and truncations of valid files (both byte orders, compressed or not),
    /// and random bytes after a valid header, never panic the reader.
    #[test]
    fn corrupt_input_never_panics(
        big in any::<bool>(),
        compress in any::<bool>(),
        flips in flips(),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
        random in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        let w = Writer { big };
        let mut bytes = lasa_like(w, compress);
        for (idx, b) in &flips {
            let i = idx.index(bytes.len());
            bytes[i] ^= b;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        let _ = MatFile::parse(&bytes, "fuzz.mat");
        let mut header = w.file(&[]);
        header.extend_from_slice(&random);
        let _ = MatFile::parse(&header, "fuzz.mat");
        // Random bytes inside a decompressed element reach the array parser directly.
        let mut inner = w.u32(MI_MATRIX).to_vec();
        inner.extend_from_slice(&w.u32(random.len() as u32));
        inner.extend_from_slice(&random);
        let _ = MatFile::parse(&w.file(&[w.compressed(&inner)]), "fuzz.mat");
    }
}
