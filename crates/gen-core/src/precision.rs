//! Mixed precision: [`Precision`] and a per-thread [`autocast`] scope.
//!
//! Inside `autocast(Precision::Bf16, ..)`, the layers that honour it (gen-models'
//! convolutions and linear layers) cast their `f32` input and weights to bfloat16, run the
//! convolution or matrix product there, and cast the result back to `f32`. The weights stay
//! `f32` (the casts are recorded by autograd, so gradients arrive in `f32`), as do every other
//! operation and the optimiser. This is PyTorch's `torch.autocast("cpu", torch.bfloat16)` for
//! those ops, except that outputs come back as `f32`. On CPUs with AMX or AVX512-BF16 such
//! products run several times faster than in `f32`, at bfloat16's 8-bit mantissa.
//!
//! ```
//! use gen_core::{autocast, autocast_kind, Precision};
//! use tch::Kind;
//!
//! assert_eq!(autocast_kind(), None);
//! let inside = autocast(Precision::Bf16, || autocast_kind());
//! assert_eq!(inside, Some(Kind::BFloat16));
//! assert_eq!(autocast_kind(), None); // restored on the way out
//! ```

use serde::{Deserialize, Serialize};
use std::cell::Cell;
use tch::Kind;

/// The precision of convolutions and matrix products in training steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in `f32`. The default.
    #[default]
    Fp32,
    /// Convolutions and linear layers in bfloat16, with `f32` weights and outputs.
    Bf16,
}

impl Precision {
    /// The kind the autocast layers compute in: `None` for `Fp32`.
    pub fn compute_kind(self) -> Option<Kind> {
        match self {
            Precision::Fp32 => None,
            Precision::Bf16 => Some(Kind::BFloat16),
        }
    }
}

thread_local! {
    static AUTOCAST: Cell<Option<Kind>> = const { Cell::new(None) };
}

/// Restores the previous autocast kind when dropped, also on unwinding.
struct Restore(Option<Kind>);

impl Drop for Restore {
    fn drop(&mut self) {
        AUTOCAST.with(|a| a.set(self.0));
    }
}

/// Runs `f` with the autocast layers computing at `precision` on this thread, then restores
/// the previous setting. Scopes nest; `Precision::Fp32` turns autocasting off inside.
pub fn autocast<T>(precision: Precision, f: impl FnOnce() -> T) -> T {
    let _restore = Restore(AUTOCAST.with(|a| a.replace(precision.compute_kind())));
    f()
}

/// The kind autocast layers compute in on this thread now (`None`: plain `f32`).
pub fn autocast_kind() -> Option<Kind> {
    AUTOCAST.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest_and_restore_even_on_panic() {
        assert_eq!(autocast_kind(), None);
        autocast(Precision::Bf16, || {
            assert_eq!(autocast_kind(), Some(Kind::BFloat16));
            autocast(Precision::Fp32, || assert_eq!(autocast_kind(), None));
            assert_eq!(autocast_kind(), Some(Kind::BFloat16));
        });
        assert_eq!(autocast_kind(), None);
        let caught = std::panic::catch_unwind(|| autocast(Precision::Bf16, || panic!("boom")));
        assert!(caught.is_err());
        assert_eq!(autocast_kind(), None);
        // Other threads are not affected.
        autocast(Precision::Bf16, || {
            let other = std::thread::spawn(autocast_kind).join().ok().flatten();
            assert_eq!(other, None);
        });
    }

    #[test]
    fn precision_reads_lowercase_names_only() {
        let read = |s: &str| serde_json::from_str::<Precision>(s).ok();
        assert_eq!(read("\"bf16\""), Some(Precision::Bf16));
        assert_eq!(read("\"fp32\""), Some(Precision::Fp32));
        assert_eq!(read("\"fp16\""), None);
        assert_eq!(read("\"BF16\""), None);
        assert_eq!(Precision::default(), Precision::Fp32);
    }
}
