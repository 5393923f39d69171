//! Reader for Keras's `imdb.npz`: a zip of `.npy` files.
//!
//! - `y_train.npy`, `y_test.npy`: 1-D integer arrays. Their `.npy` header (magic, version,
//!   then a Python dict literal with `descr`, `fortran_order` and `shape`) is parsed here,
//!   strictly: only 1-D little/big-endian signed or unsigned integers of 1, 2, 4 or 8 bytes.
//! - `x_train.npy`, `x_test.npy`: 1-D object arrays (`descr` `'|O'`) whose payload is a
//!   pickle of a numpy array of Python lists of ints, decoded by [`super::pickle`] and checked
//!   against the `.npy` shape.
//!
//! Entry sizes and element counts are bounded: an entry declaring more than
//! [`MAX_ENTRY_BYTES`] uncompressed, or inflating past what it declares, is refused before it
//! can fill memory (see [`crate::zipped`]).

use super::pickle;
use crate::{Error, Result};
use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;

/// Largest accepted npz file.
const MAX_NPZ_BYTES: u64 = 1 << 30;
/// Largest accepted uncompressed entry.
const MAX_ENTRY_BYTES: u64 = 512 << 20;
/// Largest accepted `.npy` header (numpy itself writes a few hundred bytes).
const MAX_HEADER_BYTES: usize = 1 << 16;
/// Largest number of elements of one array (IMDB has about 6 million ids per split).
pub(super) const MAX_ELEMENTS: u64 = 100_000_000;

/// The four arrays of an `imdb.npz`, in file order (not yet shuffled).
#[derive(Debug)]
pub(super) struct NpzArrays {
    pub(super) x_train: Vec<Vec<i64>>,
    pub(super) y_train: Vec<i64>,
    pub(super) x_test: Vec<Vec<i64>>,
    pub(super) y_test: Vec<i64>,
}

