//! [`Nade`]: an autoregressive distribution over the `K` binary cells of a frame (NADE,
//! Larochelle & Murray 2011), whose biases come from a conditioning state, as in the RNN-NADE
//! of Boulanger-Lewandowski et al. 2012 ("Modeling Temporal Dependencies in High-Dimensional
//! Sequences").

use crate::layers::Linear;
use crate::{Error, Result};
use tch::{Device, Kind, Tensor, nn};

/// A NADE output layer over `keys` cells with `units` hidden units, conditioned on a state of
/// `input` features.
///
/// # Model
///
/// For a state `s` (the GRU's output before the frame) and a frame `v` of `K` cells:
///
/// - biases `b = b0 + W_b s` (`K`) and `c = c0 + W_c s` (`N` hidden units);
/// - for each cell `i`, in key order: `a_i = c + sum_{j < i} v_j W_j` (`W_j`: row `j` of
///   `w_in`, `[K, N]`), `h_i = sigmoid(a_i)`, and `p(v_i = 1 | v_<i, s) = sigmoid(z_i)` with
///   the logit `z_i = b_i + V_i . h_i` (`V_i`: row `i` of `w_out`, `[K, N]`).
///
/// `p(v | s) = prod_i p(v_i | v_<i, s)` is a proper distribution over the `2^K` frames, so the
/// frame NLL is the Bernoulli NLL of the logits `z` summed over the cells: the same formula as
/// independent Bernoullis, with logits that read the cells before them. [`Nade::logits`]
/// computes every `z_i` of a known frame at once; [`NadeSampler`] draws a frame cell by cell.
///
/// # Cost
///
/// `a_i` changes only after a sounding cell, so a frame with `m` sounding cells has at most
/// `m + 1` distinct hidden states. [`Nade::logits`] computes those (`[m + 1, K] x [K, N]`,
/// the segments' sums of `W` rows) and reads each key's logit from its segment's state,
/// instead of `K` states of `N` units per frame (an exclusive cumulative sum over the keys):
/// `O((m + 1) K N)` work and `(m + 1) N` memory per frame instead of `K N` memory (a batch
/// takes the largest `m` in it; a four-part chorale's frames have few). Exact for 0/1 cells,
/// tested against the cell-by-cell [`NadeSampler`].
///
/// Variables (under its path): `visible.weight [keys, input]`, `visible.bias [keys]` (`W_b`,
/// `b0`), `hidden.weight [units, input]`, `hidden.bias [units]` (`W_c`, `c0`), `w_in [keys,
/// units]` (uniform in `±1/sqrt(keys)`, as a `keys -> units` linear layer), `w_out [keys,
/// units]` (uniform in `±1/sqrt(units)`, as a `units -> keys` linear layer).
#[derive(Debug)]
pub struct Nade {
    visible: Linear,
    hidden: Linear,
    w_in: Tensor,
    w_out: Tensor,
    keys: i64,
    units: i64,
}

impl Nade {
    /// Creates the layer's variables under `vs`.
    pub fn new(vs: &nn::Path<'_>, input: i64, keys: i64, units: i64) -> Result<Self> {
        let visible = Linear::new(&(vs / "visible"), input, keys)?;
        let hidden = Linear::new(&(vs / "hidden"), input, units)?;
        let bound_in = 1.0 / (keys as f64).sqrt();
        let bound_out = 1.0 / (units as f64).sqrt();
        Ok(Nade {
            visible,
            hidden,
            w_in: vs.f_uniform("w_in", &[keys, units], -bound_in, bound_in)?,
            w_out: vs.f_uniform("w_out", &[keys, units], -bound_out, bound_out)?,
            keys,
            units,
        })
    }

    /// The cells per frame.
    pub fn keys(&self) -> i64 {
        self.keys
    }

    /// The hidden units.
    pub fn units(&self) -> i64 {
        self.units
    }

    /// The device of the variables.
    pub fn device(&self) -> Device {
        self.w_in.device()
    }

