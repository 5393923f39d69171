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

// One file per part of the format: the 128-byte header, the element tags, the `miMATRIX`
// decoder and the array model it builds. This file holds `MatFile`, the top-level loop.
mod array;
mod header;
mod matrix;
mod tags;
#[cfg(test)]
pub(crate) mod tests;

pub use array::{CellArray, MatArray, MatVariable, NumericArray, NumericClass, StructArray};
pub use matrix::{MAX_DEPTH, MAX_DIMS, MAX_FIELD_NAME_LEN};

use crate::{Error, Result};
use header::{Endian, HEADER_BYTES, TEXT_BYTES, parse_header};
use matrix::MatrixReader;
use std::io::Read;
use std::path::{Path, PathBuf};
use tags::{
    MI_COMPRESSED, MI_DOUBLE, MI_INT8, MI_INT32, MI_MATRIX, MI_UINT32, Reader, Stream, type_name,
};

/// Largest accepted file.
pub const MAX_FILE_BYTES: u64 = 1 << 30;
/// Largest accepted decompressed `miCOMPRESSED` element.
pub const MAX_DECOMPRESSED_BYTES: u64 = 512 << 20;

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
                    MatrixReader::new(&reader, data, at + 8).variable(0)?
                }
                MI_COMPRESSED => {
                    if tag.small {
                        return Err(reader.error("top level", at, "compressed element too small"));
                    }
                    let data = reader.data(&tag, "top level")?;
                    let inflated = inflate(data, endian).map_err(|reason| {
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
                    MatrixReader::new(&inner, data, 8).variable(0)?
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

/// Inflates the zlib stream of an `miCOMPRESSED` element. The stream holds one element whose
/// tag states its length: that length (padded to 8) must be at most [`MAX_DECOMPRESSED_BYTES`],
/// checked from the first 8 inflated bytes, and the stream may not inflate past it. So a bomb
/// is refused after at most 8 bytes when its tag states a huge length, and after at most the
/// stated length (never more than the limit) when the tag lies.
fn inflate(data: &[u8], endian: Endian) -> std::result::Result<Vec<u8>, String> {
    let mut z = flate2::read::ZlibDecoder::new(data);
    let mut out = Vec::new();
    (&mut z)
        .take(8)
        .read_to_end(&mut out)
        .map_err(|e| format!("zlib: {e}"))?;
    let Some(tag) = out.first_chunk::<8>() else {
        // Shorter than a tag: the caller reports it.
        return Ok(out);
    };
    let word = |b: [u8; 4]| match endian {
        Endian::Little => u32::from_le_bytes(b),
        Endian::Big => u32::from_be_bytes(b),
    };
    let [a, b, c, d, e, f, g, h] = *tag;
    let (ty, len) = (word([a, b, c, d]), word([e, f, g, h]));
    // The small format packs the type and length into the first word: 8 bytes in all.
    let total = if ty >> 16 != 0 {
        8
    } else {
        8 + u64::from(len).div_ceil(8) * 8
    };
    if total > MAX_DECOMPRESSED_BYTES {
        return Err(format!(
            "its element's tag states {len} bytes, more than the {MAX_DECOMPRESSED_BYTES} \
             bytes accepted"
        ));
    }
    z.take(total - 8 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("zlib: {e}"))?;
    if out.len() as u64 > total {
        return Err(format!(
            "inflates past the {total} bytes its element's tag states"
        ));
    }
    Ok(out)
}
