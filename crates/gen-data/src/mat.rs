//! A strict reader for the subset of MATLAB v5 `.mat` files that datasets such as LASA use.
//!
//! # What is read
//!
//! A v5 MAT-file is a 128-byte header (descriptive text starting with `MATLAB`, a subsystem
//! offset, the version `0x0100` and the endian indicator `IM` for little-endian or `MI` for
//! big-endian files) followed by data elements. Each element is an 8-byte tag (`u32` type,
//! `u32` byte count) and its data, padded to 8 bytes; an element of at most 4 bytes may use
//! the *small data element* format, where type (low 16 bits) and byte count (high 16 bits)
//! share the first word and the data fills the second.
//!
//! Top-level elements must be `miMATRIX` (14) or `miCOMPRESSED` (15, a zlib stream holding
//! one `miMATRIX` element; not padded). A `miMATRIX` holds, in order, the array flags
//! (`miUINT32`, 8 bytes: class in the low byte, flags above), the dimensions (`miINT32`, at
//! least two), the name (`miINT8`), then by class:
//!
//! - `mxDOUBLE` (6) and `mxSINGLE` (7): the real part. MATLAB packs it in the smallest type
//!   that holds its values exactly, so the data type may be `miINT8`, `miUINT8`, `miINT16`,
//!   `miUINT16`, `miINT32`, `miUINT32`, `miSINGLE` or (doubles only) `miDOUBLE`. The values
//!   are kept as `f64`, in MATLAB's column-major order.
//! - `mxCELL` (1): one `miMATRIX` per cell, column-major.
//! - `mxSTRUCT` (2): the field-name length (`miINT32`), the NUL-padded field names (`miINT8`),
//!   then one `miMATRIX` per field per element, column-major.
//!
//! A `miMATRIX` of zero bytes (an empty array, as MATLAB writes in cells) reads as an empty
//! 0x0 double array.
//!
//! # What is rejected
//!
//! Everything else is an [`Error::Format`] naming the file, the variable path (e.g.
//! `demos{2}.pos`) and the byte offset: v4 and v7.3 (HDF5) files, complex, sparse, logical,
//! character, integer-class, object and function arrays, 64-bit integer data, unknown data
//! types, elements running past their parent, trailing bytes inside an array, dimensions that
//! do not match the data, and sizes beyond the bounds below. Offsets inside a compressed
//! element count from the start of its decompressed stream. Cells and structs nest at most
//! [`MAX_DEPTH`] deep, so a crafted file cannot exhaust the stack.
//!
//! ```
//! use gen_data::mat::{MatArray, MatFile};
//! # fn main() -> gen_data::Result<()> {
//! # let path = std::path::Path::new("x.mat");
//! # let bytes = gen_data::mat::doc_example_bytes();
//! let file = MatFile::parse(&bytes, path)?; // or MatFile::read(path)
//! let dt = file.numeric("dt")?;
//! assert_eq!(dt.dims, [1, 1]);
//! assert_eq!(dt.data, [0.5]);
//! # Ok(())
//! # }
//! ```

use crate::{Error, Result};
use ndarray::Array2;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest accepted file.
pub const MAX_FILE_BYTES: u64 = 1 << 30;
/// Largest accepted decompressed `miCOMPRESSED` element.
pub const MAX_DECOMPRESSED_BYTES: u64 = 512 << 20;
/// Deepest accepted nesting of cells and structs.
pub const MAX_DEPTH: usize = 32;
/// Most dimensions an array may have.
pub const MAX_DIMS: usize = 32;
/// Longest accepted struct field name slot (MATLAB writes 32 or 64).
pub const MAX_FIELD_NAME_LEN: usize = 256;

/// Most elements of a struct array without fields (whose elements take no bytes).
const MAX_EMPTY_STRUCT_ELEMENTS: usize = 1 << 16;

const HEADER_BYTES: usize = 128;
const TEXT_BYTES: usize = 116;

// Data types.
const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;

// Array classes.
const MX_CELL: u8 = 1;
const MX_STRUCT: u8 = 2;
const MX_DOUBLE: u8 = 6;
const MX_SINGLE: u8 = 7;

// Array flag bits (in the first word of the array flags).
const FLAG_COMPLEX: u32 = 0x0800;
const FLAG_LOGICAL: u32 = 0x0200;

