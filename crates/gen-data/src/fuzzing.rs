//! Every parser of gen-data on raw bytes, for `cargo xtask fuzz` (the `gen-fuzz` crate). Only
//! built with the `fuzzing` feature; not a stable API. Each function parses `bytes` the way
//! the loader parses a file's content and returns whether the input was accepted; it never
//! panics (that is what the fuzzing checks).

use std::path::Path;

const ORIGIN: &str = "fuzz-input";

/// Keras's `imdb.npz` (zip of `.npy` files), as `imdb::load_data` reads it.
pub fn npz(bytes: &[u8]) -> bool {
    crate::imdb::fuzz_entry::npz(bytes)
}

/// One `.npy` file, read both as the integer labels and as the object array of reviews.
pub fn npy(bytes: &[u8]) -> bool {
    crate::imdb::fuzz_entry::npy(bytes)
}

/// The pickle payload of an object `.npy`: scanned, then decoded.
pub fn pickle(bytes: &[u8]) -> bool {
    crate::imdb::fuzz_entry::pickle(bytes)
}

/// A reviews CSV (`text` and `label` columns), as the IMDB CSV source reads it.
pub fn imdb_csv(bytes: &[u8]) -> bool {
    crate::imdb::fuzz_entry::csv(bytes)
}

/// An IDX file (plain or gzip), read as images and as labels.
pub fn idx(bytes: &[u8]) -> bool {
    let images = crate::idx::decode_idx_images(bytes, Path::new(ORIGIN)).is_ok();
    crate::idx::decode_idx_labels(bytes, Path::new(ORIGIN)).is_ok() || images
}

/// A MATLAB v5 file, then the LASA shape reader on what it holds.
pub fn mat(bytes: &[u8]) -> bool {
    crate::mat::MatFile::parse(bytes, ORIGIN).is_ok_and(|file| {
        crate::lasa::shape_of(&file, Path::new(ORIGIN), ORIGIN.to_owned()).is_ok()
    })
}

/// A MusicXML file, compressed (`.mxl`) or plain, read to a score.
pub fn musicxml(bytes: &[u8]) -> bool {
    crate::music::musicxml::score_from_bytes(bytes, Path::new(ORIGIN)).is_ok()
}

/// A drum sample (WAV, FLAC or AIFF) decoded and resampled to a 16 kHz clip, as the drums
/// loader does. The extension hint is taken from the first byte, so all three are tried.
pub fn audio(bytes: &[u8]) -> bool {
    let hint = match bytes.first().map(|b| b % 3) {
        Some(0) => "wav",
        Some(1) => "flac",
        _ => "aiff",
    };
    crate::drums::load::decode_clip_bytes(bytes.to_vec(), Some(hint)).is_ok()
}

/// A Hydrogen `drumkit.xml` (UTF-8 text; other bytes are replaced).
pub fn drumkit_xml(bytes: &[u8]) -> bool {
    crate::drums::kit::KitInfo::parse(&String::from_utf8_lossy(bytes)).is_ok()
}

/// A checkpoint pair as one input: its JSON state file, a NUL byte (never part of JSON text),
/// then its safetensors file; parsed and verified as gen-train does before loading a tensor.
pub fn checkpoint(bytes: &[u8]) -> bool {
    let (state, tensors) = match bytes.iter().position(|&b| b == 0) {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &[][..]),
    };
    let path = Path::new(ORIGIN);
    crate::checkpoint_record::parse_state(path, state).is_ok_and(|parsed| {
        crate::checkpoint_record::verify_tensor_file(&parsed, path, path, tensors).is_ok()
    })
}
