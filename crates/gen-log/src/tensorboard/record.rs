//! TFRecord framing: each record is its length as a little-endian `u64`, the masked CRC-32C of
//! those 8 bytes, the data, and the masked CRC-32C of the data (both checksums little-endian
//! `u32`). This is TensorFlow's `io/record_writer.cc` format, which event files use.

use std::io::Write;

use crate::error::Corruption;

/// The bytes a record adds around its data: length, length checksum, data checksum.
pub const FRAMING_BYTES: usize = 8 + 4 + 4;

/// TensorFlow's masked CRC-32C (`crc32c::Mask` in `lib/hash/crc32c.h`): the CRC rotated right by
/// 15 bits plus `0xa282ead8`, so that a checksum of data holding checksums stays well spread.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
        .rotate_right(15)
        .wrapping_add(0xa282_ead8)
}

/// Writes `data` as one record.
pub fn write_record<W: Write>(out: &mut W, data: &[u8]) -> std::io::Result<()> {
    // A usize always fits a u64 on the platforms Rust supports.
    let len = (data.len() as u64).to_le_bytes();
    out.write_all(&len)?;
    out.write_all(&masked_crc32c(&len).to_le_bytes())?;
    out.write_all(data)?;
    out.write_all(&masked_crc32c(data).to_le_bytes())
}

/// The records of a file's bytes, in order, each checked against both checksums.
///
/// Yields `(offset, data)` per record, or one error (with the record's offset) after which it
/// stops. A file that ends inside a record gives [`Corruption::Truncated`]: TensorBoard reads
/// such a tail as "not written yet".
pub fn records(bytes: &[u8]) -> Records<'_> {
    Records {
        bytes,
        offset: 0,
        failed: false,
    }
}

/// The iterator [`records`] returns.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    bytes: &'a [u8],
    offset: usize,
    failed: bool,
}

impl<'a> Records<'a> {
    fn next_record(&mut self) -> Result<&'a [u8], Corruption> {
        let rest = self.bytes.get(self.offset..).unwrap_or_default();
        let truncated = |needed: usize| Corruption::Truncated {
            needed: needed as u64,
            left: rest.len() as u64,
        };
        let (Some(len_bytes), Some(len_crc)) = (rest.get(..8), rest.get(8..12)) else {
            return Err(truncated(12));
        };
        let stored = le_u32(len_crc);
        let computed = masked_crc32c(len_bytes);
        if stored != computed {
            return Err(Corruption::LengthChecksum { stored, computed });
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(len_bytes);
        let len = u64::from_le_bytes(len);
        let needed = usize::try_from(len)
            .ok()
            .and_then(|len| len.checked_add(FRAMING_BYTES));
        let Some(needed) = needed.filter(|&n| n <= rest.len()) else {
            return Err(Corruption::Truncated {
                needed: len.saturating_add(FRAMING_BYTES as u64),
                left: rest.len() as u64,
            });
        };
        let (Some(data), Some(data_crc)) = (rest.get(12..needed - 4), rest.get(needed - 4..needed))
        else {
            return Err(truncated(needed));
        };
        let stored = le_u32(data_crc);
        let computed = masked_crc32c(data);
        if stored != computed {
            return Err(Corruption::DataChecksum { stored, computed });
        }
        self.offset += needed;
        Ok(data)
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<(u64, &'a [u8]), (u64, Corruption)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.offset >= self.bytes.len() {
            return None;
        }
        let offset = self.offset as u64;
        match self.next_record() {
            Ok(data) => Some(Ok((offset, data))),
            Err(problem) => {
                self.failed = true;
                Some(Err((offset, problem)))
            }
        }
    }
}

fn le_u32(bytes: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(bytes.get(..4).unwrap_or(&[0; 4]));
    u32::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values from TensorBoard's own pure-Python implementation (tensorboard 2.21.0):
    /// ```python
    /// from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c, crc32c
    /// import struct
    /// hex(crc32c(b"123456789")), hex(masked_crc32c(b"123456789")), hex(masked_crc32c(b""))
    /// hex(masked_crc32c(struct.pack("<Q", 5)))
    /// # 0xe3069283 0xc78ab0e5 0xa282ead8 0x3e04b2ea
    /// ```
    #[test]
    fn masked_crc32c_matches_tensorboard() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(masked_crc32c(b"123456789"), 0xc78a_b0e5);
        assert_eq!(masked_crc32c(b""), 0xa282_ead8);
        assert_eq!(masked_crc32c(&5u64.to_le_bytes()), 0x3e04_b2ea);
    }

    #[test]
    fn a_record_round_trips() {
        let mut out = Vec::new();
        write_record(&mut out, b"hello").unwrap();
        write_record(&mut out, b"").unwrap();
        assert_eq!(out.len(), 2 * FRAMING_BYTES + 5);
        let got: Vec<_> = records(&out).collect::<Result<_, _>>().unwrap();
        assert_eq!(got, vec![(0, &b"hello"[..]), (21, &b""[..])]);
    }

    #[test]
    fn a_cut_record_is_truncated() {
        let mut out = Vec::new();
        write_record(&mut out, b"hello").unwrap();
        for cut in 1..out.len() {
            let got: Vec<_> = records(&out[..cut]).collect();
            assert!(
                matches!(got.as_slice(), [Err((0, Corruption::Truncated { .. }))]),
                "cut at {cut}: {got:?}"
            );
        }
    }
}