/// The class of a [`NumericArray`] in the file (its values are always held as `f64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumericClass {
    /// `mxDOUBLE_CLASS`.
    Double,
    /// `mxSINGLE_CLASS` (its `f32` values convert exactly to `f64`).
    Single,
}

/// A real numeric array.
#[derive(Debug, Clone, PartialEq)]
pub struct NumericArray {
    /// The class in the file.
    pub class: NumericClass,
    /// The dimensions, at least two (a scalar is `[1, 1]`).
    pub dims: Vec<usize>,
    /// The values in column-major (MATLAB) order; `dims.iter().product()` of them.
    pub data: Vec<f64>,
}

impl NumericArray {
    /// The number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The array as a matrix `[rows, cols]` (row-major ndarray, same values), or `None`
    /// when it has more than two dimensions.
    pub fn to_array2(&self) -> Option<Array2<f64>> {
        let [rows, cols] = self.dims.as_slice() else {
            return None;
        };
        // Column-major data is the row-major data of the transpose.
        Array2::from_shape_vec((*cols, *rows), self.data.clone())
            .ok()
            .map(|a| a.reversed_axes().as_standard_layout().into_owned())
    }

    /// The value of a one-element array.
    pub fn scalar(&self) -> Option<f64> {
        match self.data.as_slice() {
            [v] => Some(*v),
            _ => None,
        }
    }
}

/// A cell array.
#[derive(Debug, Clone, PartialEq)]
pub struct CellArray {
    /// The dimensions, at least two.
    pub dims: Vec<usize>,
    /// The cells in column-major order.
    pub cells: Vec<MatArray>,
}

/// A struct array.
#[derive(Debug, Clone, PartialEq)]
pub struct StructArray {
    /// The dimensions, at least two (a single struct is `[1, 1]`).
    pub dims: Vec<usize>,
    /// The field names, in file order.
    pub fields: Vec<String>,
    /// For each element (column-major), one value per field, in the order of `fields`.
    pub elements: Vec<Vec<MatArray>>,
}

impl StructArray {
    /// The value of field `name` of element `index` (0-based, column-major), if both exist.
    pub fn field(&self, index: usize, name: &str) -> Option<&MatArray> {
        let f = self.fields.iter().position(|n| n == name)?;
        self.elements.get(index)?.get(f)
    }
}

/// One array of a MAT-file.
#[derive(Debug, Clone, PartialEq)]
pub enum MatArray {
    /// `mxDOUBLE` or `mxSINGLE`.
    Numeric(NumericArray),
    /// `mxCELL`.
    Cell(CellArray),
    /// `mxSTRUCT`.
    Struct(StructArray),
}

impl MatArray {
    /// The array's dimensions.
    pub fn dims(&self) -> &[usize] {
        match self {
            MatArray::Numeric(a) => &a.dims,
            MatArray::Cell(a) => &a.dims,
            MatArray::Struct(a) => &a.dims,
        }
    }

    /// The kind of array, in words (for error messages).
    pub fn kind_name(&self) -> &'static str {
        match self {
            MatArray::Numeric(_) => "numeric array",
            MatArray::Cell(_) => "cell array",
            MatArray::Struct(_) => "struct array",
        }
    }
}

/// A named top-level variable.
#[derive(Debug, Clone, PartialEq)]
pub struct MatVariable {
    /// The variable's name.
    pub name: String,
    /// Its value.
    pub value: MatArray,
}

/// A parsed MAT-file: its header text and its variables in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct MatFile {
    /// The file it was read from (for error messages).
    pub path: PathBuf,
    /// The header's descriptive text, trailing spaces and NULs removed.
    pub description: String,
    /// Whether the file is big-endian (`MI`).
    pub big_endian: bool,
    /// The variables.
    pub variables: Vec<MatVariable>,
}

impl MatFile {
    /// Reads and parses the MAT-file at `path`.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let len = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        if len > MAX_FILE_BYTES {
            return Err(Error::format(
                path,
                "file",
                format!("{len} bytes is more than the {MAX_FILE_BYTES} accepted"),
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&bytes, path)
    }

