//! Times an all-reduce (sum) of f32 tensors over Gloo.
//!
//! Launched plainly, it hosts a store ([`gen_dist::LocalAgent`]) and starts itself as N local
//! ranks of one libtorch thread each:
//!
//! ```text
//! cargo run --release -p gen-dist --example allreduce_latency -- [MIB=4] [RANKS=2] [ITERS=30]
//! ```
//!
//! Launched by torchrun or srun (with `RANK` and `WORLD_SIZE`, or SLURM's variables, set), it
//! is one rank, which makes it a quick check of a cluster's network:
//!
//! ```text
//! torchrun --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d --rdzv-endpoint HOST:29400 \
//!     --no-python target/release/examples/allreduce_latency 4
//! ```

use anyhow::{Context, Result, bail};
use gen_dist::{DistConfig, LocalAgent, ProcessGroup, Rendezvous};
use std::time::{Duration, Instant};
use tch::{Kind, Tensor};

fn arg(index: usize, default: f64) -> Result<f64> {
    std::env::args().nth(index).map_or(Ok(default), |a| {
        a.parse().context("arguments: [MIB] [RANKS] [ITERS]")
    })
}

fn main() -> Result<()> {
    let mib = arg(1, 4.0)?;
    let iters = arg(3, 30.0)? as usize;
    if Rendezvous::from_env()?.is_some() {
        return rank(mib, iters.max(1));
    }
    let ranks = arg(2, 2.0)? as usize;
    let agent = LocalAgent::host(ranks, Duration::from_secs(60))?;
    let exe = std::env::current_exe()?;
    let children = (0..ranks)
        .map(|r| {
            std::process::Command::new(&exe)
                .args(std::env::args().skip(1))
                .envs(agent.rank_env(r))
                .env("OMP_NUM_THREADS", "1")
                .spawn()
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut failed = 0;
    for mut child in children {
        if !child.wait()?.success() {
            failed += 1;
        }
    }
    if failed > 0 {
        bail!("{failed} rank(s) failed");
    }
    Ok(())
}

fn rank(mib: f64, iters: usize) -> Result<()> {
    tch::set_num_threads(1);
    let config = DistConfig::default().with_timeouts(Duration::from_secs(60));
    let group = ProcessGroup::from_env(&config)?.context("no rendezvous variables")?;
    let numel = (mib * 1024.0 * 1024.0 / 4.0) as i64;
    let mut tensor = Tensor::ones([numel], (Kind::Float, tch::Device::Cpu));
    for _ in 0..3 {
        group.all_reduce_sum(&mut tensor)?;
    }
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        group.barrier()?;
        let start = Instant::now();
        group.all_reduce_sum(&mut tensor)?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    // Each run's time averaged over the ranks.
    let summed = group.sum_f64(&times)?;
    if group.is_main() {
        let mut mean: Vec<f64> = summed
            .iter()
            .map(|t| t / group.world_size() as f64)
            .collect();
        mean.sort_by(f64::total_cmp);
        let median = mean[mean.len() / 2];
        println!(
            "all-reduce of {mib} MiB f32 on {} ranks: median {median:.2} ms, min {:.2} ms, \
             max {:.2} ms over {iters} runs (per-run mean over ranks)",
            group.world_size(),
            mean[0],
            mean[mean.len() - 1],
        );
    }
    Ok(())
}
