//! Fused CPU kernels for the GRU's per-step element-wise work.
//!
//! A step of the recorded recurrence (`taped.rs`) or of the stepper (`stepper.rs`) is one
//! small GEMM and element-wise work that takes six (forward) or ten (backward) libtorch
//! kernels on `[b, H]` tiles. Each such kernel costs about as much in dispatch as in
//! arithmetic, so here each step's element-wise work is ONE pass in Rust over the tiles, compiled for several SIMD levels and chosen at run
//! time (`multiversion`). `exp` is Cephes' single-precision algorithm (range reduction by
//! `ln 2` and a degree-6 polynomial, within 2 ulp), so results match libtorch's kernels to
//! float rounding, not bit for bit.
//!
//! The tiles are borrowed from the tensors with [`gen_core::slices::views`].

use crate::{Error, Result};
use gen_core::slices::{Mat, MatMut};
use multiversion::multiversion;

/// Checks that every matrix has `rows` rows of `cols` columns.
fn check(what: &'static str, shapes: &[(usize, usize)], rows: usize, cols: &[usize]) -> Result<()> {
    for (k, (&(r, c), &want)) in shapes.iter().zip(cols).enumerate() {
        if r != rows || c != want {
            return Err(Error::Shape {
                what,
                expected: format!("operand {k}: [{rows}, {want}]"),
                got: vec![r as i64, c as i64],
            });
        }
    }
    Ok(())
}

const LOG2E: f32 = std::f32::consts::LOG2_E;
// ln 2 split in two, so that n * LN2_HI is exact for the n that occur.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5 * 2^23: adding and subtracting it rounds an f32 of magnitude < 2^22 to an integer.
const ROUND: f32 = 12_582_912.0;