    /// Parses the bytes of a MAT-file; `path` names it in errors.
    pub fn parse(bytes: &[u8], path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let (description, endian) = parse_header(bytes, path)?;
        let mut variables = Vec::new();
        let mut reader = Reader {
            buf: bytes,
            pos: HEADER_BYTES,
            endian,
            path,
            stream: Stream::File,
        };
        while reader.pos < bytes.len() {
            let at = reader.pos;
            let tag = reader.tag("top level")?;
            let variable = match tag.ty {
                MI_MATRIX => {
                    let data = reader.data(&tag, "top level")?;
                    reader.skip_padding(&tag);
                    reader.sub(data, at + 8).variable(0)?
                }
                MI_COMPRESSED => {
                    if tag.small {
                        return Err(reader.error("top level", at, "compressed element too small"));
                    }
                    let data = reader.data(&tag, "top level")?;
                    let inflated = inflate(data).map_err(|reason| {
                        reader.error("top level", at, format!("compressed element: {reason}"))
                    })?;
                    let mut inner = Reader {
                        buf: &inflated,
                        pos: 0,
                        endian,
                        path,
                        stream: Stream::Compressed(at),
                    };
                    let inner_tag = inner.tag("compressed element")?;
                    if inner_tag.ty != MI_MATRIX {
                        return Err(inner.error(
                            "compressed element",
                            0,
                            format!(
                                "holds data type {} ({}), expected miMATRIX",
                                inner_tag.ty,
                                type_name(inner_tag.ty)
                            ),
                        ));
                    }
                    let data = inner.data(&inner_tag, "compressed element")?;
                    inner.skip_padding(&inner_tag);
                    if inner.pos != inflated.len() {
                        return Err(inner.error(
                            "compressed element",
                            inner.pos,
                            format!(
                                "{} bytes after its miMATRIX element",
                                inflated.len() - inner.pos
                            ),
                        ));
                    }
                    inner.sub(data, 8).variable(0)?
                }
                other => {
                    return Err(reader.error(
                        "top level",
                        at,
                        format!(
                            "data type {other} ({}) where miMATRIX or miCOMPRESSED is expected",
                            type_name(other)
                        ),
                    ));
                }
            };
            variables.push(variable);
        }
        Ok(MatFile {
            path: path.to_path_buf(),
            description,
            big_endian: endian == Endian::Big,
            variables,
        })
    }

    /// The value of variable `name`, if present.
    pub fn get(&self, name: &str) -> Option<&MatArray> {
        self.variables
            .iter()
            .find(|v| v.name == name)
            .map(|v| &v.value)
    }

    /// The variable `name` as a numeric array; an [`Error::Format`] naming the file and the
    /// variable when it is missing or of another kind.
    pub fn numeric(&self, name: &str) -> Result<&NumericArray> {
        match self.require(name)? {
            MatArray::Numeric(a) => Ok(a),
            other => Err(self.wrong_kind(name, other, "numeric array")),
        }
    }

    /// The variable `name` as a cell array (errors like [`MatFile::numeric`]).
    pub fn cell(&self, name: &str) -> Result<&CellArray> {
        match self.require(name)? {
            MatArray::Cell(a) => Ok(a),
            other => Err(self.wrong_kind(name, other, "cell array")),
        }
    }

    fn require(&self, name: &str) -> Result<&MatArray> {
        self.get(name).ok_or_else(|| {
            let names: Vec<&str> = self.variables.iter().map(|v| v.name.as_str()).collect();
            Error::format(
                &self.path,
                name,
                format!("variable missing (the file has {names:?})"),
            )
        })
    }

    fn wrong_kind(&self, name: &str, found: &MatArray, expected: &str) -> Error {
        Error::format(
            &self.path,
            name,
            format!("is a {}, expected a {expected}", found.kind_name()),
        )
    }
}