    /// The logits `[.., keys]` of every cell of the frames `cells` (`[.., keys]`, 0/1) given
    /// the cells before it and the states `state` (`[.., input]`, the same leading shape):
    /// `sigmoid` of logit `i` is `p(v_i = 1 | v_<i, s)`. Differentiable in the state and the
    /// variables.
    pub fn logits(&self, state: &Tensor, cells: &Tensor) -> Result<Tensor> {
        let (ss, cs) = (state.size(), cells.size());
        if ss.len() != cs.len()
            || ss.split_last().map(|(_, lead)| lead) != cs.split_last().map(|(_, lead)| lead)
            || cs.last() != Some(&self.keys)
        {
            return Err(Error::Shape {
                what: "NADE cells",
                expected: format!(
                    "[.., {}], the leading shape of the states {ss:?}",
                    self.keys
                ),
                got: cs,
            });
        }
        let (k, n) = (self.keys, self.units);
        let kind = self.w_in.f_kind()?;
        let v = cells.f_reshape([-1, k])?.f_to_kind(kind)?;
        let binary = v.f_eq(0.0)?.f_logical_or(&v.f_eq(1.0)?)?.f_all()?;
        if binary.f_int64_value(&[])? == 0 {
            return Err(Error::Shape {
                what: "NADE cells",
                expected: "0 or 1 in every cell".into(),
                got: cs,
            });
        }
        let b = self.visible.forward(state)?.f_reshape([-1, k])?;
        let c = self.hidden.forward(state)?.f_reshape([-1, n])?;
        // rank[r, i]: the cells sounding before cell i. Cell i's hidden units read the state
        // a of segment rank[r, i]: a_s = c + the sum of W_j over the first s sounding cells.
        let long = v.f_to_kind(Kind::Int64)?;
        let rank = long.f_cumsum(1, Kind::Int64)?.f_sub(&long)?;
        let segments = if rank.numel() == 0 {
            1
        } else {
            rank.f_max()?.f_int64_value(&[])? + 1
        };
        // firsts[r, s, j] = v_j when cell j is among the first s sounding cells of row r.
        let ids = Tensor::f_arange(segments, (Kind::Int64, v.device()))?.f_view([1, -1, 1])?;
        let firsts = rank
            .f_unsqueeze(1)?
            .f_lt_tensor(&ids)?
            .f_to_kind(kind)?
            .f_mul(&v.f_unsqueeze(1)?)?;
        let a = firsts.f_matmul(&self.w_in)?.f_add(&c.f_unsqueeze(1)?)?;
        // Every key's logit from every segment's hidden units [rows, segments, K]; each key
        // takes its own segment's.
        let read = a
            .f_sigmoid()?
            .f_matmul(&self.w_out.f_transpose(0, 1)?)?
            .f_gather(1, &rank.f_unsqueeze(1)?, false)?
            .f_squeeze_dim(1)?;
        Ok(b.f_add(&read)?.f_reshape(cs.as_slice())?)
    }

    /// The biases `b` `[rows, keys]` and `c` `[rows, units]` of the states `state` `[rows,
    /// input]`, as row-major `f32` on the CPU (no autograd): the input of
    /// [`NadeSampler::frame`].
    pub fn biases(&self, state: &Tensor) -> Result<(Vec<f32>, Vec<f32>)> {
        let host = |t: Tensor| -> Result<Vec<f32>> {
            let flat = t
                .f_to_device(Device::Cpu)?
                .f_to_kind(Kind::Float)?
                .f_reshape([-1])?;
            Ok(Vec::<f32>::try_from(&flat)?)
        };
        tch::no_grad(|| {
            Ok((
                host(self.visible.forward(state)?)?,
                host(self.hidden.forward(state)?)?,
            ))
        })
    }

    /// The weights `w_in` and `w_out`, copied to the CPU, for drawing frames.
    pub fn sampler(&self) -> Result<NadeSampler> {
        let host = |t: &Tensor| -> Result<Vec<f64>> {
            let flat = t
                .f_detach()?
                .f_to_device(Device::Cpu)?
                .f_to_kind(Kind::Double)?
                .f_reshape([-1])?;
            Ok(Vec::<f64>::try_from(&flat)?)
        };
        Ok(NadeSampler {
            w_in: host(&self.w_in)?,
            w_out: host(&self.w_out)?,
            keys: self.keys as usize,
            units: self.units as usize,
        })
    }
}

/// A [`Nade`]'s weights on the CPU: draws (or scores) one frame cell by cell, in `f64`.
#[derive(Debug, Clone)]
pub struct NadeSampler {
    w_in: Vec<f64>,
    w_out: Vec<f64>,
    keys: usize,
    units: usize,
}