/// `e^x` (Cephes `expf`), for any `x`: the argument is clamped to `[-87.3, 88.3]`, the range
/// whose result is a normal float, and NaN stays NaN.
#[inline(always)]
fn exp(x: f32) -> f32 {
    #[allow(clippy::manual_clamp)] // `clamp` would not keep NaN on every target
    let x = if x < -87.3 {
        -87.3
    } else if x > 88.3 {
        88.3
    } else {
        x
    };
    // n = round(x / ln 2), as a float and, read from the sum's low mantissa bits, as an
    // integer: no float-to-int cast, whose saturating semantics would not vectorise.
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let k = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let e = p * r * r + r + 1.0;
    // 2^n for n in [-126, 127], built in the exponent bits.
    let scale = f32::from_bits((k.wrapping_add(127) as u32) << 23);
    e * scale
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[inline(always)]
fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

/// One forward step of a GRU over `b` rows, after the GEMM `gh = h W_hh^T + [0, 0, b_hn]`:
/// from `gi` `[b, 3H]` (input projections, b_hh's reset and update parts included), `gh`
/// `[b, 3H]` and `h` `[b, H]`, writes `rz` `[b, 2H]` = sigmoid(gi + gh) (reset, update),
/// `ghn` `[b, H]` = gh's candidate part, `n` `[b, H]` = tanh(gi_n + r ghn) and `h_new` `[b, H]`
/// = n + z (h - n): libtorch's `gru_cell`.
pub(crate) fn gru_forward(
    [gi, gh, h]: [Mat<'_>; 3],
    [rz, n, ghn, h_new]: [MatMut<'_>; 4],
) -> Result<()> {
    let (rows, hidden) = (h.rows(), h.cols());
    let shapes = [
        (gi.rows(), gi.cols()),
        (gh.rows(), gh.cols()),
        (rz.rows(), rz.cols()),
        (n.rows(), n.cols()),
        (ghn.rows(), ghn.cols()),
        (h_new.rows(), h_new.cols()),
    ];
    check(
        "gru_forward",
        &shapes,
        rows,
        &[3 * hidden, 3 * hidden, 2 * hidden, hidden, hidden, hidden],
    )?;
    let (mut rz, mut n, mut ghn, mut h_new) = (rz, n, ghn, h_new);
    let tiles = rz
        .rows_mut()
        .zip(n.rows_mut())
        .zip(ghn.rows_mut())
        .zip(h_new.rows_mut());
    for (i, (((rz, n), ghn), h_new)) in tiles.enumerate().take(rows) {
        forward_row(gi.row(i), gh.row(i), h.row(i), rz, n, ghn, h_new);
    }
    Ok(())
}

#[multiversion(targets = "simd")]
fn forward_row(
    gi: &[f32],
    gh: &[f32],
    h: &[f32],
    rz: &mut [f32],
    n: &mut [f32],
    ghn: &mut [f32],
    h_new: &mut [f32],
) {
    let hidden = h.len();
    let (rz_r, rz_z) = rz.split_at_mut(hidden.min(rz.len()));
    fn gate(v: &[f32], k: usize, hidden: usize) -> &[f32] {
        v.get(k * hidden..(k + 1) * hidden).unwrap_or(&[])
    }
    let (gi_r, gi_z, gi_n) = (
        gate(gi, 0, hidden),
        gate(gi, 1, hidden),
        gate(gi, 2, hidden),
    );
    let (gh_r, gh_z, gh_n) = (
        gate(gh, 0, hidden),
        gate(gh, 1, hidden),
        gate(gh, 2, hidden),
    );
    let m = [
        gi_r.len(),
        gi_z.len(),
        gi_n.len(),
        gh_r.len(),
        gh_z.len(),
        gh_n.len(),
        rz_r.len(),
        rz_z.len(),
        n.len(),
        ghn.len(),
        h_new.len(),
    ]
    .into_iter()
    .fold(hidden, usize::min);
    let (gi_r, gi_z, gi_n, gh_r, gh_z, gh_n, h) = (
        &gi_r[..m],
        &gi_z[..m],
        &gi_n[..m],
        &gh_r[..m],
        &gh_z[..m],
        &gh_n[..m],
        &h[..m],
    );
    let (rz_r, rz_z, n, ghn, h_new) = (
        &mut rz_r[..m],
        &mut rz_z[..m],
        &mut n[..m],
        &mut ghn[..m],
        &mut h_new[..m],
    );
    for j in 0..m {
        let r = sigmoid(gi_r[j] + gh_r[j]);
        let z = sigmoid(gi_z[j] + gh_z[j]);
        let c = tanh(gi_n[j] + r * gh_n[j]);
        rz_r[j] = r;
        rz_z[j] = z;
        ghn[j] = gh_n[j];
        n[j] = c;
        h_new[j] = c + z * (h[j] - c);
    }
}

/// One step of backpropagation through a GRU step over `b` rows, before the GEMM
/// `dh_prev = dhz + d_gh W_hh`: from the gradient reaching the new state, `dh + d_out`
/// (`[b, H]` each), and the step's recorded `rz` `[b, 2H]`, `n`, `h_prev` and `ghn` (`[b, H]`
/// each), writes `dhz` `[b, H]` = (dh + d_out) z, `d_gh` `[b, 3H]` (the gradients of the
/// reset and update pre-activations, then of `ghn`) and `d_gin` `[b, H]` (of the candidate's
/// pre-activation).
pub(crate) fn gru_backward(
    [dh, d_out, rz, n, h_prev, ghn]: [Mat<'_>; 6],
    [dhz, d_gh, d_gin]: [MatMut<'_>; 3],
) -> Result<()> {
    let (rows, hidden) = (dh.rows(), dh.cols());
    let shapes = [
        (d_out.rows(), d_out.cols()),
        (rz.rows(), rz.cols()),
        (n.rows(), n.cols()),
        (h_prev.rows(), h_prev.cols()),
        (ghn.rows(), ghn.cols()),
        (dhz.rows(), dhz.cols()),
        (d_gh.rows(), d_gh.cols()),
        (d_gin.rows(), d_gin.cols()),
    ];
    check(
        "gru_backward",
        &shapes,
        rows,
        &[
            hidden,
            2 * hidden,
            hidden,
            hidden,
            hidden,
            hidden,
            3 * hidden,
            hidden,
        ],
    )?;
    let (mut dhz, mut d_gh, mut d_gin) = (dhz, d_gh, d_gin);
    let tiles = dhz.rows_mut().zip(d_gh.rows_mut()).zip(d_gin.rows_mut());
    for (i, ((dhz, d_gh), d_gin)) in tiles.enumerate().take(rows) {
        let inputs = [
            dh.row(i),
            d_out.row(i),
            rz.row(i),
            n.row(i),
            h_prev.row(i),
            ghn.row(i),
        ];
        backward_row(inputs, dhz, d_gh, d_gin);
    }
    Ok(())
}

#[multiversion(targets = "simd")]
fn backward_row(
    [dh, d_out, rz, n, h_prev, ghn]: [&[f32]; 6],
    dhz: &mut [f32],
    d_gh: &mut [f32],
    d_gin: &mut [f32],
) {
    let hidden = dh.len();
    let (r, z) = rz.split_at(hidden.min(rz.len()));
    let (d_r, rest) = d_gh.split_at_mut(hidden.min(d_gh.len()));
    let (d_z, d_n) = rest.split_at_mut(hidden.min(rest.len()));
    let m = [
        d_out.len(),
        r.len(),
        z.len(),
        n.len(),
        h_prev.len(),
        ghn.len(),
        dhz.len(),
        d_r.len(),
        d_z.len(),
        d_n.len(),
        d_gin.len(),
    ]
    .into_iter()
    .fold(hidden, usize::min);
    let (dh, d_out, r, z, n, h_prev, ghn) = (
        &dh[..m],
        &d_out[..m],
        &r[..m],
        &z[..m],
        &n[..m],
        &h_prev[..m],
        &ghn[..m],
    );
    let (dhz, d_r, d_z, d_n, d_gin) = (
        &mut dhz[..m],
        &mut d_r[..m],
        &mut d_z[..m],
        &mut d_n[..m],
        &mut d_gin[..m],
    );
    for j in 0..m {
        // h = n + z (h_prev - n); n = tanh(a_n), a_n = gi_n + r ghn; (r, z) = sigmoid(a_rz).
        let g = dh[j] + d_out[j];
        let gz = g * z[j];
        let da_n = (g - gz) * (1.0 - n[j] * n[j]);
        let dz = g * (h_prev[j] - n[j]);
        let dr = da_n * ghn[j];
        dhz[j] = gz;
        d_r[j] = dr * r[j] * (1.0 - r[j]);
        d_z[j] = dz * z[j] * (1.0 - z[j]);
        d_n[j] = da_n * r[j];
        d_gin[j] = da_n;
    }
}

#[cfg(test)]
#[allow(unsafe_code, clippy::unwrap_used)]
mod tests {
    use super::*;
    use gen_core::slices::views;
    use proptest::prelude::*;
    use tch::{Device, Kind, Tensor};

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    #[test]
    fn exp_is_within_two_ulp_of_std_and_keeps_nan() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let (got, want) = (exp(x), x.exp());
            let ulp = (want.to_bits() as i64 - got.to_bits() as i64).abs();
            assert!(ulp <= 2, "exp({x}) = {got}, std {want}, {ulp} ulp");
            x += 0.01;
        }
        assert!(exp(f32::NAN).is_nan() && sigmoid(f32::NAN).is_nan() && tanh(f32::NAN).is_nan());
        assert!((0.0..1e-37).contains(&exp(f32::NEG_INFINITY)));
        assert!(exp(f32::INFINITY).is_finite());
        assert!(sigmoid(-200.0) >= 0.0 && sigmoid(200.0) == 1.0);
        assert_eq!((tanh(50.0), tanh(-50.0)), (1.0, -1.0));
    }

    proptest! {
        #[test]
        fn activations_match_std(x in -100.0f32..100.0) {
            let (s, t) = (1.0 / (1.0 + (-x as f64).exp()), (x as f64).tanh());
            prop_assert!((sigmoid(x) as f64 - s).abs() <= 1e-7 + 1e-6 * s.abs());
            prop_assert!((tanh(x) as f64 - t).abs() <= 2e-7);
        }
    }

    /// Random `[rows, cols]` in `[-3, 3]`; strided (a column slice of a wider matrix) when
    /// `wide`, to exercise row strides.
    fn tile(rows: i64, cols: i64, wide: bool) -> Tensor {
        let o = (Kind::Float, Device::Cpu);
        if wide {
            (Tensor::rand([rows, cols + 5], o) * 6.0 - 3.0).narrow(1, 2, cols)
        } else {
            Tensor::rand([rows, cols], o) * 6.0 - 3.0
        }
    }

    #[test]
    fn forward_step_matches_libtorch_ops() {
        let (b, h) = (5, 19); // odd sizes: vector bodies and scalar tails
        let (gi, gh, hp) = (
            tile(b, 3 * h, true),
            tile(b, 3 * h, false),
            tile(b, h, true),
        );
        let outs = [2 * h, h, h, h].map(|c| Tensor::zeros([b, c], (Kind::Float, Device::Cpu)));
        {
            let (inputs, outputs) =
                unsafe { views([&gi, &gh, &hp], [&outs[0], &outs[1], &outs[2], &outs[3]]) }
                    .unwrap();
            gru_forward(inputs, outputs).unwrap();
        }
        let (gi, gh) = (gi.chunk(3, 1), gh.chunk(3, 1));
        let r = (&gi[0] + &gh[0]).sigmoid();
        let z = (&gi[1] + &gh[1]).sigmoid();
        let n = (&gi[2] + &r * &gh[2]).tanh();
        let h_new = &n + &z * (&hp - &n);
        for (got, want) in
            outs.iter()
                .zip([Tensor::cat(&[&r, &z], 1), n, gh[2].shallow_clone(), h_new])
        {
            assert!(max_diff(got, &want) < 1e-6, "{}", max_diff(got, &want));
        }
    }

    #[test]
    fn backward_step_matches_autograd() {
        let (b, h) = (4, 21);
        let o = (Kind::Float, Device::Cpu);
        // The step as autograd sees it, from the pre-activations.
        let a_rz = tile(b, 2 * h, false).set_requires_grad(true);
        let a_n0 = tile(b, h, false).set_requires_grad(true); // gi_n
        let ghn = tile(b, h, false).set_requires_grad(true);
        let hp = tile(b, h, false).set_requires_grad(true);
        let rz = a_rz.sigmoid();
        let (r, z) = (rz.narrow(1, 0, h), rz.narrow(1, h, h));
        let n = (&a_n0 + &r * &ghn).tanh();
        let h_new = &n + &z * (&hp - &n);
        let (dh, d_out) = (tile(b, h, false), tile(b, h, true));
        let g = &dh + &d_out;
        let loss = (&h_new * &g).sum(Kind::Float);
        let grads = Tensor::run_backward(&[&loss], &[&a_rz, &a_n0, &ghn, &hp], false, false);
        let outs = [h, 3 * h, h].map(|c| Tensor::zeros([b, c], o));
        {
            let (rz, n) = (rz.detach(), n.detach());
            let (hp, ghn) = (hp.detach(), ghn.detach());
            let (inputs, outputs) = unsafe {
                views(
                    [&dh, &d_out, &rz, &n, &hp, &ghn],
                    [&outs[0], &outs[1], &outs[2]],
                )
            }
            .unwrap();
            gru_backward(inputs, outputs).unwrap();
        }
        let [dhz, d_gh, d_gin] = &outs;
        // dh_prev = dhz + (dgh's products); here h_prev enters directly: d hp = g z.
        assert!(max_diff(dhz, &grads[3]) < 1e-6, "dh z");
        assert!(
            max_diff(&d_gh.narrow(1, 0, 2 * h), &grads[0]) < 1e-6,
            "reset/update"
        );
        assert!(max_diff(d_gin, &grads[1]) < 1e-6, "candidate");
        assert!(
            max_diff(&d_gh.narrow(1, 2 * h, h), &grads[2]) < 1e-6,
            "d ghn"
        );
    }

    #[test]
    fn a_step_rejects_tiles_of_the_wrong_shape() {
        let o = (Kind::Float, Device::Cpu);
        let (a, b) = (Tensor::zeros([4, 6], o), Tensor::zeros([4, 6], o));
        let small = [0, 1, 2].map(|_| Tensor::zeros([4, 1], o));
        let (inputs, outputs) =
            unsafe { views([&a, &a, &a], [&b, &small[0], &small[1], &small[2]]) }.unwrap();
        assert!(gru_forward(inputs, outputs).is_err());
    }
}