/// The bytes of a tiny MAT-file holding `dt = 0.5`, for the module example.
#[doc(hidden)]
pub fn doc_example_bytes() -> Vec<u8> {
    let mut out = vec![b' '; TEXT_BYTES];
    out[..19].copy_from_slice(b"MATLAB 5.0 MAT-file");
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&0x0100u16.to_le_bytes());
    out.extend_from_slice(b"IM");
    let mut body = Vec::new();
    for (ty, data) in [
        (MI_UINT32, [6u32.to_le_bytes(), [0; 4]].concat()),
        (MI_INT32, [1i32.to_le_bytes(), 1i32.to_le_bytes()].concat()),
    ] {
        body.extend_from_slice(&ty.to_le_bytes());
        body.extend_from_slice(&8u32.to_le_bytes());
        body.extend_from_slice(&data);
    }
    // Name "dt" as a small data element.
    body.extend_from_slice(&((2u32 << 16) | MI_INT8).to_le_bytes());
    body.extend_from_slice(b"dt\0\0");
    body.extend_from_slice(&MI_DOUBLE.to_le_bytes());
    body.extend_from_slice(&8u32.to_le_bytes());
    body.extend_from_slice(&0.5f64.to_le_bytes());
    out.extend_from_slice(&MI_MATRIX.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

/// Checks the 128-byte header; returns its text and the file's byte order.
fn parse_header(bytes: &[u8], path: &Path) -> Result<(String, Endian)> {
    let Some(header) = bytes.get(..HEADER_BYTES) else {
        return Err(Error::format(
            path,
            "header",
            format!(
                "truncated: {} bytes, a MAT-file header has {HEADER_BYTES}",
                bytes.len()
            ),
        ));
    };
    let text = header.get(..TEXT_BYTES).unwrap_or_default();
    if !text.starts_with(b"MATLAB") {
        return Err(Error::format(
            path,
            "header",
            "does not start with `MATLAB`: not a v5 MAT-file (v4 files are not supported)",
        ));
    }
    let endian = match header.get(126..128) {
        Some(b"IM") => Endian::Little,
        Some(b"MI") => Endian::Big,
        other => {
            return Err(Error::format(
                path,
                "header endian indicator (offset 126)",
                format!("{other:?} is neither `IM` nor `MI`"),
            ));
        }
    };
    let version_bytes = [
        header.get(124).copied().unwrap_or(0),
        header.get(125).copied().unwrap_or(0),
    ];
    let version = match endian {
        Endian::Little => u16::from_le_bytes(version_bytes),
        Endian::Big => u16::from_be_bytes(version_bytes),
    };
    if version != 0x0100 {
        let hint = if version == 0x0200 {
            " (a v7.3 file, which is HDF5: re-save it with `save -v7`)"
        } else {
            ""
        };
        return Err(Error::format(
            path,
            "header version (offset 124)",
            format!("{version:#06x}, expected 0x0100{hint}"),
        ));
    }
    let description = String::from_utf8_lossy(text)
        .trim_end_matches([' ', '\0'])
        .to_string();
    Ok((description, endian))
}

/// Inflates a zlib stream, bounded by [`MAX_DECOMPRESSED_BYTES`].
fn inflate(data: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(data)
        .take(MAX_DECOMPRESSED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("zlib: {e}"))?;
    if out.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(format!(
            "inflates to more than the {MAX_DECOMPRESSED_BYTES} bytes accepted"
        ));
    }
    Ok(out)
}

/// Where a reader's offsets count from.
#[derive(Debug, Clone, Copy)]
enum Stream {
    /// The file itself.
    File,
    /// The decompressed stream of the `miCOMPRESSED` element at this file offset.
    Compressed(usize),
}

/// An element's tag.
#[derive(Debug, Clone, Copy)]
struct Tag {
    ty: u32,
    len: usize,
    /// Small data element format: the data is in the tag's second word.
    small: bool,
    /// Offset of the tag.
    at: usize,
}

/// A cursor over a slice of the file or of a decompressed stream.
struct Reader<'a> {
    buf: &'a [u8],
    /// The current offset, counted in the stream (`buf` starts at `base` for sub-readers).
    pos: usize,
    endian: Endian,
    path: &'a Path,
    stream: Stream,
}

/// A sub-reader over one `miMATRIX` element's data.
struct MatrixReader<'a> {
    buf: &'a [u8],
    /// Stream offset of `buf[0]`.
    base: usize,
    /// Offset into `buf`.
    pos: usize,
    endian: Endian,
    path: &'a Path,
    stream: Stream,
}

impl<'a> Reader<'a> {
    fn error(&self, field: &str, at: usize, reason: impl Into<String>) -> Error {
        located_error(self.path, self.stream, field, at, reason)
    }

    fn word(&self, bytes: [u8; 4]) -> u32 {
        match self.endian {
            Endian::Little => u32::from_le_bytes(bytes),
            Endian::Big => u32::from_be_bytes(bytes),
        }
    }