/// Reads `x_train`, `y_train`, `x_test`, `y_test` from the npz at `path`.
pub(super) fn read_npz(path: &Path) -> Result<NpzArrays> {
    let len = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if len > MAX_NPZ_BYTES {
        return Err(Error::format(
            path,
            "file",
            format!("{len} bytes is more than the {MAX_NPZ_BYTES} accepted"),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    read_npz_bytes(&bytes, path)
}

/// Like [`read_npz`] for the bytes of an npz file; `path` names it in errors.
pub(super) fn read_npz_bytes(bytes: &[u8], path: &Path) -> Result<NpzArrays> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| Error::format(path, "zip", e.to_string()))?;
    let x_train_npy = entry(&mut zip, path, "x_train")?;
    let y_train = read_int_npy(&entry(&mut zip, path, "y_train")?, path, "y_train")?;
    let x_test_npy = entry(&mut zip, path, "x_test")?;
    let y_test = read_int_npy(&entry(&mut zip, path, "y_test")?, path, "y_test")?;
    // Unpickling dominates the load time: do the two splits on two threads.
    let (x_train, x_test) = std::thread::scope(|scope| {
        let test = std::thread::Builder::new()
            .name("imdb-x_test".into())
            .spawn_scoped(scope, || read_object_npy(&x_test_npy, path, "x_test"));
        let x_train = read_object_npy(&x_train_npy, path, "x_train");
        let x_test = match test {
            Ok(handle) => handle.join().unwrap_or_else(|_| {
                Err(Error::format(path, "x_test.npy", "decoder thread failed"))
            }),
            // No thread available: decode on this one.
            Err(_) => read_object_npy(&x_test_npy, path, "x_test"),
        };
        (x_train, x_test)
    });
    let (x_train, x_test) = (x_train?, x_test?);
    for (x, y, name) in [
        (x_train.len(), y_train.len(), "y_train"),
        (x_test.len(), y_test.len(), "y_test"),
    ] {
        if x != y {
            return Err(Error::format(
                path,
                name,
                format!("{y} labels for {x} sequences"),
            ));
        }
    }
    Ok(NpzArrays {
        x_train,
        y_train,
        x_test,
        y_test,
    })
}

/// The bytes of entry `name.npy` (or `name`, as `np.load` also accepts), size-bounded (see
/// [`crate::zipped`]).
fn entry(zip: &mut zip::ZipArchive<Cursor<&[u8]>>, path: &Path, name: &str) -> Result<Vec<u8>> {
    let file_name = format!("{name}.npy");
    let index = zip
        .index_for_name(&file_name)
        .or_else(|| zip.index_for_name(name))
        .ok_or_else(|| Error::format(path, file_name.as_str(), "entry missing from the npz"))?;
    crate::zipped::read_entry(zip, index, &file_name, MAX_ENTRY_BYTES, path)
}

/// A parsed `.npy` header.
#[derive(Debug, PartialEq)]
struct NpyHeader {
    descr: String,
    fortran_order: bool,
    shape: Vec<u64>,
}

/// Splits a `.npy` file into its header and data.
fn parse_npy(bytes: &[u8]) -> std::result::Result<(NpyHeader, &[u8]), String> {
    let rest = bytes
        .strip_prefix(b"\x93NUMPY")
        .ok_or("not a .npy file (bad magic)")?;
    let (version, rest) = rest.split_first_chunk::<2>().ok_or("truncated header")?;
    let (len, rest) = match version {
        [1, 0] => {
            let (l, rest) = rest.split_first_chunk::<2>().ok_or("truncated header")?;
            (usize::from(u16::from_le_bytes(*l)), rest)
        }
        [2 | 3, 0] => {
            let (l, rest) = rest.split_first_chunk::<4>().ok_or("truncated header")?;
            let l = u32::from_le_bytes(*l);
            (usize::try_from(l).unwrap_or(usize::MAX), rest)
        }
        [major, minor] => return Err(format!("unsupported .npy version {major}.{minor}")),
    };
    if len > MAX_HEADER_BYTES {
        return Err(format!("header of {len} bytes is too long"));
    }
    if rest.len() < len {
        return Err(format!(
            "truncated header: {len} bytes announced, {} present",
            rest.len()
        ));
    }
    let (header, data) = rest.split_at(len);
    let text = std::str::from_utf8(header).map_err(|_| "header is not UTF-8")?;
    let header = parse_header_dict(text)?;
    Ok((header, data))
}

/// A value of the header dict literal.
#[derive(Debug)]
enum Lit {
    Str(String),
    Bool(bool),
    Tuple(Vec<u64>),
}

/// Parses numpy's header dict literal, e.g.
/// `{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }`.
fn parse_header_dict(text: &str) -> std::result::Result<NpyHeader, String> {
    let mut p = LitParser {
        s: text.as_bytes(),
        i: 0,
    };
    p.expect(b'{')?;
    let mut entries: HashMap<String, Lit> = HashMap::new();
    loop {
        p.skip_ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.expect(b':')?;
        let value = p.value()?;
        if entries.insert(key.clone(), value).is_some() {
            return Err(format!("duplicate header key {key:?}"));
        }
        p.skip_ws();
        if !p.eat(b',') {
            p.expect(b'}')?;
            break;
        }
    }
    p.skip_ws();
    if p.i != p.s.len() {
        return Err("unexpected text after the header dict".into());
    }
    if entries.len() != 3 {
        return Err(format!(
            "header must have exactly descr, fortran_order and shape; found {:?}",
            entries.keys().collect::<Vec<_>>()
        ));
    }
    let descr = match entries.remove("descr") {
        Some(Lit::Str(s)) => s,
        other => return Err(format!("header descr must be a string, found {other:?}")),
    };
    let fortran_order = match entries.remove("fortran_order") {
        Some(Lit::Bool(b)) => b,
        other => {
            return Err(format!(
                "header fortran_order must be a bool, found {other:?}"
            ));
        }
    };
    let shape = match entries.remove("shape") {
        Some(Lit::Tuple(t)) => t,
        other => return Err(format!("header shape must be a tuple, found {other:?}")),
    };
    Ok(NpyHeader {
        descr,
        fortran_order,
        shape,
    })
}

/// A tiny parser for the Python literals of a `.npy` header.
struct LitParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl LitParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        self.skip_ws();
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!(
                "header: expected {:?} at byte {}",
                char::from(c),
                self.i
            ))
        }
    }

    fn string(&mut self) -> std::result::Result<String, String> {
        self.skip_ws();
        let quote = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err(format!("header: expected a string at byte {}", self.i)),
        };
        self.i += 1;
        let start = self.i;
        while let Some(c) = self.peek() {
            if c == quote {
                let s = self.s.get(start..self.i).unwrap_or_default();
                self.i += 1;
                return String::from_utf8(s.to_vec()).map_err(|_| "header: bad string".into());
            }
            if c == b'\\' {
                return Err("header: escapes in strings are not supported".into());
            }
            self.i += 1;
        }
        Err("header: unterminated string".into())
    }

    fn uint(&mut self) -> std::result::Result<u64, String> {
        self.skip_ws();
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        let digits = self.s.get(start..self.i).unwrap_or_default();
        std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse::<u64>().ok())
            .ok_or_else(|| format!("header: expected a dimension at byte {start}"))
    }

    fn value(&mut self) -> std::result::Result<Lit, String> {
        self.skip_ws();
        match self.peek() {
            Some(b'\'' | b'"') => self.string().map(Lit::Str),
            Some(b'(') => {
                self.i += 1;
                let mut dims = Vec::new();
                loop {
                    self.skip_ws();
                    if self.eat(b')') {
                        break;
                    }
                    if dims.len() >= 32 {
                        return Err("header: too many dimensions".into());
                    }
                    dims.push(self.uint()?);
                    self.skip_ws();
                    if !self.eat(b',') {
                        self.expect(b')')?;
                        break;
                    }
                }
                Ok(Lit::Tuple(dims))
            }
            _ => {
                for (word, b) in [(&b"True"[..], true), (&b"False"[..], false)] {
                    if self.s.get(self.i..).is_some_and(|r| r.starts_with(word)) {
                        self.i += word.len();
                        return Ok(Lit::Bool(b));
                    }
                }
                Err(format!("header: unsupported value at byte {}", self.i))
            }
        }
    }
}

