//! Differentiable augmentation (Zhao et al. 2020, "Differentiable Augmentation for
//! Data-Efficient GAN Training"): the same random translation and cutout applied to every
//! image D sees, real and fake, in D's update and in G's, so that D cannot memorise a small
//! training set and G still gets gradients through the augmentation.
//!
//! It follows the authors' PyTorch code (`DiffAugment_pytorch.py`, policy
//! `translation,cutout`), with fresh random parameters per image and per call:
//!
//! - translation by `round(ratio * size)` pixels at most in each direction, zeros shifted in;
//! - cutout of one `round(ratio * size)` square per image, its centre uniform over the image
//!   (clipped at the border), set to 0.

use crate::Result;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Which augmentations D's inputs get. Both off by default; DiffAugment's values are
/// `translation = 0.125`, `cutout = 0.5`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct DiffAugmentConfig {
    /// Largest shift as a fraction of the image size (DiffAugment: 0.125, 4 pixels of 28).
    /// Default: 0 (off).
    pub translation: f64,
    /// Side of the cut-out square as a fraction of the image size (DiffAugment: 0.5, 14
    /// pixels of 28). Default: 0 (off).
    pub cutout: f64,
}

impl DiffAugmentConfig {
    /// Whether anything is applied.
    pub fn is_active(&self) -> bool {
        self.translation > 0.0 || self.cutout > 0.0
    }

    /// Augments `x` `[batch, channels, h, w]` with parameters drawn from libtorch's generator.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let (n, _, h, w) = dims(x)?;
        let device = x.device();
        let mut out = x.shallow_clone();
        if self.translation > 0.0 {
            let (sh, sw) = (pixels(self.translation, h), pixels(self.translation, w));
            let dy = Tensor::f_randint_low(-sh, sh + 1, [n, 1], (Kind::Int64, device))?;
            let dx = Tensor::f_randint_low(-sw, sw + 1, [n, 1], (Kind::Int64, device))?;
            out = translate(&out, &Tensor::f_cat(&[dy, dx], 1)?)?;
        }
        if self.cutout > 0.0 {
            let (ch, cw) = (pixels(self.cutout, h), pixels(self.cutout, w));
            let cy = Tensor::f_randint(h + (1 - ch % 2), [n, 1], (Kind::Int64, device))?;
            let cx = Tensor::f_randint(w + (1 - cw % 2), [n, 1], (Kind::Int64, device))?;
            out = cutout(&out, &Tensor::f_cat(&[cy, cx], 1)?, (ch, cw))?;
        }
        Ok(out)
    }
}

/// `round(ratio * size)`, as DiffAugment's `int(size * ratio + 0.5)`.
fn pixels(ratio: f64, size: i64) -> i64 {
    (size as f64 * ratio + 0.5) as i64
}

/// `(batch, channels, h, w)` of images.
fn dims(x: &Tensor) -> Result<(i64, i64, i64, i64)> {
    match x.size().as_slice() {
        [n, c, h, w] => Ok((*n, *c, *h, *w)),
        _ => Err(crate::Error::config(
            "gan.diff_augment",
            format!("needs images [batch, channels, h, w], got {:?}", x.size()),
        )),
    }
}

/// Shifts image `k` by `shifts[k] = (dy, dx)`: `out[k, c, i, j] = x[k, c, i + dy, j + dx]`,
/// 0 where that lies outside the image. Differentiable in `x`.
pub fn translate(x: &Tensor, shifts: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = dims(x)?;
    let device = x.device();
    // Pad by one zero on each side; indices outside the image clamp onto that padding.
    let padded = x.f_constant_pad_nd([1, 1, 1, 1])?;
    let rows = Tensor::f_arange(h, (Kind::Int64, device))?
        .f_unsqueeze(0)?
        .f_add(&shifts.f_select(1, 0)?.f_unsqueeze(1)?)?
        .f_add_scalar(1)?
        .f_clamp(0, h + 1)?; // [n, h]
    let cols = Tensor::f_arange(w, (Kind::Int64, device))?
        .f_unsqueeze(0)?
        .f_add(&shifts.f_select(1, 1)?.f_unsqueeze(1)?)?
        .f_add_scalar(1)?
        .f_clamp(0, w + 1)?; // [n, w]
    let rows = rows
        .f_view([n, 1, h, 1])?
        .f_expand([n, c, h, w + 2], false)?;
    let picked = padded.f_gather(2, &rows, false)?; // [n, c, h, w + 2]
    let cols = cols.f_view([n, 1, 1, w])?.f_expand([n, c, h, w], false)?;
    Ok(picked.f_gather(3, &cols, false)?)
}