    /// Reads a tag at `pos`.
    fn tag(&mut self, field: &str) -> Result<Tag> {
        let at = self.pos;
        let Some(bytes) = self.buf.get(at..).and_then(|b| b.first_chunk::<8>()) else {
            return Err(self.error(
                field,
                at,
                format!(
                    "truncated element tag: {} of 8 bytes",
                    self.buf.len().saturating_sub(at)
                ),
            ));
        };
        let (first, second) = split8(bytes);
        let first = self.word(first);
        let tag = if first >> 16 != 0 {
            // Small data element: type in the low half, byte count in the high half.
            let len = (first >> 16) as usize;
            if len > 4 {
                return Err(self.error(
                    field,
                    at,
                    format!("small data element of {len} bytes (at most 4)"),
                ));
            }
            Tag {
                ty: first & 0xffff,
                len,
                small: true,
                at,
            }
        } else {
            Tag {
                ty: first,
                len: self.word(second) as usize,
                small: false,
                at,
            }
        };
        self.pos = at + if tag.small { 0 } else { 8 };
        Ok(tag)
    }

    /// The data of the element whose tag was just read; moves past it (not its padding).
    fn data(&mut self, tag: &Tag, field: &str) -> Result<&'a [u8]> {
        if tag.small {
            let data = self
                .buf
                .get(tag.at + 4..tag.at + 4 + tag.len)
                .unwrap_or_default();
            self.pos = tag.at + 8;
            return Ok(data);
        }
        let start = self.pos;
        let Some(data) = start
            .checked_add(tag.len)
            .and_then(|end| self.buf.get(start..end))
        else {
            return Err(self.error(
                field,
                tag.at,
                format!(
                    "element of {} bytes ({}) runs past the end: {} bytes left",
                    tag.len,
                    type_name(tag.ty),
                    self.buf.len().saturating_sub(start)
                ),
            ));
        };
        self.pos = start + tag.len;
        Ok(data)
    }

    /// Skips the padding to 8 bytes after a regular element (none after `miCOMPRESSED`;
    /// missing padding at the very end of the stream is tolerated).
    fn skip_padding(&mut self, tag: &Tag) {
        if !tag.small && tag.ty != MI_COMPRESSED {
            let pad = (8 - tag.len % 8) % 8;
            self.pos = (self.pos + pad).min(self.buf.len());
        }
    }

    fn sub(&self, data: &'a [u8], base: usize) -> MatrixReader<'a> {
        MatrixReader {
            buf: data,
            base,
            pos: 0,
            endian: self.endian,
            path: self.path,
            stream: self.stream,
        }
    }
}

fn split8(bytes: &[u8; 8]) -> ([u8; 4], [u8; 4]) {
    let mut a = [0; 4];
    let mut b = [0; 4];
    a.copy_from_slice(&bytes[..4]);
    b.copy_from_slice(&bytes[4..]);
    (a, b)
}

fn located_error(
    path: &Path,
    stream: Stream,
    field: &str,
    at: usize,
    reason: impl Into<String>,
) -> Error {
    let place = match stream {
        Stream::File => format!("{field} (byte {at})"),
        Stream::Compressed(c) => {
            format!("{field} (byte {at} of the compressed element at byte {c})")
        }
    };
    Error::format(path, place, reason)
}

/// The MAT name of data type `ty`.
fn type_name(ty: u32) -> &'static str {
    match ty {
        MI_INT8 => "miINT8",
        MI_UINT8 => "miUINT8",
        MI_INT16 => "miINT16",
        MI_UINT16 => "miUINT16",
        MI_INT32 => "miINT32",
        MI_UINT32 => "miUINT32",
        MI_SINGLE => "miSINGLE",
        MI_DOUBLE => "miDOUBLE",
        MI_INT64 => "miINT64",
        MI_UINT64 => "miUINT64",
        MI_MATRIX => "miMATRIX",
        MI_COMPRESSED => "miCOMPRESSED",
        16 => "miUTF8",
        17 => "miUTF16",
        18 => "miUTF32",
        _ => "unknown",
    }
}

/// The MAT name of array class `class`.
fn class_name(class: u8) -> &'static str {
    match class {
        1 => "mxCELL",
        2 => "mxSTRUCT",
        3 => "mxOBJECT",
        4 => "mxCHAR",
        5 => "mxSPARSE",
        6 => "mxDOUBLE",
        7 => "mxSINGLE",
        8 => "mxINT8",
        9 => "mxUINT8",
        10 => "mxINT16",
        11 => "mxUINT16",
        12 => "mxINT32",
        13 => "mxUINT32",
        14 => "mxINT64",
        15 => "mxUINT64",
        16 => "mxFUNCTION",
        17 => "mxOPAQUE",
        _ => "unknown",
    }
}

