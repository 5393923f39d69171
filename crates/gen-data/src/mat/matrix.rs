//! One `miMATRIX` element: its array flags, dimensions and name, then the real part of a
//! numeric array (in whichever data type MATLAB packed it), the cells of a cell array, or the
//! field names and values of a struct array.

use super::array::{CellArray, MatArray, MatVariable, NumericArray, NumericClass, StructArray};
use super::header::Endian;
use super::tags::{
    MI_DOUBLE, MI_INT8, MI_INT16, MI_INT32, MI_MATRIX, MI_SINGLE, MI_UINT8, MI_UINT16, MI_UINT32,
    Reader, Stream, Tag, located_error, type_name,
};
use crate::{Error, Result};
use std::path::Path;

/// Deepest accepted nesting of cells and structs.
pub const MAX_DEPTH: usize = 32;
/// Most dimensions an array may have.
pub const MAX_DIMS: usize = 32;
/// Longest accepted struct field name slot (MATLAB writes 32 or 64).
pub const MAX_FIELD_NAME_LEN: usize = 256;

/// Most elements of a struct array without fields (whose elements take no bytes).
const MAX_EMPTY_STRUCT_ELEMENTS: usize = 1 << 16;

// Array classes.
pub(super) const MX_CELL: u8 = 1;
pub(super) const MX_STRUCT: u8 = 2;
pub(super) const MX_DOUBLE: u8 = 6;
pub(super) const MX_SINGLE: u8 = 7;

// Array flag bits (in the first word of the array flags).
pub(super) const FLAG_COMPLEX: u32 = 0x0800;
pub(super) const FLAG_LOGICAL: u32 = 0x0200;

/// A sub-reader over one `miMATRIX` element's data.
pub(super) struct MatrixReader<'a> {
    buf: &'a [u8],
    /// Stream offset of `buf[0]`.
    base: usize,
    /// Offset into `buf`.
    pos: usize,
    endian: Endian,
    path: &'a Path,
    stream: Stream,
}

impl<'a> MatrixReader<'a> {
    /// A reader over `data`, one `miMATRIX` element's data found by `parent`, which starts at
    /// stream offset `base`.
    pub(super) fn new(parent: &Reader<'a>, data: &'a [u8], base: usize) -> Self {
        MatrixReader {
            buf: data,
            base,
            pos: 0,
            endian: parent.endian,
            path: parent.path,
            stream: parent.stream,
        }
    }

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
    pub(super) fn variable(mut self, depth: usize) -> Result<MatVariable> {
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
