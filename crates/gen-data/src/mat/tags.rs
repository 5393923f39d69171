//! Data elements: the 8-byte tag (regular, or the small format that packs up to 4 bytes of
//! data into the tag), the data it frames and the padding to 8 bytes, the data type codes, and
//! where an error is (a byte offset in the file, or in a decompressed `miCOMPRESSED` stream).

use super::header::Endian;
use crate::{Error, Result};
use std::path::Path;

// Data types.
pub(super) const MI_INT8: u32 = 1;
pub(super) const MI_UINT8: u32 = 2;
pub(super) const MI_INT16: u32 = 3;
pub(super) const MI_UINT16: u32 = 4;
pub(super) const MI_INT32: u32 = 5;
pub(super) const MI_UINT32: u32 = 6;
pub(super) const MI_SINGLE: u32 = 7;
pub(super) const MI_DOUBLE: u32 = 9;
pub(super) const MI_INT64: u32 = 12;
pub(super) const MI_UINT64: u32 = 13;
pub(super) const MI_MATRIX: u32 = 14;
pub(super) const MI_COMPRESSED: u32 = 15;

/// Where a reader's offsets count from.
#[derive(Debug, Clone, Copy)]
pub(super) enum Stream {
    /// The file itself.
    File,
    /// The decompressed stream of the `miCOMPRESSED` element at this file offset.
    Compressed(usize),
}

/// An element's tag.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tag {
    pub(super) ty: u32,
    pub(super) len: usize,
    /// Small data element format: the data is in the tag's second word.
    pub(super) small: bool,
    /// Offset of the tag.
    pub(super) at: usize,
}

/// A cursor over a slice of the file or of a decompressed stream.
pub(super) struct Reader<'a> {
    pub(super) buf: &'a [u8],
    /// The current offset, counted in the stream (`buf` starts at `base` for sub-readers).
    pub(super) pos: usize,
    pub(super) endian: Endian,
    pub(super) path: &'a Path,
    pub(super) stream: Stream,
}

impl<'a> Reader<'a> {
    pub(super) fn error(&self, field: &str, at: usize, reason: impl Into<String>) -> Error {
        located_error(self.path, self.stream, field, at, reason)
    }

    pub(super) fn word(&self, bytes: [u8; 4]) -> u32 {
        match self.endian {
            Endian::Little => u32::from_le_bytes(bytes),
            Endian::Big => u32::from_be_bytes(bytes),
        }
    }

    /// Reads a tag at `pos`.
    pub(super) fn tag(&mut self, field: &str) -> Result<Tag> {
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
    pub(super) fn data(&mut self, tag: &Tag, field: &str) -> Result<&'a [u8]> {
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
    pub(super) fn skip_padding(&mut self, tag: &Tag) {
        if !tag.small && tag.ty != MI_COMPRESSED {
            let pad = (8 - tag.len % 8) % 8;
            self.pos = (self.pos + pad).min(self.buf.len());
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

pub(super) fn located_error(
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
pub(super) fn type_name(ty: u32) -> &'static str {
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