impl<'a> MatrixReader<'a> {
    fn error(&self, field: &str, at: usize, reason: impl Into<String>) -> Error {
        located_error(self.path, self.stream, field, self.base + at, reason)
    }

    /// A stream-level reader positioned at this reader's offset, to read one element.
    fn element(&mut self, field: &str) -> Result<(Tag, &'a [u8])> {
        let mut r = Reader {
            buf: self.buf,
            pos: self.pos,
            endian: self.endian,
            path: self.path,
            stream: self.stream,
        };
        let tag = r.tag(field).map_err(|_| self.truncated(field))?;
        let data = match r.data(&tag, field) {
            Ok(d) => d,
            Err(_) => {
                return Err(self.error(
                    field,
                    tag.at,
                    format!(
                        "element of {} bytes ({}) runs past its array: {} bytes left",
                        tag.len,
                        type_name(tag.ty),
                        self.buf.len().saturating_sub(tag.at + 8)
                    ),
                ));
            }
        };
        r.skip_padding(&tag);
        self.pos = r.pos;
        Ok((tag, data))
    }

    fn truncated(&self, field: &str) -> Error {
        self.error(
            field,
            self.pos,
            format!(
                "truncated element tag: {} of 8 bytes left in the array",
                self.buf.len().saturating_sub(self.pos)
            ),
        )
    }

    fn word(&self, bytes: &[u8]) -> u32 {
        let mut b = [0; 4];
        b.copy_from_slice(bytes.get(..4).unwrap_or(&[0; 4]));
        match self.endian {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        }
    }

    /// Reads one element of type `ty` (exactly), for the header parts of an array.
    fn expect(&mut self, ty: u32, field: &str) -> Result<(Tag, &'a [u8])> {
        let (tag, data) = self.element(field)?;
        if tag.ty != ty {
            return Err(self.error(
                field,
                tag.at,
                format!(
                    "data type {} ({}), expected {}",
                    tag.ty,
                    type_name(tag.ty),
                    type_name(ty)
                ),
            ));
        }
        Ok((tag, data))
    }

    /// Parses this `miMATRIX` element as a named variable.
    fn variable(mut self, depth: usize) -> Result<MatVariable> {
        let (name, value) = self.matrix("", depth)?;
        Ok(MatVariable { name, value })
    }

