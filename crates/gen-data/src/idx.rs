//! The IDX file format of MNIST-style datasets (MNIST, Fashion-MNIST, KMNIST...): reading,
//! writing and validation. The datasets themselves are loaded by [`crate::mnist`].
//!
//! An IDX file is a 4-byte magic number `00 00 TT DD` (`TT` the element type, `DD` the number of
//! dimensions), `DD` big-endian `u32` sizes, then the elements in row-major order. MNIST images
//! are `u8` with 3 dimensions `(n, h, w)`; labels are `u8` with 1 dimension `(n)`. Files may be
//! gzip-compressed; compression is detected by the gzip magic bytes `1F 8B`, not by the name.
//!
//! Readers check the magic, the element type, the number of dimensions and that the payload
//! length matches the header exactly; anything else is an [`Error::Format`] naming the file and
//! the field (`"magic"`, `"dtype"`, `"dims"`, `"payload"`, `"gzip"`, `"size"`). Sizes are bounded
//! by [`MAX_PAYLOAD_BYTES`], and memory grows only with data actually read, so a corrupt header
//! cannot cause a huge allocation.

// The dataset loaders lived here before `mnist` took them; their old paths keep working.
use crate::{Error, Result};
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use ndarray::{Array1, Array3, ArrayBase, Data, Ix1, Ix3};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

/// The largest payload (elements after the header) a reader accepts: 1 GiB. MNIST's largest
/// file holds 47 MB.
pub const MAX_PAYLOAD_BYTES: u64 = 1 << 30;

/// The IDX type code of unsigned bytes.
const TYPE_U8: u8 = 0x08;
/// The first two bytes of a gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1F, 0x8B];
/// Capacity reserved before reading a payload; the buffer grows beyond it only as data arrives.
const INITIAL_CAPACITY: u64 = 1 << 20;
/// How many trailing bytes are counted for an error message.
const TRAILING_COUNT_LIMIT: u64 = 1 << 20;

/// Reads an IDX file of `u8` images, plain or gzip-compressed, as `(n, h, w)`.
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<Array3<u8>> {
    let path = path.as_ref();
    decode_idx_images(&read_file(path)?, path)
}

/// Reads an IDX file of `u8` labels, plain or gzip-compressed, as `(n)`.
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Array1<u8>> {
    let path = path.as_ref();
    decode_idx_labels(&read_file(path)?, path)
}

/// Decodes the bytes of an IDX images file (plain or gzip); `origin` names it in errors.
pub fn decode_idx_images(bytes: &[u8], origin: &Path) -> Result<Array3<u8>> {
    let (dims, payload) = decode(bytes, origin, 3)?;
    let shape = match dims[..] {
        [n, h, w] => (n, h, w),
        _ => return Err(Error::format(origin, "dims", "expected 3 dimensions")),
    };
    Array3::from_shape_vec(shape, payload)
        .map_err(|e| Error::format(origin, "dims", format!("shape {shape:?}: {e}")))
}

/// Decodes the bytes of an IDX labels file (plain or gzip); `origin` names it in errors.
pub fn decode_idx_labels(bytes: &[u8], origin: &Path) -> Result<Array1<u8>> {
    let (_, payload) = decode(bytes, origin, 1)?;
    Ok(Array1::from_vec(payload))
}

/// The uncompressed IDX bytes of `(n, h, w)` `u8` images. Errors when a size exceeds `u32`.
pub fn encode_idx_images<S: Data<Elem = u8>>(images: &ArrayBase<S, Ix3>) -> Result<Vec<u8>> {
    let (n, h, w) = images.dim();
    encode(&[n, h, w], images.iter().copied(), "images")
}

/// The uncompressed IDX bytes of `(n)` `u8` labels. Errors when `n` exceeds `u32`.
pub fn encode_idx_labels<S: Data<Elem = u8>>(labels: &ArrayBase<S, Ix1>) -> Result<Vec<u8>> {
    encode(&[labels.len()], labels.iter().copied(), "labels")
}

/// Writes `(n, h, w)` `u8` images as an IDX file, gzip-compressed when the file name ends in
/// `.gz`.
pub fn write_idx_images<S: Data<Elem = u8>>(
    path: impl AsRef<Path>,
    images: &ArrayBase<S, Ix3>,
) -> Result<()> {
    write_file(path.as_ref(), &encode_idx_images(images)?)
}

