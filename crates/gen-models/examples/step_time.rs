//! Times forward + backward of the seed classifier's GRU (batch 128, seq 256, embedding
//! 10000 x 128, hidden 128), interleaved, median of 7 each: libtorch's fused dense GRU over
//! embedded tokens, gen's token-table path under autograd, and the token-table path with the
//! hand-written backward pass. `ONLY=dense|tokens|taped` times one of them.
//!
//! ```text
//! THREADS=1 cargo run --release -p gen-models --example step_time
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)] // Example code may panic.
use gen_models::layers::Embedding;
use gen_models::{Gru, GruConfig, GruMode};
use tch::{Device, Kind, Tensor, nn};

fn main() {
    // As `gen` runs by default (`runtime.flush_denormals`): GRU gradients underflow, and
    // denormal arithmetic is many times slower.
    gen_core::set_flush_denormal(true);
    // Also gen's default (`runtime.retain_memory`); RETAIN=0 measures without.
    if std::env::var("RETAIN").map_or(true, |v| v != "0") {
        gen_core::retain_freed_memory();
    }
    if let Some(n) = std::env::var("THREADS").ok().and_then(|v| v.parse().ok()) {
        tch::set_num_threads(n);
    }
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let emb = Embedding::new(&(vs.root() / "emb"), 10000, 128, Some(0)).unwrap();
    let gru = Gru::new(&(vs.root() / "gru"), 128, 128, &GruConfig::default()).unwrap();
    let tokens = Tensor::randint_low(1, 10000, [128, 256], (Kind::Int64, Device::Cpu));
    let lengths = Tensor::full([128], 256, (Kind::Int64, Device::Cpu));
    let all = ["dense", "tokens", "taped"];
    let only = std::env::var("ONLY").unwrap_or_default();
    let names: Vec<&str> = all
        .into_iter()
        .filter(|n| only.is_empty() || only == *n)
        .collect();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut fwd: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for round in 0..8 {
        for (i, name) in names.iter().enumerate() {
            let t = std::time::Instant::now();
            let out = match *name {
                "dense" => gru
                    .forward(&emb.forward(&tokens).unwrap(), None, GruMode::Train)
                    .unwrap(),
                "tokens" => gru
                    .forward_tokens(&emb, &tokens, &lengths, GruMode::Train)
                    .unwrap(),
                _ => gru
                    .forward_tokens(&emb, &tokens, &lengths, GruMode::Taped)
                    .unwrap(),
            };
            let forward = t.elapsed().as_secs_f64() * 1e3;
            out.tapes
                .backward_after(&out.state.sum(Kind::Float))
                .unwrap();
            if round > 0 {
                times[i].push(t.elapsed().as_secs_f64() * 1e3);
                fwd[i].push(forward);
            }
        }
    }
    for ((name, mut t), mut f) in names.iter().zip(times).zip(fwd) {
        t.sort_by(f64::total_cmp);
        f.sort_by(f64::total_cmp);
        println!(
            "{name:>7}: forward+backward median {:.1} ms (forward {:.1} ms)",
            t[t.len() / 2],
            f[f.len() / 2]
        );
    }
}
