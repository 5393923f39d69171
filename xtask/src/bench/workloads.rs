//! The workload catalogue of `cargo xtask bench`: each workload, its peer configurations and
//! plans, and the selection of `--only`.

use super::BenchArgs;
use super::peers::{Config, Peer, Setting};
use anyhow::{Result, bail};

/// How much of a workload to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Untimed iterations at set-up. When above 0, each turn also starts with one untimed
    /// iteration: a side that sat idle while the others ran comes back cold (this machine's
    /// kernel pages idle memory out), which would otherwise be timed as the first iteration.
    pub warmup: usize,
    /// Turns of each side.
    pub rounds: usize,
    /// Timed iterations per turn.
    pub iters: usize,
}

/// Which gen program serves a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GenProgram {
    /// `gen-train`'s `bench` example (needs libtorch).
    Train,
    /// `gen-data`'s `bench_pad` example (no libtorch).
    Data,
}

/// A workload and its peers.
#[derive(Debug)]
pub struct Workload {
    /// Its name, as the workers and the report know it.
    pub name: &'static str,
    /// The group `--only` also accepts.
    pub group: &'static str,
    /// What one iteration is.
    pub what: &'static str,
    pub(super) r#gen: GenProgram,
    /// A workload of gen's own that runs beside it as one more side, `gen-<name>`, taking
    /// turns with the others: gen compared with gen (`ddp-step`'s 2 processes against
    /// `seed-step`'s 1 process on as many threads). It is no peer: no column, never the
    /// fastest. Its shapes must be a part of the workload's.
    pub baseline: Option<&'static str>,
    /// The peer configurations, in the order they take their turns.
    pub peers: &'static [Config],
    /// The target: gen's median over the fastest peer configuration's at most this.
    pub target: Option<f64>,
    /// The dataset it reads (fetched first with `cargo xtask fetch-data`), if any.
    pub(super) dataset: Option<&'static str>,
    quick: Option<Plan>,
    full: Plan,
}

pub(super) const fn plan(warmup: usize, rounds: usize, iters: usize) -> Plan {
    Plan {
        warmup,
        rounds,
        iters,
    }
}

// The settings the tuned peer configurations choose from (see `bench/README.md`, "Peer
// configurations", for the measurements behind each choice).
/// `torch.set_flush_denormal(True)`.
pub(super) const FLUSH: Setting = Setting::Flag("--flush-denormal");
/// libgomp's waiting threads sleep at once.
pub(super) const PASSIVE: Setting = Setting::Env("OMP_WAIT_POLICY", "PASSIVE");
/// Keras's `model.compile(jit_compile=True)`: XLA.
const JIT: Setting = Setting::Flag("--jit-compile");
/// TensorFlow without its oneDNN graph rewrites and kernels.
const NO_ONEDNN: Setting = Setting::Env("TF_ENABLE_ONEDNN_OPTS", "0");

pub(super) const TORCH: Config = Config::defaults(Peer::Torch);
const KERAS: Config = Config::defaults(Peer::Keras);
// The candidates of `torch-tuned` and `keras-tuned`: the winner is the tuned configuration,
// the others are trials (run with `--trials`). `OMP_WAIT_POLICY=ACTIVE` is no candidate: its
// worker's threads spin through the other sides' turns, which made every other side of a
// 2-core run about 3 times slower (bench/README.md, "Peer configurations").
const TORCH_FD: &[Setting] = &[FLUSH];
const TORCH_FD_PASSIVE: &[Setting] = &[FLUSH, PASSIVE];
const KERAS_JIT: &[Setting] = &[JIT];
const KERAS_NO_ONEDNN: &[Setting] = &[NO_ONEDNN];
const KERAS_JIT_NO_ONEDNN: &[Setting] = &[JIT, NO_ONEDNN];

const SEED_STEP_PEERS: &[Config] = &[
    TORCH,
    Config::tuned("torch-tuned", Peer::Torch, TORCH_FD),
    KERAS,
    Config::tuned("keras-tuned", Peer::Keras, KERAS_JIT),
    Config::trial("torch-fd-passive", Peer::Torch, TORCH_FD_PASSIVE),
    Config::trial("keras-no-onednn", Peer::Keras, KERAS_NO_ONEDNN),
    Config::trial("keras-jit-no-onednn", Peer::Keras, KERAS_JIT_NO_ONEDNN),
];
const DDP_PEERS: &[Config] = &[
    TORCH,
    Config::tuned("torch-tuned", Peer::Torch, TORCH_FD),
    Config::trial("torch-fd-passive", Peer::Torch, TORCH_FD_PASSIVE),
];
const SEED_EPOCH_PEERS: &[Config] = &[
    KERAS,
    Config::tuned("keras-tuned", Peer::Keras, KERAS_JIT),
    Config::trial("keras-no-onednn", Peer::Keras, KERAS_NO_ONEDNN),
    Config::trial("keras-jit-no-onednn", Peer::Keras, KERAS_JIT_NO_ONEDNN),
];
const DCGAN_PEERS: &[Config] = &[
    TORCH,
    Config::tuned("torch-tuned", Peer::Torch, TORCH_FD),
    Config::trial("torch-fd-passive", Peer::Torch, TORCH_FD_PASSIVE),
];
const DCGAN_BF16_PEERS: &[Config] = &[
    TORCH,
    Config::tuned("torch-tuned", Peer::Torch, TORCH_FD),
    Config::trial("torch-fd-passive", Peer::Torch, TORCH_FD_PASSIVE),
];
const LM_B1_PEERS: &[Config] = &[
    TORCH,
    Config::tuned("torch-tuned", Peer::Torch, TORCH_FD),
    Config::trial("torch-fd-passive", Peer::Torch, TORCH_FD_PASSIVE),
];
const LM_B32_PEERS: &[Config] = &[
    TORCH,
    Config::tuned("torch-tuned", Peer::Torch, TORCH_FD),
    Config::trial("torch-fd-passive", Peer::Torch, TORCH_FD_PASSIVE),
];