/// The single dimension of a 1-D array header.
fn one_dim(h: &NpyHeader) -> std::result::Result<u64, String> {
    match h.shape.as_slice() {
        [n] if *n <= MAX_ELEMENTS => Ok(*n),
        [n] => Err(format!(
            "{n} elements is more than the {MAX_ELEMENTS} accepted"
        )),
        other => Err(format!("expected a 1-D array, found shape {other:?}")),
    }
}

/// Reads a 1-D integer `.npy` as `i64`.
pub(super) fn read_int_npy(bytes: &[u8], path: &Path, name: &str) -> Result<Vec<i64>> {
    let field = format!("{name}.npy");
    let fail = |reason: String| Error::format(path, field.as_str(), reason);
    let (header, data) = parse_npy(bytes).map_err(fail)?;
    let n = one_dim(&header).map_err(fail)?;
    let d = header.descr.as_bytes();
    let (little, signed, size) = match d {
        [
            order @ (b'<' | b'>' | b'|' | b'='),
            kind @ (b'i' | b'u'),
            size @ (b'1' | b'2' | b'4' | b'8'),
        ] => (*order != b'>', *kind == b'i', usize::from(size - b'0')),
        _ => {
            return Err(fail(format!(
                "dtype {:?} is not a supported integer type",
                header.descr
            )));
        }
    };
    let expected = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_mul(size))
        .ok_or_else(|| fail(format!("{n} elements do not fit in memory")))?;
    if data.len() != expected {
        return Err(fail(format!(
            "data has {} bytes; shape ({n},) of {} needs {expected}",
            data.len(),
            header.descr
        )));
    }
    let shift = 64 - 8 * size as u32;
    data.chunks_exact(size)
        .map(|c| {
            // Assemble the little-endian 64-bit pattern, then sign-extend when signed.
            let mut b = [0u8; 8];
            for (k, &byte) in c.iter().enumerate() {
                let pos = if little { k } else { size - 1 - k };
                if let Some(slot) = b.get_mut(pos) {
                    *slot = byte;
                }
            }
            let raw = u64::from_le_bytes(b);
            if signed {
                Ok(((raw << shift) as i64) >> shift)
            } else {
                i64::try_from(raw).map_err(|_| fail(format!("value {raw} does not fit in i64")))
            }
        })
        .collect()
}