/// Zeroes in image `k` the `size.0 x size.1` rectangle whose rows start at
/// `centres[k].0 - size.0 / 2` (columns likewise), clipped to the image. Differentiable in `x`.
pub fn cutout(x: &Tensor, centres: &Tensor, size: (i64, i64)) -> Result<Tensor> {
    let (n, _, h, w) = dims(x)?;
    let device = x.device();
    let inside = |axis: i64, len: i64, side: i64| -> Result<Tensor> {
        let start = centres
            .f_select(1, axis)?
            .f_sub_scalar(side / 2)?
            .f_unsqueeze(1)?;
        let idx = Tensor::f_arange(len, (Kind::Int64, device))?.f_unsqueeze(0)?;
        Ok(idx
            .f_ge_tensor(&start)?
            .f_logical_and(&idx.f_lt_tensor(&start.f_add_scalar(side)?)?)?)
    };
    let rows = inside(0, h, size.0)?.f_view([n, 1, h, 1])?;
    let cols = inside(1, w, size.1)?.f_view([n, 1, 1, w])?;
    let keep = rows
        .f_logical_and(&cols)?
        .f_logical_not()?
        .f_to_kind(x.f_kind()?)?;
    Ok(x.f_mul(&keep)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use proptest::prelude::*;
    use tch::Device;

    /// A `[n, c, h, w]` tensor of distinct non-zero values, and the same as a flat vector.
    fn image(n: i64, c: i64, h: i64, w: i64) -> (Tensor, Vec<f32>) {
        let values: Vec<f32> = (0..n * c * h * w).map(|i| (i + 1) as f32).collect();
        let t = Tensor::from_slice(&values).view([n, c, h, w]);
        (t, values)
    }

    fn flat(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(t.contiguous().view(-1)).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Translation equals the definition, pixel by pixel, and its gradient is the adjoint:
        /// each input pixel gets 1 where it lands inside the output, else 0.
        #[test]
        fn translation_is_a_shift_with_zeros_and_its_adjoint(
            n in 1i64..4, c in 1i64..3, h in 1i64..7, w in 1i64..7,
            shifts in proptest::collection::vec((-8i64..9, -8i64..9), 4),
        ) {
            let (x, v) = image(n, c, h, w);
            let x = x.set_requires_grad(true);
            let s: Vec<i64> = shifts.iter().take(n as usize).flat_map(|&(a, b)| [a, b]).collect();
            let s = Tensor::from_slice(&s).view([n, 2]);
            let out = translate(&x, &s).unwrap();
            let got = flat(&out);
            let mut grad = vec![0f32; v.len()];
            for k in 0..n {
                let (dy, dx) = shifts[k as usize];
                for ch in 0..c {
                    for i in 0..h {
                        for j in 0..w {
                            let o = (((k * c + ch) * h + i) * w + j) as usize;
                            let (si, sj) = (i + dy, j + dx);
                            let expected = if (0..h).contains(&si) && (0..w).contains(&sj) {
                                let src = (((k * c + ch) * h + si) * w + sj) as usize;
                                grad[src] += 1.0;
                                v[src]
                            } else {
                                0.0
                            };
                            prop_assert_eq!(got[o], expected);
                        }
                    }
                }
            }
            out.sum(Kind::Float).backward();
            prop_assert_eq!(flat(&x.grad()), grad);
        }

        /// Cutout zeroes exactly the clipped rectangle and passes the rest (values and
        /// gradients) through.
        #[test]
        fn cutout_zeroes_exactly_its_clipped_square(
            n in 1i64..4, h in 1i64..9, w in 1i64..9, side in (1i64..6, 1i64..6),
            centres in proptest::collection::vec((0i64..9, 0i64..9), 4),
        ) {
            let (x, v) = image(n, 2, h, w);
            let x = x.set_requires_grad(true);
            let cs: Vec<i64> = centres.iter().take(n as usize).flat_map(|&(a, b)| [a, b]).collect();
            let out = cutout(&x, &Tensor::from_slice(&cs).view([n, 2]), side).unwrap();
            let got = flat(&out);
            let mut mask = vec![0f32; v.len()];
            for k in 0..n {
                let (cy, cx) = centres[k as usize];
                let (y0, x0) = (cy - side.0 / 2, cx - side.1 / 2);
                for ch in 0..2 {
                    for i in 0..h {
                        for j in 0..w {
                            let o = (((k * 2 + ch) * h + i) * w + j) as usize;
                            let cut = (y0..y0 + side.0).contains(&i) && (x0..x0 + side.1).contains(&j);
                            mask[o] = if cut { 0.0 } else { 1.0 };
                            prop_assert_eq!(got[o], v[o] * mask[o]);
                        }
                    }
                }
            }
            out.sum(Kind::Float).backward();
            prop_assert_eq!(flat(&x.grad()), mask);
        }

        /// DiffAugment's draws stay in range: every output is either 0 or the input shifted by
        /// at most `round(ratio * size)`, and at least the cut-out square is zero.
        #[test]
        fn random_augmentation_shifts_within_its_range_and_cuts_one_square(seed in 0i64..1000) {
            tch::manual_seed(seed);
            let (x, _) = image(3, 1, 8, 8);
            let config = DiffAugmentConfig { translation: 0.25, cutout: 0.5 };
            let out = config.apply(&x).unwrap();
            prop_assert_eq!(out.size(), vec![3, 1, 8, 8]);
            let got = flat(&out);
            for k in 0..3usize {
                let img = &got[k * 64..(k + 1) * 64];
                // Pixel values are 1 + index, so a kept pixel tells where it came from.
                for (o, &p) in img.iter().enumerate() {
                    if p != 0.0 {
                        let src = p as usize - 1 - k * 64;
                        let (di, dj) = ((src / 8) as i64 - (o / 8) as i64, (src % 8) as i64 - (o % 8) as i64);
                        prop_assert!(di.abs() <= 2 && dj.abs() <= 2, "shift {di},{dj}");
                    }
                }
                // A 4x4 square (clipped at the border to at least 2x2) is cut.
                prop_assert!(img.iter().filter(|&&p| p == 0.0).count() >= 4);
            }
        }
    }

    #[test]
    fn nothing_configured_is_the_identity_and_bad_shapes_are_rejected() {
        let x = Tensor::randn([2, 1, 5, 5], (Kind::Float, Device::Cpu));
        let off = DiffAugmentConfig::default();
        assert!(!off.is_active());
        assert!(off.apply(&x).unwrap().equal(&x));
        let s = Tensor::zeros([2, 2], (Kind::Int64, Device::Cpu));
        assert!(translate(&x, &s).unwrap().equal(&x));
        assert!(translate(&x.view([2, 25]), &s).is_err());
    }
}