/// Writes `(n)` `u8` labels as an IDX file, gzip-compressed when the file name ends in `.gz`.
pub fn write_idx_labels<S: Data<Elem = u8>>(
    path: impl AsRef<Path>,
    labels: &ArrayBase<S, Ix1>,
) -> Result<()> {
    write_file(path.as_ref(), &encode_idx_labels(labels)?)
}

/// The raw bytes of `path`, refusing files too large to be a valid IDX file.
fn read_file(path: &Path) -> Result<Vec<u8>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    // Header: 4 magic bytes and at most 255 sizes of 4 bytes.
    let limit = MAX_PAYLOAD_BYTES + 4 + 255 * 4;
    if len > limit {
        return Err(Error::format(
            path,
            "size",
            format!("{len} bytes is more than an IDX file may hold ({limit})"),
        ));
    }
    let mut bytes = Vec::new();
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    Ok(bytes)
}

/// Decodes plain or gzip IDX bytes of `u8` elements with `ndims` dimensions.
fn decode(bytes: &[u8], origin: &Path, ndims: u8) -> Result<(Vec<usize>, Vec<u8>)> {
    if bytes.starts_with(&GZIP_MAGIC) {
        parse(MultiGzDecoder::new(bytes), origin, ndims, true)
    } else {
        parse(bytes, origin, ndims, false)
    }
}

/// Parses an IDX stream; see the module docs for the checks.
fn parse<R: Read>(
    mut reader: R,
    origin: &Path,
    ndims: u8,
    gzip: bool,
) -> Result<(Vec<usize>, Vec<u8>)> {
    let read_error = |field: &str, e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::format(origin, field, format!("the file ends inside the {field}"))
        } else if gzip {
            Error::format(origin, "gzip", format!("corrupt gzip stream: {e}"))
        } else {
            Error::io(origin, e)
        }
    };

    let mut magic = [0u8; 4];
    reader
        .read_exact(&mut magic)
        .map_err(|e| read_error("magic", e))?;
    let [zero0, zero1, dtype, found_ndims] = magic;
    if (zero0, zero1) != (0, 0) {
        return Err(Error::format(
            origin,
            "magic",
            format!(
                "starts with {zero0:02X} {zero1:02X}; an IDX file starts with 00 00 \
                 (is this an IDX file?)"
            ),
        ));
    }
    if dtype != TYPE_U8 {
        return Err(Error::format(
            origin,
            "dtype",
            format!(
                "element type code 0x{dtype:02X} ({}); expected 0x08 (unsigned byte)",
                type_name(dtype)
            ),
        ));
    }
    if found_ndims != ndims {
        return Err(Error::format(
            origin,
            "dims",
            format!(
                "{found_ndims} dimensions; expected {ndims} ({})",
                if ndims == 1 {
                    "labels"
                } else {
                    "images n x h x w"
                }
            ),
        ));
    }

    let mut dims = Vec::with_capacity(usize::from(ndims));
    let mut expected: u64 = 1;
    for _ in 0..ndims {
        let mut size = [0u8; 4];
        reader
            .read_exact(&mut size)
            .map_err(|e| read_error("dims", e))?;
        let size = u32::from_be_bytes(size);
        expected = expected.saturating_mul(u64::from(size));
        dims.push(size);
    }
    let dims_text = dims
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join("x");
    if expected > MAX_PAYLOAD_BYTES {
        return Err(Error::format(
            origin,
            "dims",
            format!(
                "sizes {dims_text} need {expected} bytes, more than the limit of \
                 {MAX_PAYLOAD_BYTES} (corrupt header?)"
            ),
        ));
    }
    let dims: Vec<usize> = dims
        .into_iter()
        .map(usize::try_from)
        .collect::<Result<_, _>>()
        .map_err(|_| Error::format(origin, "dims", format!("sizes {dims_text} overflow usize")))?;

    let mut payload =
        Vec::with_capacity(usize::try_from(expected.min(INITIAL_CAPACITY)).unwrap_or(0));
    (&mut reader)
        .take(expected)
        .read_to_end(&mut payload)
        .map_err(|e| read_error("payload", e))?;
    if (payload.len() as u64) < expected {
        return Err(Error::format(
            origin,
            "payload",
            format!(
                "truncated: sizes {dims_text} need {expected} bytes of data, the file has only {}",
                payload.len()
            ),
        ));
    }
    // Reading on to the end also makes the gzip decoder verify its CRC and length trailer.
    let mut trailing = Vec::new();
    reader
        .take(TRAILING_COUNT_LIMIT)
        .read_to_end(&mut trailing)
        .map_err(|e| read_error("payload", e))?;
    if !trailing.is_empty() {
        let count = if trailing.len() as u64 == TRAILING_COUNT_LIMIT {
            format!("at least {TRAILING_COUNT_LIMIT}")
        } else {
            trailing.len().to_string()
        };
        return Err(Error::format(
            origin,
            "payload",
            format!(
                "{count} unexpected bytes after the {expected} bytes that sizes {dims_text} need"
            ),
        ));
    }
    Ok((dims, payload))
}