/// Reads a 1-D object `.npy` holding lists of ints.
pub(super) fn read_object_npy(bytes: &[u8], path: &Path, name: &str) -> Result<Vec<Vec<i64>>> {
    let field = format!("{name}.npy");
    let fail = |reason: String| Error::format(path, field.as_str(), reason);
    let (header, data) = parse_npy(bytes).map_err(fail)?;
    if header.descr != "|O" {
        return Err(fail(format!(
            "dtype {:?} is not an object array ('|O')",
            header.descr
        )));
    }
    let n = one_dim(&header).map_err(fail)?;
    let state =
        pickle::decode_int_lists(data, MAX_ELEMENTS).map_err(|e| fail(format!("pickle: {e}")))?;
    if state.n != n || state.data.len() as u64 != n {
        return Err(fail(format!(
            "pickled array has shape ({},) and {} elements; the header says ({n},)",
            state.n,
            state.data.len()
        )));
    }
    Ok(state.data)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    /// A `.npy` v1.0 header for `descr` and a 1-D `shape`, padded as numpy pads it.
    pub(crate) fn npy_header(descr: &str, n: usize) -> Vec<u8> {
        let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({n},), }}");
        while (10 + dict.len() + 1) % 64 != 0 {
            dict.push(' ');
        }
        dict.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        out.extend_from_slice(dict.as_bytes());
        out
    }

    pub(crate) fn object_npy(lists: &[Vec<i64>]) -> Vec<u8> {
        let mut out = npy_header("|O", lists.len());
        out.extend_from_slice(&pickle::tests::object_pickle(lists));
        out
    }

    pub(crate) fn int_npy(values: &[i64]) -> Vec<u8> {
        let mut out = npy_header("<i8", values.len());
        for v in values {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// An npz with the four IMDB arrays; `deflate` picks `np.savez_compressed`'s method.
    pub(crate) fn npz_bytes(
        x_train: &[Vec<i64>],
        y_train: &[i64],
        x_test: &[Vec<i64>],
        y_test: &[i64],
        deflate: bool,
    ) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let method = if deflate {
            zip::CompressionMethod::Deflated
        } else {
            zip::CompressionMethod::Stored
        };
        let o = zip::write::SimpleFileOptions::default().compression_method(method);
        for (name, data) in [
            ("x_train.npy", object_npy(x_train)),
            ("y_train.npy", int_npy(y_train)),
            ("x_test.npy", object_npy(x_test)),
            ("y_test.npy", int_npy(y_test)),
        ] {
            w.start_file(name, o).unwrap();
            w.write_all(&data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn roundtrip_protocol2_and_deflate() {
        let xs = vec![vec![1, 300, 70000], vec![], vec![5_000_000_000, -3]];
        let ys = vec![1, 0, 1];
        for deflate in [false, true] {
            let bytes = npz_bytes(&xs, &ys, &xs[..1], &ys[..1], deflate);
            let a = read_npz_bytes(&bytes, Path::new("t.npz")).unwrap();
            assert_eq!(a.x_train, xs);
            assert_eq!(a.y_train, ys);
            assert_eq!(a.x_test, xs[..1]);
            assert_eq!(a.y_test, ys[..1]);
        }
    }

    #[test]
    fn header_parser_is_strict() {
        let ok = "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }";
        let h = parse_header_dict(ok).unwrap();
        assert_eq!(h.descr, "<i8");
        assert!(!h.fortran_order);
        assert_eq!(h.shape, [3]);
        let h =
            parse_header_dict("{\"shape\": (2, 3), \"descr\": \"|O\", \"fortran_order\": True}")
                .unwrap();
        assert_eq!((h.shape, h.fortran_order), (vec![2, 3], true));
        for bad in [
            "",
            "{}",
            "{'descr': '<i8', 'fortran_order': False}",
            "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), 'x': 1}",
            "{'descr': '<i8', 'descr': '<i8', 'shape': (3,)}",
            "{'descr': [('a', '<i8')], 'fortran_order': False, 'shape': (3,)}",
            "{'descr': '<i8', 'fortran_order': False, 'shape': (-3,)}",
            "{'descr': '<i8', 'fortran_order': False, 'shape': (3,)} junk",
            "{'descr': '<i8', 'fortran_order': Nope, 'shape': (3,)}",
            "{'descr': '<i\\8', 'fortran_order': False, 'shape': (3,)}",
        ] {
            assert!(parse_header_dict(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn int_dtypes() {
        let mk = |descr: &str, n: usize, data: &[u8]| {
            let mut b = npy_header(descr, n);
            b.extend_from_slice(data);
            read_int_npy(&b, Path::new("p"), "y")
        };
        assert_eq!(mk("|u1", 2, &[0, 255]).unwrap(), [0, 255]);
        assert_eq!(mk("|i1", 2, &[0x7f, 0x80]).unwrap(), [127, -128]);
        assert_eq!(mk("<i4", 1, &(-5i32).to_le_bytes()).unwrap(), [-5]);
        assert_eq!(mk(">i2", 1, &(-300i16).to_be_bytes()).unwrap(), [-300]);
        assert_eq!(
            mk(">u4", 1, &u32::MAX.to_be_bytes()).unwrap(),
            [u32::MAX as i64]
        );
        assert_eq!(mk("<u8", 1, &7u64.to_le_bytes()).unwrap(), [7]);
        assert!(mk("<u8", 1, &u64::MAX.to_le_bytes()).is_err());
        assert!(mk("<f8", 1, &1f64.to_le_bytes()).is_err());
        assert!(mk("<i8", 2, &1i64.to_le_bytes()).is_err(), "truncated data");
        assert!(mk("<i8", 0, &1i64.to_le_bytes()).is_err(), "trailing data");
        let mut two_d = b"\x93NUMPY\x01\x00".to_vec();
        let dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 1), }\n";
        two_d.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        two_d.extend_from_slice(dict.as_bytes());
        two_d.extend_from_slice(&1i64.to_le_bytes());
        let e = read_int_npy(&two_d, Path::new("p"), "y").unwrap_err();
        assert!(e.to_string().contains("1-D"), "{e}");
    }

    #[test]
    fn errors_name_file_and_entry() {
        let xs = vec![vec![1i64, 2]];
        let mut bytes = npz_bytes(&xs, &[1, 0], &xs, &[1], false);
        let e = read_npz_bytes(&bytes, Path::new("data/imdb.npz")).unwrap_err();
        assert!(
            matches!(&e, Error::Format { field, .. } if field == "y_train"),
            "{e}"
        );
        assert!(e.to_string().starts_with("data/imdb.npz"), "{e}");
        bytes.truncate(bytes.len() / 2);
        assert!(read_npz_bytes(&bytes, Path::new("x.npz")).is_err());
    }

    #[test]
    fn object_array_shape_must_match() {
        let mut b = npy_header("|O", 3);
        b.extend_from_slice(&pickle::tests::object_pickle(&[vec![1], vec![2]]));
        let e = read_object_npy(&b, Path::new("p"), "x_train").unwrap_err();
        assert!(e.to_string().contains("header says (3,)"), "{e}");
        // A list of non-ints.
        let mut p = pickle::tests::object_pickle(&[vec![1]]);
        let pos = p.windows(2).position(|w| w == [b'K', 1]).unwrap();
        p.splice(pos..pos + 2, *b"U\x01a");
        let mut b = npy_header("|O", 1);
        b.extend_from_slice(&p);
        assert!(read_object_npy(&b, Path::new("p"), "x_train").is_err());
        // An int array where an object array is expected.
        assert!(read_object_npy(&int_npy(&[1]), Path::new("p"), "x_train").is_err());
    }

    /// Runs `check` on `cases` inputs drawn from `strategy`; returns how many ran.
    pub(crate) fn run_cases<S: Strategy>(cases: u32, strategy: S, check: impl Fn(S::Value)) -> u32 {
        let config = ProptestConfig {
            cases,
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        let ran = std::cell::Cell::new(0u32);
        proptest::test_runner::TestRunner::new(config)
            .run(&strategy, |input| {
                check(input);
                ran.set(ran.get() + 1);
                Ok(())
            })
            .unwrap();
        ran.get()
    }

    fn small_lists() -> impl Strategy<Value = Vec<Vec<i64>>> {
        prop::collection::vec(prop::collection::vec(-3i64..100_000, 0..6), 0..5)
    }

    fn flips() -> impl Strategy<Value = Vec<(prop::sample::Index, u8)>> {
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8)
    }

    /// Random bytes, and bit flips and truncations of valid npz files, never panic the
    /// reader.
    #[test]
    fn npz_reader_never_panics() {
        let strategy = (
            small_lists(),
            flips(),
            any::<prop::sample::Index>(),
            any::<bool>(),
            prop::collection::vec(any::<u8>(), 0..300),
        );
        let ran = run_cases(2000, strategy, |(lists, flips, cut, deflate, random)| {
            let ys: Vec<i64> = (0..lists.len() as i64).collect();
            let mut bytes = npz_bytes(&lists, &ys, &lists, &ys, deflate);
            for (idx, b) in &flips {
                let i = idx.index(bytes.len());
                bytes[i] ^= b;
            }
            if flips.len() % 3 == 0 {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            let _ = read_npz_bytes(&bytes, Path::new("fuzz.npz"));
            let _ = read_npz_bytes(&random, Path::new("fuzz.npz"));
        });
        assert_eq!(ran, 2000);
    }

    /// Mutated `.npy` files and pickle payloads, fed straight to the entry readers (a zip
    /// CRC would catch most mutations before they reach them).
    #[test]
    fn npy_and_pickle_readers_never_panic() {
        let strategy = (
            small_lists(),
            flips(),
            any::<prop::sample::Index>(),
            any::<bool>(),
        );
        let reached_decoder = std::cell::Cell::new(0u32);
        let ran = run_cases(3000, strategy, |(lists, flips, cut, add)| {
            let mut obj = object_npy(&lists);
            let mut ints = int_npy(&lists.iter().map(|l| l.len() as i64).collect::<Vec<_>>());
            for (idx, b) in &flips {
                let i = idx.index(obj.len());
                obj[i] = if add {
                    obj[i].wrapping_add(*b)
                } else {
                    obj[i] ^ b
                };
                let j = idx.index(ints.len());
                ints[j] ^= b;
            }
            if let Ok((_, data)) = parse_npy(&obj) {
                if pickle::scan_pickle(data, MAX_ELEMENTS).is_ok() {
                    reached_decoder.set(reached_decoder.get() + 1);
                }
            }
            let _ = read_object_npy(&obj, Path::new("f"), "x_train");
            let _ = read_int_npy(&ints, Path::new("f"), "y_train");
            obj.truncate(cut.index(obj.len() + 1));
            let _ = read_object_npy(&obj, Path::new("f"), "x_train");
        });
        assert_eq!(ran, 3000);
        // Many mutated pickles pass the scan and exercise serde-pickle itself.
        assert!(reached_decoder.get() > 300, "{}", reached_decoder.get());
    }
}