/// Every workload, in the order they run.
pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "seed-step",
        group: "seed-step",
        what: "one train step (fwd, bwd, Adam) of Embedding 10000x128 -> GRU 128 -> Dense 2, batch 128 x 256 tokens",
        r#gen: GenProgram::Train,
        baseline: None,
        peers: SEED_STEP_PEERS,
        target: Some(0.7),
        dataset: None,
        quick: Some(plan(1, 3, 1)),
        full: plan(2, 5, 2),
    },
    Workload {
        name: "ddp-step",
        group: "ddp-step",
        what: "seed-step data-parallel: 2 processes x half the threads, 64 reviews each, gradients all-reduced over c10d Gloo (PyTorch: DistributedDataParallel)",
        r#gen: GenProgram::Train,
        baseline: Some("seed-step"),
        peers: DDP_PEERS,
        target: Some(0.8),
        dataset: None,
        quick: Some(plan(1, 3, 1)),
        full: plan(2, 5, 2),
    },
    Workload {
        name: "seed-epoch",
        group: "seed-epoch",
        what: "one epoch of the seed config on IMDB (16,000 train / 4,000 validation reviews), wall time",
        r#gen: GenProgram::Train,
        baseline: None,
        peers: SEED_EPOCH_PEERS,
        target: Some(0.5),
        dataset: Some("imdb"),
        quick: None,
        full: plan(0, 2, 1),
    },
    Workload {
        name: "dcgan-step",
        group: "dcgan-step",
        what: "one D and one G update of a DCGAN (ngf = ndf = 64), batch 64 of 28x28",
        r#gen: GenProgram::Train,
        baseline: None,
        peers: DCGAN_PEERS,
        target: Some(0.9),
        dataset: None,
        quick: Some(plan(1, 3, 2)),
        full: plan(2, 5, 3),
    },
    Workload {
        name: "dcgan-step-bf16",
        group: "dcgan-step",
        what: "dcgan-step with bf16 mixed precision on both sides: gen's trainer.precision = \"bf16\", PyTorch's torch.autocast(\"cpu\", torch.bfloat16)",
        r#gen: GenProgram::Train,
        baseline: None,
        peers: DCGAN_BF16_PEERS,
        target: None,
        dataset: None,
        quick: Some(plan(1, 3, 2)),
        full: plan(2, 5, 3),
    },
    Workload {
        name: "lm-generate-b1",
        group: "lm-generate",
        what: "512 sampled tokens from a GRU LM (vocab 256, 2x256), batch 1",
        r#gen: GenProgram::Train,
        baseline: None,
        peers: LM_B1_PEERS,
        target: Some(0.5),
        dataset: None,
        quick: Some(plan(1, 3, 1)),
        full: plan(1, 5, 2),
    },
    Workload {
        name: "lm-generate-b32",
        group: "lm-generate",
        what: "512 sampled tokens from a GRU LM (vocab 256, 2x256), batch 32",
        r#gen: GenProgram::Train,
        baseline: None,
        peers: LM_B32_PEERS,
        target: Some(0.5),
        dataset: None,
        quick: Some(plan(1, 3, 1)),
        full: plan(1, 5, 2),
    },
    Workload {
        name: "pad",
        group: "pad",
        what: "pad_sequences of the 25,000 IMDB reviews at maxlen 256 (post, int32)",
        r#gen: GenProgram::Data,
        baseline: None,
        peers: &[KERAS],
        target: Some(0.05),
        dataset: Some("imdb"),
        quick: Some(plan(1, 3, 3)),
        full: plan(1, 5, 5),
    },
];

impl Workload {
    /// The plan for a `quick` or full run; `named` means `--only` asked for it by name.
    pub fn plan(&self, quick: bool, named: bool) -> Option<Plan> {
        match (quick, self.quick) {
            (false, _) => Some(self.full),
            (true, Some(p)) => Some(p),
            (true, None) if named => Some(Plan {
                rounds: 1,
                ..self.full
            }),
            (true, None) => None,
        }
    }
}