    /// Parses the array; `field` is its path for errors (empty at the top, where the
    /// array's own name is used).
    fn matrix(&mut self, field: &str, depth: usize) -> Result<(String, MatArray)> {
        if self.buf.is_empty() {
            // An empty miMATRIX: an empty array.
            return Ok((
                String::new(),
                MatArray::Numeric(NumericArray {
                    class: NumericClass::Double,
                    dims: vec![0, 0],
                    data: Vec::new(),
                }),
            ));
        }
        let label = |part: &str| {
            if field.is_empty() {
                part.to_string()
            } else {
                format!("{field}: {part}")
            }
        };
        if depth > MAX_DEPTH {
            return Err(self.error(
                field,
                0,
                format!("cells and structs nest more than {MAX_DEPTH} deep"),
            ));
        }
        let (tag, flags) = self.expect(MI_UINT32, &label("array flags"))?;
        if flags.len() != 8 {
            return Err(self.error(
                &label("array flags"),
                tag.at,
                format!("{} bytes, expected 8", flags.len()),
            ));
        }
        let flags = self.word(flags);
        let class = (flags & 0xff) as u8;
        let (tag, dims_bytes) = self.expect(MI_INT32, &label("dimensions"))?;
        let dims = self.dims(dims_bytes, tag.at, &label("dimensions"))?;
        let (tag, name_bytes) = self.expect(MI_INT8, &label("array name"))?;
        let name = std::str::from_utf8(name_bytes)
            .map_err(|_| self.error(&label("array name"), tag.at, "is not UTF-8"))?
            .to_string();
        let path = if field.is_empty() {
            name.clone()
        } else {
            field.to_string()
        };
        let numel = numel(&dims)
            .ok_or_else(|| self.error(&path, 0, format!("dimensions {dims:?} overflow")))?;
        // Every cell or struct field takes at least an 8-byte tag: bound the counts by the
        // bytes left before allocating anything for them.
        if matches!(class, MX_CELL | MX_STRUCT)
            && numel > self.buf.len().saturating_sub(self.pos) / 8
        {
            // Structs without fields hold no bytes per element; MATLAB never writes large ones.
            if !(class == MX_STRUCT && numel <= MAX_EMPTY_STRUCT_ELEMENTS) {
                return Err(self.error(
                    &path,
                    0,
                    format!(
                        "dimensions {dims:?} ({numel} elements) do not fit in the {} bytes left",
                        self.buf.len().saturating_sub(self.pos)
                    ),
                ));
            }
        }
        if flags & FLAG_COMPLEX != 0 {
            return Err(self.error(&path, 0, "complex arrays are not supported"));
        }
        if flags & FLAG_LOGICAL != 0 {
            return Err(self.error(&path, 0, "logical arrays are not supported"));
        }
        let value = match class {
            MX_DOUBLE | MX_SINGLE => {
                let class = if class == MX_DOUBLE {
                    NumericClass::Double
                } else {
                    NumericClass::Single
                };
                let (tag, data) = self.element(&format!("{path}: real part"))?;
                let values = self.numbers(&tag, data, class, &path)?;
                if values.len() != numel {
                    return Err(self.error(
                        &format!("{path}: real part"),
                        tag.at,
                        format!(
                            "{} values for dimensions {dims:?} ({numel} elements)",
                            values.len()
                        ),
                    ));
                }
                MatArray::Numeric(NumericArray {
                    class,
                    dims,
                    data: values,
                })
            }
            MX_CELL => {
                let mut cells = Vec::with_capacity(numel.min(self.buf.len() / 8));
                for i in 0..numel {
                    let cell_path = format!("{path}{{{}}}", i + 1);
                    let (_, value) = self.child(&cell_path, depth)?;
                    cells.push(value);
                }
                MatArray::Cell(CellArray { dims, cells })
            }
            MX_STRUCT => {
                let fields = self.field_names(&path)?;
                let mut elements = Vec::with_capacity(numel.min(self.buf.len() / 8));
                for i in 0..numel {
                    let mut values = Vec::with_capacity(fields.len());
                    for f in &fields {
                        let element_path = if numel == 1 {
                            format!("{path}.{f}")
                        } else {
                            format!("{path}({}).{f}", i + 1)
                        };
                        values.push(self.child(&element_path, depth)?.1);
                    }
                    elements.push(values);
                }
                MatArray::Struct(StructArray {
                    dims,
                    fields,
                    elements,
                })
            }
            other => {
                return Err(self.error(
                    &path,
                    0,
                    format!(
                        "array class {other} ({}) is not supported (only mxDOUBLE, mxSINGLE, \
                         mxCELL and mxSTRUCT)",
                        class_name(other)
                    ),
                ));
            }
        };
        if self.pos < self.buf.len() {
            return Err(self.error(
                &path,
                self.pos,
                format!(
                    "{} unexpected bytes at the end of the array",
                    self.buf.len() - self.pos
                ),
            ));
        }
        Ok((name, value))
    }

    /// Reads a nested `miMATRIX` element (a cell or a struct field).
    fn child(&mut self, path: &str, depth: usize) -> Result<(String, MatArray)> {
        let (tag, data) = self.element(path)?;
        if tag.ty != MI_MATRIX {
            return Err(self.error(
                path,
                tag.at,
                format!(
                    "data type {} ({}), expected miMATRIX",
                    tag.ty,
                    type_name(tag.ty)
                ),
            ));
        }
        let mut sub = MatrixReader {
            buf: data,
            base: self.base + tag.at + 8,
            pos: 0,
            endian: self.endian,
            path: self.path,
            stream: self.stream,
        };
        sub.matrix(path, depth + 1)
    }

    fn dims(&self, bytes: &[u8], at: usize, field: &str) -> Result<Vec<usize>> {
        if bytes.len() % 4 != 0 || bytes.len() < 8 || bytes.len() > 4 * MAX_DIMS {
            return Err(self.error(
                field,
                at,
                format!(
                    "{} bytes: expected 2 to {MAX_DIMS} int32 dimensions",
                    bytes.len()
                ),
            ));
        }
        bytes
            .chunks_exact(4)
            .map(|c| {
                let d = self.word(c) as i32;
                usize::try_from(d)
                    .map_err(|_| self.error(field, at, format!("negative dimension {d}")))
            })
            .collect()
    }

