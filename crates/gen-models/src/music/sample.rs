//! Drawing rolls from a [`FrameGru`], frame by frame.

use super::{FrameGru, KEYS, Output};
use crate::layers::Linear;
use crate::music::{Nade, NadeSampler};
use crate::sampling::{SamplerRng, sampler_rng};
use crate::{Error, Result};
use rand::Rng;
use tch::{Device, Kind, Tensor};

/// Rolls drawn by [`FrameGru::sample`].
#[derive(Debug)]
pub struct RollSample {
    /// The frames `[n, frames, 88]`, float 0/1, the opening (if any) first.
    pub frames: Tensor,
    /// The probabilities `[n, frames, 88]` that the model gave each frame's keys, from the
    /// frames before it (for the opening too).
    pub probs: Tensor,
}

impl FrameGru {
    /// Draws `n` rolls of `frames` frames. Each frame's 88 keys are drawn independently, key
    /// `k` sounding with the model's probability given the frames drawn before it (a silent
    /// frame before the first); with the NADE output they are drawn in key order, each given
    /// the keys drawn below it ([`NadeSampler::frame`]). `opening` (float `[T0, 88]`, 0/1,
    /// `T0 <= frames`) gives the first `T0` frames of every roll instead of drawing them.
    ///
    /// Runs the GRU one step at a time ([`crate::GruStepper`], no autograd). Roll `i` draws
    /// its uniforms from `sampler_rng(seed, i)`, 88 per drawn frame in key order, so a roll
    /// depends only on the seed and its index, not on `n` or the device.
    pub fn sample(
        &self,
        n: usize,
        frames: usize,
        opening: Option<&Tensor>,
        seed: u64,
    ) -> Result<RollSample> {
        let device = self.device();
        let opening = match opening {
            Some(o) => {
                let size = o.size();
                match size.as_slice() {
                    [t0, KEYS] if *t0 as usize <= frames && o.f_kind()? == Kind::Float => {
                        Some(o.f_to_device(device)?)
                    }
                    _ => {
                        return Err(Error::Shape {
                            what: "opening",
                            expected: format!("float [frames <= {frames}, {KEYS}]"),
                            got: size,
                        });
                    }
                }
            }
            None => None,
        };
        let opening_len = opening
            .as_ref()
            .and_then(|o| o.size().first().copied())
            .unwrap_or(0) as usize;
        let rows = n as i64;
        let stepper = self.gru.stepper()?;
        let head = match &self.output {
            Output::Bernoulli(linear) => Head::Bernoulli(linear),
            Output::Nade(nade) => Head::Nade(nade, nade.sampler()?),
        };
        let mut rngs: Vec<_> = (0..n).map(|i| sampler_rng(seed, i as u64)).collect();
        tch::no_grad(|| {
            let zeros = || Tensor::f_zeros([rows, self.config.hidden_size], (Kind::Float, device));
            let mut state = (0..self.config.gru.num_layers)
                .map(|_| zeros())
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let mut prev = Tensor::f_zeros([rows, KEYS], (Kind::Float, device))?;
            let (mut drawn, mut probs) = (Vec::new(), Vec::new());
            for t in 0..frames {
                let gi = stepper.input_table(&prev)?;
                let top = stepper.step(&gi, &mut state)?;
                let given = match &opening {
                    Some(o) if t < opening_len => Some(o.f_select(0, t as i64)?),
                    _ => None,
                };
                let (frame, p) = match &head {
                    Head::Bernoulli(linear) => {
                        let p = linear.forward(&top)?.f_sigmoid()?;
                        let frame = match given {
                            Some(g) => g
                                .f_unsqueeze(0)?
                                .f_expand([rows, KEYS], false)?
                                .f_contiguous()?,
                            None => independent(&p, &mut rngs, device)?,
                        };
                        (frame, p)
                    }
                    Head::Nade(nade, sampler) => {
                        nade_frames(nade, sampler, &top, given.as_ref(), &mut rngs)?
                    }
                };
                drawn.push(frame.shallow_clone());
                probs.push(p);
                prev = frame;
            }
            let stack = |v: &[Tensor]| -> Result<Tensor> {
                if v.is_empty() {
                    Ok(Tensor::f_zeros([rows, 0, KEYS], (Kind::Float, device))?)
                } else {
                    Ok(Tensor::f_stack(v, 1)?)
                }
            };
            Ok(RollSample {
                frames: stack(&drawn)?,
                probs: stack(&probs)?,
            })
        })
    }
}

