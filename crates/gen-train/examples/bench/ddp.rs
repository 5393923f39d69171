//! `ddp-step`: the `seed-step` train step as one rank of a data-parallel run, as `gen train
//! --nproc-per-node 2` trains: a c10d Gloo group over 127.0.0.1, every rank on its share of
//! the batch, gradients averaged by `DataParallel`'s buckets (the Trainer's own all-reduce).
//!
//! Rank 0 is the bench worker. Unless a launcher (torchrun) started the ranks, it hosts the
//! store (`LocalAgent`, a free port) and starts the other ranks: this program again, with the
//! same arguments and torchrun's variables. Before each turn of `run N`, rank 0 broadcasts
//! `N` (and `-1` at the end), so every rank takes the same steps; the others take them
//! without timing or printing anything.

use super::{BATCH, SEQ, SeedStep, Workload};
use anyhow::{Context, Result, bail};
use gen_dist::{DistConfig, LocalAgent, ProcessGroup, Rendezvous, broadcast_parameters};
use gen_train::TrainStep;
use gen_train::learner::DataParallel;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use tch::Tensor;

/// The ranks of the run.
pub const RANKS: usize = 2;

/// Each rank's intra-op threads when the side has `threads`: an equal share, at least 1.
pub fn threads_per_rank(threads: usize) -> usize {
    (threads / RANKS).max(1)
}

/// One rank of the run.
pub struct DdpStep {
    step: SeedStep,
    group: Rc<ProcessGroup>,
    threads: usize,
    /// On rank 0, when it started them: the other ranks and the store they meet at.
    others: Vec<Child>,
    _agent: Option<LocalAgent>,
}

impl DdpStep {
    /// Joins (or, on a plain start, makes) the group, builds the model and this rank's share
    /// of the batch, copies rank 0's parameters and attaches the gradient all-reduce.
    pub fn new(threads: usize) -> Result<Self> {
        let config = DistConfig::default();
        let (group, others, agent) = match ProcessGroup::from_env(&config)? {
            Some(group) => (group, Vec::new(), None),
            None => {
                let agent = LocalAgent::host(RANKS, config.init_timeout()?)?;
                let exe = std::env::current_exe().context("cannot find this program")?;
                let mut others = Vec::new();
                for rank in 1..RANKS {
                    let child = Command::new(&exe)
                        .args(std::env::args_os().skip(1))
                        .envs(agent.rank_env(rank))
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .spawn()
                        .with_context(|| format!("cannot start rank {rank}"))?;
                    others.push(child);
                }
                let vars = agent.rank_env(0);
                let var = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
                let rendezvous = Rendezvous::from_vars(var)?.context("no rendezvous for rank 0")?;
                (
                    ProcessGroup::init(&rendezvous, &config)?,
                    others,
                    Some(agent),
                )
            }
        };
        if group.world_size() != RANKS {
            bail!("ddp-step runs on {RANKS} ranks, not {}", group.world_size());
        }
        let rank = i64::try_from(group.rank())?;
        let mut step = SeedStep::new(rank, RANKS as i64)?;
        let group = Rc::new(group);
        // DDP's start: every rank from rank 0's parameters (and optimiser state).
        let mut state: Vec<Tensor> = step.task.state()?.into_iter().map(|(_, t)| t).collect();
        broadcast_parameters(&group, &mut state)?;
        DataParallel::new(group.clone(), &config)?.attach(&mut step.task)?;
        Ok(DdpStep {
            step,
            group,
            threads,
            others,
            _agent: agent,
        })
    }

    /// Whether this is rank 0, the bench worker.
    pub fn is_main(&self) -> bool {
        self.group.is_main()
    }

    /// Another rank's life: `warmup` steps, then the steps rank 0 announces until it says
    /// stop.
    pub fn follow(mut self, warmup: usize) -> Result<()> {
        for _ in 0..warmup {
            self.step.iteration()?;
        }
        while let Some(n) = self.announced(None)? {
            for _ in 0..n {
                self.step.iteration()?;
            }
        }
        Ok(())
    }

    /// Broadcasts rank 0's `n` (`None`: stop) to every rank; returns it.
    fn announced(&self, n: Option<usize>) -> Result<Option<usize>> {
        let value = n.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let mut t = Tensor::f_from_slice(&[value])?;
        self.group.broadcast(&mut t, 0)?;
        Ok(usize::try_from(t.f_int64_value(&[0])?).ok())
    }
}

impl Workload for DdpStep {
    fn shape(&self) -> Value {
        let rows = BATCH / RANKS as i64;
        json!({
            "vocab": super::VOCAB, "embedding": 128, "gru": 128, "classes": 2,
            "batch": BATCH, "seq": SEQ, "ranks": RANKS, "batch_per_rank": rows,
            "threads_per_rank": self.threads,
        })
    }

    fn iteration(&mut self) -> Result<BTreeMap<String, f64>> {
        self.step.iteration()
    }

    fn turn(&mut self, n: Option<usize>) -> Result<()> {
        self.announced(n)?;
        if n.is_none() {
            for (rank, mut child) in (1..).zip(self.others.drain(..)) {
                let status = child.wait()?;
                if !status.success() {
                    bail!("rank {rank} ended with {status}");
                }
            }
        }
        Ok(())
    }
}

impl Drop for DdpStep {
    fn drop(&mut self) {
        // After an error: our own children only, if still running.
        for child in &mut self.others {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