    fn field_names(&mut self, path: &str) -> Result<Vec<String>> {
        let field = format!("{path}: field name length");
        let (tag, len_bytes) = self.expect(MI_INT32, &field)?;
        if len_bytes.len() != 4 {
            return Err(self.error(
                &field,
                tag.at,
                format!("{} bytes, expected 4", len_bytes.len()),
            ));
        }
        let len = self.word(len_bytes) as usize;
        if len == 0 || len > MAX_FIELD_NAME_LEN {
            return Err(self.error(
                &field,
                tag.at,
                format!("{len}, expected 1 to {MAX_FIELD_NAME_LEN}"),
            ));
        }
        let field = format!("{path}: field names");
        let (tag, names) = self.expect(MI_INT8, &field)?;
        if names.len() % len != 0 {
            return Err(self.error(
                &field,
                tag.at,
                format!("{} bytes is not a multiple of {len}", names.len()),
            ));
        }
        let mut fields: Vec<String> = Vec::with_capacity(names.len() / len);
        for slot in names.chunks_exact(len) {
            let end = slot.iter().position(|&b| b == 0).unwrap_or(slot.len());
            let name = std::str::from_utf8(slot.get(..end).unwrap_or_default())
                .map_err(|_| self.error(&field, tag.at, "a field name is not UTF-8"))?;
            if name.is_empty() || fields.iter().any(|f| f == name) {
                return Err(self.error(
                    &field,
                    tag.at,
                    format!("empty or repeated field name {name:?}"),
                ));
            }
            fields.push(name.to_string());
        }
        Ok(fields)
    }

    /// Decodes numeric data of any type MATLAB packs a `class` array into.
    fn numbers(&self, tag: &Tag, data: &[u8], class: NumericClass, path: &str) -> Result<Vec<f64>> {
        let field = format!("{path}: real part");
        let size = match tag.ty {
            MI_INT8 | MI_UINT8 => 1,
            MI_INT16 | MI_UINT16 => 2,
            MI_INT32 | MI_UINT32 | MI_SINGLE => 4,
            MI_DOUBLE if class == NumericClass::Double => 8,
            other => {
                return Err(self.error(
                    &field,
                    tag.at,
                    format!(
                        "data type {other} ({}) is not supported for a {} array",
                        type_name(other),
                        if class == NumericClass::Double {
                            "double"
                        } else {
                            "single"
                        }
                    ),
                ));
            }
        };
        if data.len() % size != 0 {
            return Err(self.error(
                &field,
                tag.at,
                format!(
                    "{} bytes is not a whole number of {}-byte values",
                    data.len(),
                    size
                ),
            ));
        }
        let big = self.endian == Endian::Big;
        let values = data
            .chunks_exact(size)
            .map(|c| {
                let mut b = [0u8; 8];
                let Some(dst) = b.get_mut(..size) else {
                    return 0.0;
                };
                dst.copy_from_slice(c);
                if big {
                    dst.reverse();
                }
                let [b0, b1, b2, b3, b4, b5, b6, b7] = b;
                match tag.ty {
                    MI_INT8 => f64::from(b0 as i8),
                    MI_UINT8 => f64::from(b0),
                    MI_INT16 => f64::from(i16::from_le_bytes([b0, b1])),
                    MI_UINT16 => f64::from(u16::from_le_bytes([b0, b1])),
                    MI_INT32 => f64::from(i32::from_le_bytes([b0, b1, b2, b3])),
                    MI_UINT32 => f64::from(u32::from_le_bytes([b0, b1, b2, b3])),
                    MI_SINGLE => f64::from(f32::from_le_bytes([b0, b1, b2, b3])),
                    _ => f64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7]),
                }
            })
            .collect();
        Ok(values)
    }
}

/// The product of `dims`, or `None` on overflow.
fn numel(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

#[cfg(test)]
pub(crate) mod tests {
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
            let acc_values: Vec<[u8; 4]> =
                [0.5f32, -0.25].iter().map(|v| v.to_le_bytes()).collect();
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
}