/// The name of an IDX element type code, for messages.
fn type_name(code: u8) -> &'static str {
    match code {
        0x08 => "u8",
        0x09 => "i8",
        0x0B => "i16",
        0x0C => "i32",
        0x0D => "f32",
        0x0E => "f64",
        _ => "not an IDX type",
    }
}

/// IDX bytes of `u8` elements with the given sizes.
fn encode(dims: &[usize], data: impl Iterator<Item = u8>, what: &'static str) -> Result<Vec<u8>> {
    let ndims = u8::try_from(dims.len())
        .map_err(|_| Error::invalid(what, format!("{} dimensions; IDX allows 255", dims.len())))?;
    let mut bytes = vec![0, 0, TYPE_U8, ndims];
    for &size in dims {
        let size = u32::try_from(size).map_err(|_| {
            Error::invalid(
                what,
                format!("size {size} does not fit the u32 of an IDX header"),
            )
        })?;
        bytes.extend_from_slice(&size.to_be_bytes());
    }
    bytes.extend(data);
    Ok(bytes)
}

/// Writes `bytes` to `path`, gzip-compressed when its name ends in `.gz`.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |e| Error::io(path, e);
    let file = BufWriter::new(File::create(path).map_err(io)?);
    let gzip = path
        .file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.ends_with(".gz"));
    if gzip {
        let mut encoder = GzEncoder::new(file, flate2::Compression::default());
        encoder.write_all(bytes).map_err(io)?;
        encoder.finish().map_err(io)?.flush().map_err(io)
    } else {
        let mut file = file;
        file.write_all(bytes).map_err(io)?;
        file.flush().map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array, array};
    use proptest::prelude::*;

    fn field_of(err: &Error) -> &str {
        match err {
            Error::Format { field, .. } => field,
            other => panic!("expected a format error, got {other:?}"),
        }
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn sample_images(n: usize, h: usize, w: usize) -> Array3<u8> {
        Array::from_shape_fn((n, h, w), |(i, r, c)| (i * 31 + r * 7 + c * 3) as u8)
    }

    #[test]
    fn encodes_the_documented_header() {
        // IDX header of 2 images of 2x3: magic 00 00 08 03, then big-endian sizes 2, 2, 3.
        let images = array![[[1u8, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]];
        let bytes = encode_idx_images(&images).unwrap();
        assert_eq!(
            &bytes[..16],
            &[0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3]
        );
        assert_eq!(&bytes[16..], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        let labels = encode_idx_labels(&array![9u8, 0, 96]).unwrap();
        assert_eq!(labels, [0, 0, 8, 1, 0, 0, 0, 3, 9, 0, 96]);
    }

    #[test]
    fn round_trips_plain_and_gzip_detected_by_magic() {
        let dir = tempfile::tempdir().unwrap();
        let images = sample_images(5, 4, 3);
        let labels = array![1u8, 2, 3, 4, 5];
        for name in ["a-ubyte", "b-ubyte.gz"] {
            write_idx_images(dir.path().join(name), &images).unwrap();
            assert_eq!(read_idx_images(dir.path().join(name)).unwrap(), images);
            write_idx_labels(dir.path().join(name), &labels).unwrap();
            assert_eq!(read_idx_labels(dir.path().join(name)).unwrap(), labels);
        }
        let plain = std::fs::read(dir.path().join("a-ubyte")).unwrap();
        let packed = std::fs::read(dir.path().join("b-ubyte.gz")).unwrap();
        assert_eq!(&packed[..2], &GZIP_MAGIC);
        assert_eq!(plain, encode_idx_labels(&labels).unwrap());
        // Detection is by content: gzip bytes under a plain name and vice versa.
        std::fs::write(dir.path().join("swapped-ubyte"), &packed).unwrap();
        std::fs::write(dir.path().join("swapped.gz"), &plain).unwrap();
        assert_eq!(
            read_idx_labels(dir.path().join("swapped-ubyte")).unwrap(),
            labels
        );
        assert_eq!(
            read_idx_labels(dir.path().join("swapped.gz")).unwrap(),
            labels
        );
    }

    #[test]
    fn writes_non_standard_layouts_in_logical_order() {
        let images = sample_images(2, 3, 4);
        let transposed = images.view().permuted_axes([0, 2, 1]);
        let bytes = encode_idx_images(&transposed).unwrap();
        let back = decode_idx_images(&bytes, Path::new("t")).unwrap();
        assert_eq!(back, transposed);
    }

    #[test]
    fn rejects_bad_headers_naming_the_field() {
        let origin = Path::new("train-images-idx3-ubyte");
        let good = encode_idx_images(&sample_images(2, 2, 2)).unwrap();

        let mut bad = good.clone();
        bad[0] = 0x42;
        let err = decode_idx_images(&bad, origin).unwrap_err();
        assert_eq!(field_of(&err), "magic");
        assert!(err.to_string().contains("train-images-idx3-ubyte"), "{err}");

        let mut bad = good.clone();
        bad[2] = 0x0D;
        let err = decode_idx_images(&bad, origin).unwrap_err();
        assert_eq!(field_of(&err), "dtype");
        assert!(err.to_string().contains("f32"), "{err}");

        // An images file read as labels.
        let err = decode_idx_labels(&good, origin).unwrap_err();
        assert_eq!(field_of(&err), "dims");
        assert!(
            err.to_string().contains("3 dimensions; expected 1"),
            "{err}"
        );

        assert_eq!(
            field_of(&decode_idx_images(&[], origin).unwrap_err()),
            "magic"
        );
        assert_eq!(
            field_of(&decode_idx_images(&good[..10], origin).unwrap_err()),
            "dims"
        );
    }

    #[test]
    fn rejects_wrong_payload_lengths() {
        let origin = Path::new("x");
        let good = encode_idx_images(&sample_images(3, 2, 2)).unwrap();
        let err = decode_idx_images(&good[..good.len() - 1], origin).unwrap_err();
        assert_eq!(field_of(&err), "payload");
        assert!(
            err.to_string()
                .contains("need 12 bytes of data, the file has only 11"),
            "{err}"
        );

        let mut long = good.clone();
        long.extend([0, 0]);
        let err = decode_idx_images(&long, origin).unwrap_err();
        assert_eq!(field_of(&err), "payload");
        assert!(err.to_string().contains("2 unexpected bytes"), "{err}");

        // The same checks through gzip.
        let packed = gzip(&good[..good.len() - 1]);
        assert_eq!(
            field_of(&decode_idx_images(&packed, origin).unwrap_err()),
            "payload"
        );
        let packed = gzip(&long);
        assert_eq!(
            field_of(&decode_idx_images(&packed, origin).unwrap_err()),
            "payload"
        );
    }

    #[test]
    fn absurd_sizes_are_refused_before_allocating() {
        // 4_294_967_295^3 bytes claimed, 4 bytes present.
        let mut bytes = vec![0, 0, 8, 3];
        bytes.extend([0xFF; 12]);
        bytes.extend([1, 2, 3, 4]);
        let err = decode_idx_images(&bytes, Path::new("x")).unwrap_err();
        assert_eq!(field_of(&err), "dims");
        // Just under the limit: refused as truncated, having read only what exists.
        let mut bytes = vec![0, 0, 8, 1];
        bytes.extend(((1u32 << 30) - 1).to_be_bytes());
        bytes.extend([7; 10]);
        let err = decode_idx_labels(&bytes, Path::new("x")).unwrap_err();
        assert_eq!(field_of(&err), "payload");
    }

    #[test]
    fn corrupt_gzip_is_a_format_error() {
        let good = gzip(&encode_idx_labels(&array![1u8, 2, 3]).unwrap());
        // Damage the stored CRC-32 (the 8-byte trailer starts 8 bytes before the end).
        let mut bad = good.clone();
        let at = bad.len() - 8;
        bad[at] ^= 0xFF;
        let err = decode_idx_labels(&bad, Path::new("labels.gz")).unwrap_err();
        assert_eq!(field_of(&err), "gzip", "{err}");
        // Truncated gzip stream.
        let err = decode_idx_labels(&good[..good.len() - 10], Path::new("x")).unwrap_err();
        assert!(matches!(err, Error::Format { .. }), "{err}");
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_idx_images(dir.path().join("nope")).unwrap_err();
        assert!(matches!(err, Error::Io { .. }));
        assert!(err.to_string().contains("nope"), "{err}");
    }

    /// A mutation applied to a valid file.
    #[derive(Clone, Debug)]
    enum Mutation {
        Truncate(usize),
        Flip(usize, u8),
        SetHeader(usize, u8),
        Append(Vec<u8>),
        Delete(usize),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            any::<usize>().prop_map(Mutation::Truncate),
            (any::<usize>(), 1u8..=255).prop_map(|(at, x)| Mutation::Flip(at, x)),
            (0usize..16, any::<u8>()).prop_map(|(at, x)| Mutation::SetHeader(at, x)),
            proptest::collection::vec(any::<u8>(), 1..8).prop_map(Mutation::Append),
            any::<usize>().prop_map(Mutation::Delete),
        ]
    }

    fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
        let len = bytes.len().max(1);
        match mutation {
            Mutation::Truncate(at) => bytes.truncate(at % len),
            Mutation::Flip(at, x) => {
                if let Some(b) = bytes.get_mut(at % len) {
                    *b ^= x;
                }
            }
            Mutation::SetHeader(at, x) => {
                if let Some(b) = bytes.get_mut(*at) {
                    *b = *x;
                }
            }
            Mutation::Append(extra) => bytes.extend(extra),
            Mutation::Delete(at) => {
                if !bytes.is_empty() {
                    bytes.remove(at % len);
                }
            }
        }
    }

    /// Decoding `bytes` either succeeds consistently with its header or gives a format error.
    fn check_decoders(bytes: &[u8]) -> std::result::Result<(), TestCaseError> {
        let origin = Path::new("fuzz-ubyte");
        // A plain file that decodes must be exactly what encoding the result gives back.
        let plain = !bytes.starts_with(&GZIP_MAGIC);
        match decode_idx_images(bytes, origin) {
            Ok(images) => {
                if plain {
                    prop_assert_eq!(encode_idx_images(&images).unwrap(), bytes);
                }
            }
            Err(e) => prop_assert!(matches!(e, Error::Format { .. }), "{:?}", e),
        }
        match decode_idx_labels(bytes, origin) {
            Ok(labels) => {
                if plain {
                    prop_assert_eq!(encode_idx_labels(&labels).unwrap(), bytes);
                }
            }
            Err(e) => prop_assert!(matches!(e, Error::Format { .. }), "{:?}", e),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Robustness: mutated valid files (plain and gzip) and random bytes never panic and
        /// give either a consistent result or a typed format error.
        #[test]
        fn mutated_idx_bytes_never_panic(
            n in 0usize..6,
            h in 0usize..6,
            w in 0usize..6,
            labels_file: bool,
            compress: bool,
            compress_after: bool,
            mutations in proptest::collection::vec(mutation(), 0..4),
            random in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let images = sample_images(n, h, w);
            let labels = Array1::from_shape_fn(n, |i| i as u8);
            let mut bytes = if labels_file {
                encode_idx_labels(&labels).unwrap()
            } else {
                encode_idx_images(&images).unwrap()
            };
            if compress {
                bytes = gzip(&bytes);
            }
            if mutations.is_empty() {
                if labels_file {
                    prop_assert_eq!(decode_idx_labels(&bytes, Path::new("ok")).unwrap(), labels);
                } else {
                    prop_assert_eq!(decode_idx_images(&bytes, Path::new("ok")).unwrap(), images);
                }
            }
            for m in &mutations {
                apply(&mut bytes, m);
            }
            // Mutating the decompressed content, then compressing, reaches the IDX checks
            // behind a valid gzip layer.
            if compress_after {
                bytes = gzip(&bytes);
            }
            check_decoders(&bytes)?;
            check_decoders(&random)?;
            let mut headed = vec![0, 0, 8, random.first().copied().unwrap_or(3) % 4];
            headed.extend(&random);
            check_decoders(&headed)?;
        }

        #[test]
        fn round_trips_any_small_array(
            n in 0usize..5,
            h in 0usize..5,
            w in 0usize..5,
            seed: u8,
            gz: bool,
        ) {
            let images = Array::from_shape_fn((n, h, w), |(i, r, c)| {
                seed.wrapping_mul(i as u8 + 1).wrapping_add((r * 5 + c) as u8)
            });
            let mut bytes = encode_idx_images(&images).unwrap();
            if gz {
                bytes = gzip(&bytes);
            }
            prop_assert_eq!(decode_idx_images(&bytes, Path::new("x")).unwrap(), images);
        }
    }
}
