//! libtorch lets the inter-op pool be sized once per process, before any inter-op work: this
//! file's single test owns its process.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test]

use gen_core::{Error, Threads, set_interop_threads};

#[test]
fn interop_threads_are_set_once() {
    Threads {
        intra_op: None,
        inter_op: Some(2),
    }
    .apply()
    .unwrap();
    assert_eq!(tch::get_num_interop_threads(), 2);
    // The same value again is a no-op; another value is a clear error, not a panic.
    set_interop_threads(Some(2)).unwrap();
    assert!(matches!(
        set_interop_threads(Some(3)),
        Err(Error::InvalidArgument {
            name: "inter_op",
            ..
        })
    ));
    assert_eq!(tch::get_num_interop_threads(), 2);
}
