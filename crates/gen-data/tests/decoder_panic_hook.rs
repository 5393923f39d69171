//! A panic inside symphonia happens while `decoding()` is true, so a program's panic hook can
//! stay quiet about the panics `decode_mono` catches; afterwards it is false again. (Its own
//! test binary: the hook is process-wide.)

use gen_data::drums::decode::{decode_mono, decoding};
use std::sync::{Arc, Mutex};

#[test]
fn a_caught_decoder_panic_is_seen_by_the_hook_as_decoding() {
    // The header of `pcm16_mono_8k.wav` with 32,768 channels: symphonia's block-size product
    // overflows (a panic in builds with overflow checks, as tests are).
    let mut bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/drums/pcm16_mono_8k.wav"
    ))
    .unwrap();
    bytes[22..24].copy_from_slice(&0x8000u16.to_le_bytes());

    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    std::panic::set_hook(Box::new(move |_| record.lock().unwrap().push(decoding())));

    assert!(!decoding());
    let err = decode_mono(bytes, Some("wav"), |_| usize::MAX).unwrap_err();
    assert!(err.contains("panicked"), "{err}");
    assert!(!decoding());
    // A panic outside the decoder is not marked.
    let _ = std::panic::catch_unwind(|| panic!("elsewhere"));
    let _ = std::panic::take_hook();
    assert_eq!(*seen.lock().unwrap(), vec![true, false]);
}