/// The output layer, with what it needs to draw.
enum Head<'a> {
    Bernoulli(&'a Linear),
    Nade(&'a Nade, NadeSampler),
}

/// One frame per roll from the probabilities `p` `[rows, 88]`: key `k` of roll `i` sounds when
/// the next uniform of `rngs[i]` is below `p[i, k]`.
fn independent(p: &Tensor, rngs: &mut [SamplerRng], device: Device) -> Result<Tensor> {
    let flat = p.f_to_device(Device::Cpu)?.f_reshape([-1])?;
    let pv = Vec::<f32>::try_from(&flat)?;
    let mut cells = vec![0f32; pv.len()];
    for ((out, ps), rng) in cells
        .chunks_mut(KEYS as usize)
        .zip(pv.chunks(KEYS as usize))
        .zip(rngs.iter_mut())
    {
        for (cell, &pk) in out.iter_mut().zip(ps) {
            let u: f64 = rng.r#gen();
            *cell = if u < f64::from(pk) { 1.0 } else { 0.0 };
        }
    }
    Ok(Tensor::f_from_slice(&cells)?
        .f_view(p.size().as_slice())?
        .f_to_device(device)?)
}

/// One frame per roll from the NADE given the GRU's outputs `top` `[rows, hidden]`: drawn
/// key by key with `rngs[i]` for roll `i`, or, with `given` (`[88]`), that frame for every
/// roll. Returns the frames and the probabilities `[rows, 88]` the NADE gave each key.
fn nade_frames(
    nade: &Nade,
    sampler: &NadeSampler,
    top: &Tensor,
    given: Option<&Tensor>,
    rngs: &mut [SamplerRng],
) -> Result<(Tensor, Tensor)> {
    let (b, c) = nade.biases(top)?;
    let given = match given {
        Some(g) => Some(Vec::<f32>::try_from(
            &g.f_to_device(Device::Cpu)?.f_to_kind(Kind::Float)?,
        )?),
        None => None,
    };
    let units = nade.units() as usize;
    let mut cells = vec![0f32; b.len()];
    let mut probs = vec![0f32; b.len()];
    let rows = b.chunks(KEYS as usize).zip(c.chunks(units)).zip(
        cells
            .chunks_mut(KEYS as usize)
            .zip(probs.chunks_mut(KEYS as usize)),
    );
    for (((b, c), (cells, probs)), rng) in rows.zip(rngs.iter_mut()) {
        sampler.frame(b, c, given.as_deref(), || rng.r#gen(), cells, probs)?;
    }
    let size = [rngs.len() as i64, KEYS];
    let device = nade.device();
    Ok((
        Tensor::f_from_slice(&cells)?
            .f_view(size)?
            .f_to_device(device)?,
        Tensor::f_from_slice(&probs)?
            .f_view(size)?
            .f_to_device(device)?,
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Module;
    use crate::gru::GruConfig;
    use crate::music::{FrameGruConfig, FrameOutput};
    use tch::nn;

    fn model(layers: i64, output: FrameOutput) -> (nn::VarStore, FrameGru) {
        tch::manual_seed(5);
        let vs = nn::VarStore::new(Device::Cpu);
        let config = FrameGruConfig {
            hidden_size: 12,
            gru: GruConfig {
                num_layers: layers,
                ..Default::default()
            },
            dropout: 0.5,
            output,
            nade_hidden: 10,
        };
        let m = FrameGru::init(&vs.root(), &config).unwrap();
        (vs, m)
    }

    #[test]
    fn stepping_through_an_opening_gives_the_whole_sequence_probabilities() {
        // The stepper (fused kernel, no autograd) against libtorch's `gru` over the sequence;
        // for the NADE, also the key-by-key sampler against the whole-frame logits.
        for (layers, output) in [
            (1, FrameOutput::Bernoulli),
            (2, FrameOutput::Bernoulli),
            (2, FrameOutput::Nade),
        ] {
            let (_vs, m) = model(layers, output);
            let roll = Tensor::rand([9, 88], (Kind::Float, Device::Cpu))
                .gt(0.9)
                .to_kind(Kind::Float);
            let s = m.sample(2, 9, Some(&roll), 1).unwrap();
            assert_eq!(s.frames.size(), [2, 9, 88]);
            assert_eq!(s.frames.get(1), roll);
            let want = m.logits(&roll.unsqueeze(0), false).unwrap().sigmoid();
            let diff = (s.probs.get(1) - want.get(0)).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "{layers} layers, {output:?}: {diff}");
        }
    }

    #[test]
    fn samples_are_seeded_binary_and_independent_of_the_batch() {
        for output in [FrameOutput::Bernoulli, FrameOutput::Nade] {
            seeded_binary_and_independent_of_the_batch(output);
        }
    }

    fn seeded_binary_and_independent_of_the_batch(output: FrameOutput) {
        let (_vs, m) = model(1, output);
        let a = m.sample(3, 20, None, 11).unwrap();
        assert_eq!(a.frames.size(), [3, 20, 88]);
        assert_eq!(a.probs.size(), [3, 20, 88]);
        let b = m.sample(3, 20, None, 11).unwrap();
        assert_eq!(a.frames, b.frames);
        let c = m.sample(3, 20, None, 12).unwrap();
        assert_ne!(a.frames, c.frames);
        let one = m.sample(1, 20, None, 11).unwrap();
        assert_eq!(one.frames.get(0), a.frames.get(0));
        let ones = a.frames.eq(1.0).logical_or(&a.frames.eq(0.0));
        assert_eq!(ones.all().int64_value(&[]), 1);
        // An untrained model gives p near 1/2: about half the cells sound.
        let mean = a.frames.mean(Kind::Float).double_value(&[]);
        assert!((0.3..0.7).contains(&mean), "{output:?}: {mean}");
        let long = Tensor::zeros([21, 88], (Kind::Float, Device::Cpu));
        assert!(m.sample(1, 20, Some(&long), 0).is_err());
    }
}