impl NadeSampler {
    /// One frame from its biases `b` (`keys`) and `c` (`units`): for each cell in key order,
    /// `p_i = p(v_i = 1 | v_<i)` goes into `probs[i]` and the cell into `cells[i]`, taken from
    /// `given` when it is `Some` (scoring a known frame), else 1 when `uniform()` (a draw in
    /// `[0, 1)`, called once per cell) is below `p_i`, else 0. Errors when a slice has the
    /// wrong length.
    pub fn frame(
        &self,
        b: &[f32],
        c: &[f32],
        given: Option<&[f32]>,
        mut uniform: impl FnMut() -> f64,
        cells: &mut [f32],
        probs: &mut [f32],
    ) -> Result<()> {
        let (k, n) = (self.keys, self.units);
        let lengths = [b.len(), c.len(), cells.len(), probs.len()];
        if lengths != [k, n, k, k] || given.is_some_and(|g| g.len() != k) {
            return Err(Error::Shape {
                what: "NADE frame (b, c, cells, probs)",
                expected: format!("[{k}, {n}, {k}, {k}]"),
                got: lengths.iter().map(|&l| l as i64).collect(),
            });
        }
        let mut a: Vec<f64> = c.iter().map(|&x| f64::from(x)).collect();
        let mut h = vec![0f64; n];
        let rows = self.w_in.chunks(n).zip(self.w_out.chunks(n));
        for (i, ((w_in, w_out), (&b_i, (cell, prob)))) in rows
            .zip(b.iter().zip(cells.iter_mut().zip(probs.iter_mut())))
            .enumerate()
        {
            for (h, &a) in h.iter_mut().zip(&a) {
                *h = sigmoid(a);
            }
            let z = f64::from(b_i) + w_out.iter().zip(&h).map(|(w, h)| w * h).sum::<f64>();
            let p = sigmoid(z);
            *prob = p as f32;
            *cell = match given.and_then(|g| g.get(i)) {
                Some(&v) => v,
                None if uniform() < p => 1.0,
                None => 0.0,
            };
            if *cell != 0.0 {
                let v = f64::from(*cell);
                for (a, w) in a.iter_mut().zip(w_in) {
                    *a += v * w;
                }
            }
        }
        Ok(())
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tch::Reduction;

    fn nade(input: i64, keys: i64, units: i64, seed: i64) -> (nn::VarStore, Nade) {
        tch::manual_seed(seed);
        let mut vs = nn::VarStore::new(Device::Cpu);
        let m = Nade::new(&vs.root(), input, keys, units).unwrap();
        // `double` converts each variable in place (`set_data`): the layer's handles follow.
        vs.double();
        (vs, m)
    }

    /// The frame NLL `sum_i softplus(z_i) - v_i z_i` of every row of `cells`.
    fn frame_nll(m: &Nade, state: &Tensor, cells: &Tensor) -> Tensor {
        m.logits(state, cells)
            .unwrap()
            .binary_cross_entropy_with_logits::<Tensor>(cells, None, None, Reduction::None)
            .sum_dim_intlist([-1i64].as_slice(), false, Kind::Double)
    }

    /// All `2^k` frames of `k` cells, `[2^k, k]`, cell 0 the lowest bit.
    fn all_frames(k: i64) -> Tensor {
        let rows: Vec<f64> = (0..1i64 << k)
            .flat_map(|m| (0..k).map(move |i| ((m >> i) & 1) as f64))
            .collect();
        Tensor::from_slice(&rows).view([1 << k, k])
    }

    #[test]
    fn a_three_key_frame_nll_is_the_hand_computed_product_of_conditionals() {
        // K = 3 keys, N = 2 units, a state of 1 feature. Set by hand:
        //   b = b0 + W_b s = (0.5, -1, 0.25) + (1, 0, -2) * s,  c = (0.1, -0.3) + (0, 2) * s,
        //   W (w_in) rows: key 0 (1.5, -1), key 1 (0.5, 2), key 2 (unused: no key after it);
        //   V (w_out) rows: key 0 (3, 3) (unused: h_0 = sigmoid(c)), key 1 (2, -1),
        //   key 2 (-1, 4).
        // For s = 0.5 and v = (1, 0, 1):
        //   b = (1, -1, -0.75), c = (0.1, 0.7)
        //   z0 = 1 + 3 sig(0.1) + 3 sig(0.7)
        //   a1 = c + W_0 = (1.6, -0.3): z1 = -1 + 2 sig(1.6) - sig(-0.3)
        //   a2 = a1 + 0 * W_1:           z2 = -0.75 - sig(1.6) + 4 sig(-0.3)
        //   NLL = -ln sig(z0) - ln(1 - sig(z1)) - ln sig(z2)
        let (_vs, m) = nade(1, 3, 2, 0);
        let set = |t: &Tensor, v: &[f64]| {
            tch::no_grad(|| {
                t.shallow_clone()
                    .copy_(&Tensor::from_slice(v).view(t.size().as_slice()))
            })
        };
        set(&m.visible.weight, &[1.0, 0.0, -2.0]);
        set(&m.visible.bias, &[0.5, -1.0, 0.25]);
        set(&m.hidden.weight, &[0.0, 2.0]);
        set(&m.hidden.bias, &[0.1, -0.3]);
        set(&m.w_in, &[1.5, -1.0, 0.5, 2.0, 7.0, 7.0]);
        set(&m.w_out, &[3.0, 3.0, 2.0, -1.0, -1.0, 4.0]);
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let z0 = 1.0 + 3.0 * sig(0.1) + 3.0 * sig(0.7);
        let z1 = -1.0 + 2.0 * sig(1.6) - sig(-0.3);
        let z2 = -0.75 - sig(1.6) + 4.0 * sig(-0.3);
        let want = -sig(z0).ln() - (1.0 - sig(z1)).ln() - sig(z2).ln();
        let state = Tensor::from_slice(&[0.5f64]).view([1, 1]);
        let cells = Tensor::from_slice(&[1.0f64, 0.0, 1.0]).view([1, 3]);
        let got = frame_nll(&m, &state, &cells).double_value(&[0]);
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        let z = m.logits(&state, &cells).unwrap();
        for (i, zi) in [z0, z1, z2].into_iter().enumerate() {
            assert!((z.double_value(&[0, i as i64]) - zi).abs() < 1e-12);
        }
    }

    #[test]
    fn the_probabilities_of_all_frames_sum_to_one_and_match_the_sequential_sampler() {
        // K = 5 keys: the 32 frames' probabilities exp(-NLL) sum to 1 for each of 3 states
        // (leading shape [3, 32]), and the cell-by-cell sampler scores each frame the same.
        let (_vs, m) = nade(4, 5, 7, 1);
        let states =
            Tensor::randn([3, 1, 4], (Kind::Double, Device::Cpu)).expand([3, 32, 4], false);
        let frames = all_frames(5).unsqueeze(0).expand([3, 32, 5], false);
        let nll = frame_nll(&m, &states, &frames);
        let total = nll
            .neg()
            .exp()
            .sum_dim_intlist([1i64].as_slice(), false, Kind::Double);
        for s in 0..3 {
            let t = total.double_value(&[s]);
            assert!((t - 1.0).abs() < 1e-12, "state {s}: {t}");
        }
        let sampler = m.sampler().unwrap();
        let logits = m.logits(&states, &frames).unwrap();
        for s in 0..3 {
            let (b, c) = m.biases(&states.get(s).narrow(0, 0, 1)).unwrap();
            for f in 0..32 {
                let given =
                    Vec::<f32>::try_from(frames.get(s).get(f).to_kind(Kind::Float).contiguous())
                        .unwrap();
                let (mut cells, mut probs) = (vec![0f32; 5], vec![0f32; 5]);
                sampler
                    .frame(&b, &c, Some(&given), || 2.0, &mut cells, &mut probs)
                    .unwrap();
                assert_eq!(cells, given);
                let want =
                    Vec::<f64>::try_from(logits.get(s).get(f).sigmoid().contiguous()).unwrap();
                for (p, w) in probs.iter().zip(&want) {
                    assert!((f64::from(*p) - w).abs() < 1e-6, "{p} vs {w}");
                }
            }
        }
        // Wrong shapes and non-binary cells are errors.
        assert!(m.logits(&states, &all_frames(4)).is_err());
        assert!(m.logits(&states, &(frames.shallow_clone() * 0.5)).is_err());
        let (mut cells, mut probs) = (vec![0f32; 4], vec![0f32; 5]);
        assert!(
            sampler
                .frame(&[0.0; 5], &[0.0; 7], None, || 0.5, &mut cells, &mut probs)
                .is_err()
        );
    }

    #[test]
    fn gradients_equal_central_differences() {
        // The mean frame NLL of 4 random frames of 6 keys, in f64: autograd's gradient for the
        // states and every variable against (f(x + e) - f(x - e)) / 2e, e = 1e-6.
        let (vs, m) = nade(3, 6, 4, 2);
        let state = Tensor::randn([4, 3], (Kind::Double, Device::Cpu)).set_requires_grad(true);
        let cells = Tensor::rand([4, 6], (Kind::Double, Device::Cpu))
            .gt(0.6)
            .to_kind(Kind::Double);
        let loss = |s: &Tensor| frame_nll(&m, s, &cells).mean(Kind::Double);
        loss(&state).backward();
        let mut params: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        params.push(("state".into(), state.shallow_clone()));
        let eps = 1e-6;
        let mut checked = 0;
        for (name, p) in &params {
            let grad = p.grad();
            let flat = p.view([-1]);
            for j in 0..flat.size()[0] {
                let at = flat.double_value(&[j]);
                let value = |x: f64| {
                    tch::no_grad(|| {
                        let _ = flat.get(j).fill_(x);
                        loss(&state).double_value(&[])
                    })
                };
                let numeric = (value(at + eps) - value(at - eps)) / (2.0 * eps);
                value(at);
                let analytic = grad.view([-1]).double_value(&[j]);
                assert!(
                    (numeric - analytic).abs() < 1e-6 * (1.0 + analytic.abs()),
                    "{name}[{j}]: {numeric} vs {analytic}"
                );
                checked += 1;
            }
        }
        // visible 6*3+6, hidden 4*3+4, w_in 24, w_out 24, state 12.
        assert_eq!(checked, 24 + 16 + 24 + 24 + 12);
    }
}