/// The workloads to run, each with its plan, in [`WORKLOADS`] order.
pub fn select(args: &BenchArgs) -> Result<Vec<(&'static Workload, Plan)>> {
    for name in &args.only {
        if !WORKLOADS.iter().any(|w| w.name == name || w.group == name) {
            let names: Vec<&str> = WORKLOADS.iter().map(|w| w.name).collect();
            bail!(
                "--only {name}: no such workload; the workloads are {} (and the group lm-generate)",
                names.join(", ")
            );
        }
    }
    let mut chosen = Vec::new();
    for w in WORKLOADS {
        let named = args.only.iter().any(|n| n == w.name || n == w.group);
        if !args.only.is_empty() && !named {
            continue;
        }
        if let Some(mut p) = w.plan(args.quick, named) {
            if let Some(r) = args.rounds {
                p.rounds = r.max(1);
            }
            chosen.push((w, p));
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse;
    use super::*;
    use crate::util::project_root;
    use std::path::PathBuf;

    fn names(args: &BenchArgs) -> Vec<&'static str> {
        select(args).unwrap().iter().map(|(w, _)| w.name).collect()
    }

    #[test]
    fn full_runs_everything_and_quick_skips_the_epoch() {
        assert_eq!(names(&BenchArgs::default()).len(), WORKLOADS.len());
        let quick = names(&parse(&["--quick"]));
        assert!(!quick.contains(&"seed-epoch"));
        assert_eq!(quick.len(), WORKLOADS.len() - 1);
    }

    #[test]
    fn only_selects_names_and_groups_in_order() {
        assert_eq!(
            names(&parse(&["--only", "pad,lm-generate"])),
            ["lm-generate-b1", "lm-generate-b32", "pad"]
        );
        // Named explicitly, the epoch runs even with --quick, in one round.
        let chosen = select(&parse(&["--quick", "--only", "seed-epoch"])).unwrap();
        assert_eq!(chosen.len(), 1);
        assert_eq!(chosen[0].1.rounds, 1);
        let err = select(&parse(&["--only", "seed"])).unwrap_err().to_string();
        assert!(err.contains("no such workload"), "{err}");
    }

    #[test]
    fn rounds_override_the_plans() {
        let chosen = select(&parse(&["--rounds", "7"])).unwrap();
        assert!(chosen.iter().all(|(_, p)| p.rounds == 7));
    }

    #[test]
    fn every_worker_serves_its_workloads() {
        let read = |path: PathBuf| {
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        let root = project_root();
        for w in WORKLOADS {
            let r#gen = match w.r#gen {
                GenProgram::Train => root.join("crates/gen-train/examples/bench.rs"),
                GenProgram::Data => root.join("crates/gen-data/examples/bench_pad.rs"),
            };
            let quoted = format!("\"{}\"", w.name);
            assert!(
                read(r#gen).contains(&quoted),
                "gen does not serve {}",
                w.name
            );
            for c in w.peers {
                let script = read(c.peer.script());
                assert!(
                    script.contains(&quoted),
                    "{} does not serve {}",
                    c.name,
                    w.name
                );
                // Every flag is one the script declares (its FLAGS list, without the dashes).
                for s in c.settings {
                    if let Setting::Flag(flag) = s {
                        let declared = format!("\"{}\"", flag.trim_start_matches('-'));
                        assert!(script.contains(&declared), "{}: no {flag}", c.name);
                    }
                }
            }
        }
    }

    #[test]
    fn each_workload_has_each_peer_as_users_get_it_and_at_most_one_tuned() {
        for w in WORKLOADS {
            let mut names: Vec<&str> = w.peers.iter().map(|c| c.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), w.peers.len(), "{}: a name twice", w.name);
            for peer in [Peer::Torch, Peer::Keras] {
                let mine: Vec<&Config> = w.peers.iter().filter(|c| c.peer == peer).collect();
                if mine.is_empty() {
                    continue;
                }
                // The defaults run in every run, with no settings.
                let defaults = mine.iter().filter(|c| c.settings.is_empty()).count();
                assert_eq!(defaults, 1, "{}: {} as users get it", w.name, peer.name());
                assert!(mine.iter().any(|c| c.name == peer.name() && !c.trial));
                // At most one tuned configuration runs without --trials; every trial and
                // tuned one changes something.
                let tuned: Vec<&&Config> = mine
                    .iter()
                    .filter(|c| !c.trial && !c.settings.is_empty())
                    .collect();
                assert!(
                    tuned.len() <= 1,
                    "{}: several tuned {}",
                    w.name,
                    peer.name()
                );
                if let Some(t) = tuned.first() {
                    assert_eq!(t.name, format!("{}-tuned", peer.name()));
                }
                // A trial never repeats the tuned settings.
                for c in mine.iter().filter(|c| c.trial) {
                    assert!(!c.settings.is_empty());
                    assert!(tuned.iter().all(|t| t.settings != c.settings), "{}", c.name);
                }
            }
        }
    }
}
