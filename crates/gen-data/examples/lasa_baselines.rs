//! How well do real LASA demonstrations predict an unseen one? For every shape and held-out
//! demo `k` (the leave-one-out of `gen-train`'s `lasa` example), counts the pairs where a
//! predictor is closer on DTW to demo `k` than the mean of the six other demos:
//!
//! - `demo`: each other demo replayed as is (the mean of their DTWs);
//! - `shifted demo`: each other demo moved to demo `k`'s start, the offset fading linearly to
//!   zero at the end (as `TrajectoryMdnConfig::offset_noise` shifts demos in training);
//! - `shifted mean`: the mean demo moved the same way.
//!
//! A sampler that draws demo-like motions scores like `shifted demo`.
//!
//! ```text
//! cargo run --release -p gen-data --example lasa_baselines   # after cargo xtask fetch-data lasa
//! ```

use gen_data::lasa::load_lasa;
use gen_data::trajectory::{dtw, mean_trajectory, resample};
use ndarray::{Array2, ArrayView2};

/// `traj` moved so that it starts at `start`, the offset fading linearly to zero at its end.
fn shifted(traj: ArrayView2<'_, f64>, start: ArrayView2<'_, f64>) -> Array2<f64> {
    let len = traj.nrows();
    let mut out = traj.to_owned();
    for (i, mut row) in out.rows_mut().into_iter().enumerate() {
        let fade = 1.0 - i as f64 / (len - 1).max(1) as f64;
        for (j, v) in row.iter_mut().enumerate() {
            *v += (start[[0, j]] - traj[[0, j]]) * fade;
        }
    }
    out
}

fn main() -> anyhow::Result<()> {
    let shapes = load_lasa("datasets/lasa")?;
    let len = 50;
    let mut totals = [0usize; 3];
    let mut pairs = 0;
    let folds = shapes.iter().map(|s| s.demos.len()).min().unwrap_or(0);
    for k in 0..folds {
        let mut wins = [0usize; 3];
        for shape in &shapes {
            let all: Vec<Array2<f64>> = shape
                .demos
                .iter()
                .map(|d| resample(d.pos.view(), len))
                .collect::<gen_data::Result<_>>()?;
            let held = &all[k];
            let others: Vec<ArrayView2<'_, f64>> = all
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != k)
                .map(|(_, a)| a.view())
                .collect();
            let mean = mean_trajectory(&others, len)?;
            let start = held.slice(ndarray::s![0..1, ..]);
            let to_held = |t: ArrayView2<'_, f64>| dtw(t, held.view());
            let baseline = to_held(mean.view())?;
            let mut demo = 0.0;
            let mut shifted_demo = 0.0;
            for o in &others {
                demo += to_held(*o)? / others.len() as f64;
                shifted_demo += to_held(shifted(*o, start).view())? / others.len() as f64;
            }
            let shifted_mean = to_held(shifted(mean.view(), start).view())?;
            for (w, d) in wins.iter_mut().zip([demo, shifted_demo, shifted_mean]) {
                *w += usize::from(d < baseline);
            }
            pairs += 1;
        }
        println!(
            "held out {k}: beat the mean demo on {}/{n} shapes (demo), {}/{n} (shifted demo), {}/{n} (shifted mean)",
            wins[0],
            wins[1],
            wins[2],
            n = shapes.len()
        );
        for (t, w) in totals.iter_mut().zip(wins) {
            *t += w;
        }
    }
    println!(
        "all: {}/{pairs} (demo), {}/{pairs} (shifted demo), {}/{pairs} (shifted mean)",
        totals[0], totals[1], totals[2]
    );
    Ok(())
}
