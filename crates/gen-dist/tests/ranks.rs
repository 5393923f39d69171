//! Ranks in child processes over 127.0.0.1: collectives with exact values, DDP's bucketed
//! gradient averaging against the single-process mean, two-rank SGD against one process with
//! the whole batch, and every fault ending in a clear error within its timeout.
//!
//! Each test starts this very test binary again as its ranks (`--exact rank --ignored`, with
//! the scenario in `GEN_DIST_TEST_SCENARIO`), one libtorch thread each. The store is hosted by
//! the test itself on a port the system picks ([`LocalAgent`]), except where rank 0 hosts it.
//! A child prints `GEN-DIST-OK <result>` or `GEN-DIST-ERR <seconds> <message>` and exits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use anyhow::{Context, Result, bail, ensure};
use gen_dist::{DistConfig, GradBuckets, LocalAgent, ProcessGroup, broadcast_parameters};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tch::{Kind, Tensor};

const SCENARIO: &str = "GEN_DIST_TEST_SCENARIO";
const TIMEOUT: &str = "GEN_DIST_TEST_TIMEOUT_S";
/// The init timeout, when it differs from `TIMEOUT`.
const INIT_TIMEOUT: &str = "GEN_DIST_TEST_INIT_TIMEOUT_S";
/// Every child is killed after this; each test stays well under a minute.
const CHILD_LIMIT: Duration = Duration::from_secs(45);
/// Variables a test sets itself; inherited ones are cleared so that the outer environment
/// (a CI runner under SLURM, say) cannot change a test.
const RENDEZVOUS_VARS: &[&str] = &[
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_USE_AGENT_STORE",
    "TORCHELASTIC_RESTART_COUNT",
    "GLOO_SOCKET_IFNAME",
    "SLURM_PROCID",
    "SLURM_NTASKS",
    "SLURM_LOCALID",
];

// ---------------------------------------------------------------------------------------------
// The child side.

/// One rank of the tests below, which start it with `--ignored`. Outside a test's child process
/// (no `GEN_DIST_TEST_SCENARIO`) there is nothing for it to do.
#[test]
#[ignore = "a rank of the other tests, which start it"]
fn rank() {
    let Ok(scenario) = std::env::var(SCENARIO) else {
        return;
    };
    tch::set_num_threads(1);
    let start = Instant::now();
    match run_scenario(&scenario) {
        Ok(result) => {
            println!("GEN-DIST-OK {result}");
            std::process::exit(0);
        }
        Err(err) => {
            let message = format!("{err:#}").replace('\n', " | ");
            println!(
                "GEN-DIST-ERR {:.3} {message}",
                start.elapsed().as_secs_f64()
            );
            std::process::exit(3);
        }
    }
}

fn child_config() -> Result<DistConfig> {
    let timeout_s: f64 = std::env::var(TIMEOUT)
        .unwrap_or_else(|_| "20".into())
        .parse()?;
    let init_timeout_s = match std::env::var(INIT_TIMEOUT) {
        Ok(s) => s.parse()?,
        Err(_) => timeout_s,
    };
    Ok(DistConfig {
        init_timeout_s,
        timeout_s,
        ..DistConfig::default()
    })
}

fn join() -> Result<ProcessGroup> {
    ProcessGroup::from_env(&child_config()?)?.context("no rendezvous variables are set")
}

fn run_scenario(scenario: &str) -> Result<String> {
    match scenario {
        "collectives" => collectives(&join()?),
        "buckets" => buckets(&join()?),
        "mlp" => {
            let group = join()?;
            let (params, losses) = train_mlp(Some(&group))?;
            Ok(format!("{params:?} {losses:?}"))
        }
        "die" => {
            let group = join()?;
            for step in 0..5 {
                if group.rank() == 1 && step == 2 {
                    // A crash: no destructor runs, the kernel closes the sockets.
                    std::process::abort();
                }
                group.all_reduce_sum(&mut Tensor::ones([1000], (Kind::Float, tch::Device::Cpu)))?;
            }
            bail!("rank {} finished every step", group.rank())
        }
        "stall" => {
            let group = join()?;
            if group.rank() == 1 {
                // Alive but silent, past rank 0's timeout; then gone.
                std::thread::sleep(Duration::from_secs(4));
                std::process::exit(0);
            }
            let start = Instant::now();
            let result =
                group.all_reduce_sum(&mut Tensor::ones([4], (Kind::Float, tch::Device::Cpu)));
            match result {
                Ok(()) => bail!("the all-reduce succeeded without rank 1"),
                // The time of the all-reduce alone, for the parent to check.
                Err(err) => bail!("after {:.3} s: {err}", start.elapsed().as_secs_f64()),
            }
        }
        "join" => {
            let group = join()?;
            group.barrier()?;
            Ok(format!("rank {} of {}", group.rank(), group.world_size()))
        }
        "config" => {
            let group = join()?;
            group.check_same("the config", b"identical on every rank")?;
            let text = format!("lr = {}", if group.rank() == 0 { "0.1" } else { "0.2" });
            group.check_same("the config", text.as_bytes())?;
            bail!("the differing configs were accepted")
        }
        other => bail!("unknown scenario {other}"),
    }
}

fn collectives(group: &ProcessGroup) -> Result<String> {
    let r = group.rank() as f32;
    let mut sum = Tensor::from_slice(&[r + 1.0, 10.0 * (r + 1.0), -r]);
    group.all_reduce_sum(&mut sum)?;
    let mut long = Tensor::from_slice(&[group.rank() as i64 * 1_000_000_007 + 1]);
    group.all_reduce_sum(&mut long)?;
    // Mixed shapes in one call: each tensor is summed with its counterparts.
    let mut each = [
        Tensor::from_slice(&[r]).view([1, 1]),
        Tensor::full([2, 3], f64::from(r + 1.0), (Kind::Float, tch::Device::Cpu)),
    ];
    group.all_reduce_sum_each(&mut each)?;
    let root = group.world_size() - 1;
    let mut bcast = Tensor::from_slice(&[r, r * r, 7.0]);
    group.broadcast(&mut bcast, root)?;
    let gathered = group.all_gather(&Tensor::from_slice(&[2 * group.rank() as i64, 1]))?;
    group.barrier()?;
    let mean = group.mean_f64(&[f64::from(r), 1.5])?;
    group.check_same("the config", b"same everywhere")?;
    Ok(format!(
        "sum={:?} long={:?} each={:?},{:?} bcast={:?} gather={:?} mean={mean:?}",
        Vec::<f32>::try_from(&sum)?,
        Vec::<i64>::try_from(&long)?,
        Vec::<f32>::try_from(each[0].reshape([-1]))?,
        Vec::<f32>::try_from(each[1].reshape([-1]))?,
        Vec::<f32>::try_from(&bcast)?,
        gathered
            .iter()
            .map(Vec::<i64>::try_from)
            .collect::<Result<Vec<_>, _>>()?,
    ))
}

/// Deterministic values without libtorch's global generator (the parent's tests share it).
fn values(seed: u64, n: usize) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

const BUCKET_SHAPES: &[&[i64]] = &[&[3, 4], &[5], &[2, 3, 2], &[300], &[7, 1], &[1]];

fn tensors(seed: u64) -> Vec<Tensor> {
    BUCKET_SHAPES
        .iter()
        .enumerate()
        .map(|(i, shape)| {
            let n = shape.iter().product::<i64>() as usize;
            Tensor::from_slice(&values(seed * 100 + i as u64, n)).view(*shape)
        })
        .collect()
}

fn flatten(list: &[Tensor]) -> Vec<f32> {
    list.iter()
        .flat_map(|t| Vec::<f32>::try_from(t.reshape([-1])).unwrap())
        .collect()
}

fn buckets(group: &ProcessGroup) -> Result<String> {
    let rank = group.rank() as u64;
    let mut grads = tensors(10 + rank);
    // 256 bytes, 64 floats a bucket: [3, 4] + [5] + [2, 3, 2]; [300] alone; [7, 1] + [1].
    let mut plan = GradBuckets::new(&grads, 256)?;
    ensure!(
        plan.len() == 3,
        "expected 3 buckets, planned {}",
        plan.len()
    );
    plan.average(group, &mut grads)?;
    // Again with the same plan: the buffers are reused.
    let mut again = tensors(10 + rank);
    plan.average(group, &mut again)?;
    ensure!(
        flatten(&grads) == flatten(&again),
        "a reused plan changed the result"
    );
    let mut params = tensors(20 + rank);
    broadcast_parameters(group, &mut params)?;
    Ok(format!("{:?} {:?}", flatten(&grads), flatten(&params)))
}

// The MLP of the equality test: 4 -> 8 (tanh) -> 3, mean squared error, plain SGD.
const BATCH: i64 = 8;
const STEPS: usize = 20;
const LR: f64 = 0.1;

/// Trains the MLP for `STEPS` steps: alone on the whole batch, or as one rank of `group` on
/// its contiguous shard, with DDP's semantics (rank 0's initial parameters, averaged
/// gradients). Returns the final parameters and every step's loss (averaged over the ranks).
fn train_mlp(group: Option<&ProcessGroup>) -> Result<(Vec<f32>, Vec<f64>)> {
    let (rank, world) = group.map_or((0, 1), |g| (g.rank() as i64, g.world_size() as i64));
    let x = Tensor::from_slice(&values(1, (BATCH * 4) as usize)).view([BATCH, 4]);
    let y = Tensor::from_slice(&values(2, (BATCH * 3) as usize)).view([BATCH, 3]);
    let shard = BATCH / world;
    let (x, y) = (
        x.narrow(0, rank * shard, shard),
        y.narrow(0, rank * shard, shard),
    );
    // Rank 1 starts elsewhere: only the broadcast makes the ranks agree.
    let init = 30 + 7 * rank as u64;
    let shapes: [&[i64]; 4] = [&[4, 8], &[8], &[8, 3], &[3]];
    let mut params: Vec<Tensor> = shapes
        .iter()
        .enumerate()
        .map(|(i, shape)| {
            let n = shape.iter().product::<i64>() as usize;
            Tensor::from_slice(&values(init * 10 + i as u64, n))
                .view(*shape)
                .set_requires_grad(true)
        })
        .collect();
    let mut plan = None;
    if let Some(group) = group {
        broadcast_parameters(group, &mut params)?;
        plan = Some(GradBuckets::new(&params, 64)?);
    }
    let mut losses = Vec::new();
    for _ in 0..STEPS {
        for p in &mut params {
            p.zero_grad();
        }
        let hidden = x.matmul(&params[0]).f_add(&params[1])?.tanh();
        let out = hidden.matmul(&params[2]).f_add(&params[3])?;
        let loss = out.f_sub(&y)?.square().mean(Kind::Float);
        loss.backward();
        let mut grads: Vec<Tensor> = params.iter().map(Tensor::grad).collect();
        let mut local = loss.double_value(&[]);
        if let (Some(group), Some(plan)) = (group, plan.as_mut()) {
            plan.average(group, &mut grads)?;
            local = group.mean_f64(&[local])?[0];
        }
        losses.push(local);
        tch::no_grad(|| {
            for (p, g) in params.iter_mut().zip(&grads) {
                let _ = p.f_sub_(&(g * LR)).unwrap();
            }
        });
    }
    Ok((flatten(&params), losses))
}

// ---------------------------------------------------------------------------------------------
// The parent side.

#[derive(Debug)]
struct Outcome {
    /// `GEN-DIST-OK`'s result.
    ok: Option<String>,
    /// `GEN-DIST-ERR`'s seconds since the scenario began, and message.
    err: Option<(f64, String)>,
    /// The exit status, or None when it had to be killed.
    status: Option<std::process::ExitStatus>,
    /// Everything it printed, for failure messages.
    log: String,
}

impl Outcome {
    fn ok(&self) -> &str {
        self.ok
            .as_deref()
            .unwrap_or_else(|| panic!("the rank failed:\n{}", self.log))
    }

    fn err(&self) -> (f64, &str) {
        match &self.err {
            Some((secs, message)) => {
                // Shown with --nocapture: the messages a user would see.
                eprintln!("[{secs:.2} s] {message}");
                (*secs, message)
            }
            None => panic!("the rank did not fail:\n{}", self.log),
        }
    }
}

/// Starts one child per entry of `ranks` (its variables, on top of the scenario's), waits
/// for all (killing any still running after `CHILD_LIMIT`), and returns their outcomes.
fn run_ranks(scenario: &str, timeout_s: f64, ranks: Vec<Vec<(String, String)>>) -> Vec<Outcome> {
    let exe = std::env::current_exe().unwrap();
    let mut children = Vec::new();
    for vars in ranks {
        let mut cmd = Command::new(&exe);
        cmd.args([
            "--exact",
            "rank",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ]);
        for var in RENDEZVOUS_VARS {
            cmd.env_remove(var);
        }
        cmd.env(SCENARIO, scenario)
            .env(TIMEOUT, timeout_s.to_string())
            .env("OMP_NUM_THREADS", "1")
            .envs(vars)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let out = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        let err = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        children.push((child, out, err));
    }
    let start = Instant::now();
    let mut statuses: Vec<Option<std::process::ExitStatus>> = vec![None; children.len()];
    while statuses.iter().any(Option::is_none) && start.elapsed() < CHILD_LIMIT {
        for ((child, _, _), status) in children.iter_mut().zip(statuses.iter_mut()) {
            if status.is_none() {
                *status = child.try_wait().unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    children
        .into_iter()
        .zip(statuses)
        .map(|((mut child, out, err), status)| {
            if status.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
            let stdout = out.join().unwrap();
            let stderr = err.join().unwrap();
            // libtest's `test rank ... ` may precede the marker on its line.
            let marked = |marker: &str| {
                stdout
                    .lines()
                    .find_map(|l| l.find(marker).map(|at| l[at + marker.len()..].to_owned()))
            };
            let ok = marked("GEN-DIST-OK ");
            let err = marked("GEN-DIST-ERR ");
            let err = err
                .as_deref()
                .and_then(|l| l.split_once(' '))
                .map(|(secs, message)| (secs.parse().unwrap(), message.to_owned()));
            Outcome {
                ok,
                err,
                status,
                log: format!("status {status:?}\n--- stdout\n{stdout}--- stderr\n{stderr}"),
            }
        })
        .collect()
}

/// Each rank's variables under a [`LocalAgent`], with `edit` applied to each.
fn agent_ranks(
    agent: &LocalAgent,
    edit: impl Fn(usize, &mut Vec<(String, String)>),
) -> Vec<Vec<(String, String)>> {
    (0..agent.world_size())
        .map(|rank| {
            let mut vars = agent.rank_env(rank);
            edit(rank, &mut vars);
            vars
        })
        .collect()
}

fn set(vars: &mut Vec<(String, String)>, name: &str, value: &str) {
    vars.retain(|(k, _)| k != name);
    vars.push((name.to_owned(), value.to_owned()));
}

fn agent(world_size: usize) -> LocalAgent {
    LocalAgent::host(world_size, Duration::from_secs(30)).unwrap()
}

/// A port with no listener (bound, read, released): only for tests where nothing must answer,
/// or where rank 0 hosts the store itself.
fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// torchrun's `env://` variables without an agent: rank 0 hosts the store on `port`.
fn env_ranks(world_size: usize, port: u16) -> Vec<Vec<(String, String)>> {
    (0..world_size)
        .map(|rank| {
            vec![
                ("RANK".to_owned(), rank.to_string()),
                ("WORLD_SIZE".to_owned(), world_size.to_string()),
                ("MASTER_ADDR".to_owned(), "127.0.0.1".to_owned()),
                ("MASTER_PORT".to_owned(), port.to_string()),
            ]
        })
        .collect()
}

/// Parses a `{:?}`-printed list of `T` (f32 values print in their shortest exact form, so
/// they must be parsed as f32 before widening).
fn parse_floats<T: std::str::FromStr + Into<f64>>(text: &str) -> Vec<f64>
where
    T::Err: std::fmt::Debug,
{
    text.trim_matches(|c| c == '[' || c == ']')
        .split(", ")
        .map(|v| v.parse::<T>().unwrap().into())
        .collect()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn collectives_on_three_ranks_under_an_agent_store() {
    let agent = agent(3);
    let outcomes = run_ranks("collectives", 20.0, agent_ranks(&agent, |_, _| {}));
    // Ranks 0, 1, 2: sums 1+2+3, 10+20+30, -(0+1+2); i64 exact beyond f64's 2^53; each tensor
    // of the mixed list summed alone; rank 2's broadcast; ranks in order; mean of 0, 1, 2.
    let expected = "sum=[6.0, 60.0, -3.0] long=[3000000024] each=[3.0],[6.0, 6.0, 6.0, 6.0, \
                    6.0, 6.0] bcast=[2.0, 4.0, 7.0] gather=[[0, 1], [2, 1], [4, 1]] \
                    mean=[1.0, 1.5]";
    for outcome in &outcomes {
        assert_eq!(outcome.ok(), expected, "{}", outcome.log);
    }
}

#[test]
fn collectives_on_two_ranks_with_rank_zero_hosting_the_store() {
    // The one test that needs a free port before the store exists (rank 0 binds it).
    let outcomes = run_ranks("collectives", 20.0, env_ranks(2, unused_port()));
    let expected = "sum=[3.0, 30.0, -1.0] long=[1000000009] each=[1.0],[3.0, 3.0, 3.0, 3.0, \
                    3.0, 3.0] bcast=[1.0, 1.0, 7.0] gather=[[0, 1], [2, 1]] mean=[0.5, 1.5]";
    for outcome in &outcomes {
        assert_eq!(outcome.ok(), expected, "{}", outcome.log);
    }
}

#[test]
fn a_world_of_one_needs_no_address_and_no_free_master_port() {
    // The default MASTER_PORT may be in use: a world of one hosts its store on a free port.
    let _busy = std::net::TcpListener::bind(("0.0.0.0", gen_dist::DEFAULT_MASTER_PORT));
    let ranks = vec![vec![
        ("RANK".to_owned(), "0".to_owned()),
        ("WORLD_SIZE".to_owned(), "1".to_owned()),
    ]];
    let outcomes = run_ranks("collectives", 20.0, ranks);
    let expected = "sum=[1.0, 10.0, -0.0] long=[1] each=[0.0],[1.0, 1.0, 1.0, 1.0, 1.0, 1.0] \
                    bcast=[0.0, 0.0, 7.0] gather=[[0, 1]] mean=[0.0, 1.5]";
    assert_eq!(outcomes[0].ok(), expected, "{}", outcomes[0].log);
}

#[test]
fn bucketed_gradients_equal_the_single_process_mean() {
    let agent = agent(2);
    let outcomes = run_ranks("buckets", 20.0, agent_ranks(&agent, |_, _| {}));
    let mean: Vec<f64> = flatten(&tensors(10))
        .iter()
        .zip(flatten(&tensors(11)))
        .map(|(a, b)| (f64::from(*a) + f64::from(b)) / 2.0)
        .collect();
    let rank0_params: Vec<f64> = flatten(&tensors(20)).into_iter().map(f64::from).collect();
    for outcome in &outcomes {
        let (grads, params) = outcome.ok().split_once("] [").unwrap();
        let grads = parse_floats::<f32>(grads);
        assert!(max_abs_diff(&grads, &mean) <= 1e-6, "{}", outcome.log);
        // The broadcast copies rank 0's values exactly.
        assert_eq!(parse_floats::<f32>(params), rank0_params, "{}", outcome.log);
    }
}

#[test]
fn two_ranks_with_half_batches_train_like_one_process_with_the_whole_batch() {
    let agent = agent(2);
    let outcomes = run_ranks("mlp", 20.0, agent_ranks(&agent, |_, _| {}));
    let (params, losses) = train_mlp(None).unwrap();
    let params: Vec<f64> = params.into_iter().map(f64::from).collect();
    for outcome in &outcomes {
        let (got_params, got_losses) = outcome.ok().split_once("] [").unwrap();
        let (got_params, got_losses) = (
            parse_floats::<f32>(got_params),
            parse_floats::<f64>(got_losses),
        );
        assert_eq!(got_losses.len(), STEPS);
        let dp = max_abs_diff(&got_params, &params);
        let dl = max_abs_diff(&got_losses, &losses);
        eprintln!("max |2 ranks - 1 process|: parameters {dp:e}, losses {dl:e}");
        assert!(
            dp <= 1e-5 && dl <= 1e-5,
            "params {dp:e}, losses {dl:e}\n{}",
            outcome.log
        );
    }
    // The run moved: the last loss is well below the first.
    assert!(losses[STEPS - 1] < 0.8 * losses[0], "{losses:?}");
}

#[test]
fn a_rank_that_dies_fails_the_other_at_once() {
    let agent = agent(2);
    // A 30 s timeout: the survivor must notice the closed connection, not wait it out.
    let outcomes = run_ranks("die", 30.0, agent_ranks(&agent, |_, _| {}));
    let (secs, message) = outcomes[0].err();
    assert!(
        message.contains("rank 0 of 2: all_reduce failed"),
        "{}",
        outcomes[0].log
    );
    assert!(secs < 10.0, "noticed after {secs} s\n{}", outcomes[0].log);
    let status = outcomes[1].status.expect("rank 1 ended");
    assert!(!status.success(), "{}", outcomes[1].log);
}

#[test]
fn a_rank_that_stalls_fails_the_other_after_the_timeout() {
    let agent = agent(2);
    // A long init timeout: the all-reduce must fail on its own, shorter one.
    let ranks = agent_ranks(&agent, |_, vars| set(vars, INIT_TIMEOUT, "20"));
    let outcomes = run_ranks("stall", 2.0, ranks);
    let (_, message) = outcomes[0].err();
    let secs: f64 = message
        .strip_prefix("after ")
        .and_then(|m| m.split_once(' '))
        .map(|(s, _)| s.parse().unwrap())
        .unwrap_or_else(|| panic!("{}", outcomes[0].log));
    assert!(
        message.contains("rank 0 of 2: all_reduce failed"),
        "{message}"
    );
    assert!(
        (1.5..5.0).contains(&secs),
        "timed out after {secs} s: {message}"
    );
}

#[test]
fn an_unreachable_store_fails_within_the_timeout() {
    // Rank 1 alone, pointed at a port where nothing listens.
    let port = unused_port();
    let mut ranks = env_ranks(2, port);
    ranks.remove(0);
    let outcomes = run_ranks("join", 2.0, ranks);
    let (secs, message) = outcomes[0].err();
    assert!(
        message.contains(&format!(
            "cannot reach the rendezvous store at 127.0.0.1:{port} (timeout 2.0 s)"
        )),
        "{message}"
    );
    assert!(
        (1.5..10.0).contains(&secs),
        "failed after {secs} s: {message}"
    );
}

#[test]
fn a_missing_peer_fails_within_the_timeout() {
    let agent = agent(2);
    let mut ranks = agent_ranks(&agent, |_, _| {});
    ranks.truncate(1);
    let outcomes = run_ranks("join", 2.0, ranks);
    let (secs, message) = outcomes[0].err();
    assert!(
        message.contains("rank 0: rank(s) [1] of WORLD_SIZE=2 did not join within 2.0 s"),
        "{message}"
    );
    assert!(
        (1.5..10.0).contains(&secs),
        "failed after {secs} s: {message}"
    );
}

#[test]
fn mismatched_world_sizes_fail_on_both_ranks_at_once() {
    let agent = agent(2);
    let ranks = agent_ranks(&agent, |rank, vars| {
        if rank == 1 {
            set(vars, "WORLD_SIZE", "3");
        }
    });
    let outcomes = run_ranks("join", 20.0, ranks);
    let (secs0, message0) = outcomes[0].err();
    let (secs1, message1) = outcomes[1].err();
    assert!(
        message0.contains("rank 0 has WORLD_SIZE=2, but rank 1 has WORLD_SIZE=3"),
        "{message0}"
    );
    assert!(
        message1.contains("rank 1 has WORLD_SIZE=3, but rank 0 has WORLD_SIZE=2"),
        "{message1}"
    );
    assert!(secs0 < 10.0 && secs1 < 10.0, "{secs0} s, {secs1} s");
}

#[test]
fn two_processes_claiming_one_rank_fail() {
    let agent = agent(2);
    let ranks = agent_ranks(&agent, |_, vars| set(vars, "RANK", "0"));
    let outcomes = run_ranks("join", 3.0, ranks);
    let messages: Vec<&str> = outcomes.iter().map(|o| o.err().1).collect();
    let duplicate = messages
        .iter()
        .filter(|m| m.contains("two processes claim rank 0"))
        .count();
    let missing = messages
        .iter()
        .filter(|m| m.contains("rank(s) [1] of WORLD_SIZE=2 did not join"))
        .count();
    assert_eq!((duplicate, missing), (1, 1), "{messages:?}");
}

#[test]
fn a_config_mismatch_fails_on_both_ranks() {
    let agent = agent(2);
    let outcomes = run_ranks("config", 20.0, agent_ranks(&agent, |_, _| {}));
    for (rank, outcome) in outcomes.iter().enumerate() {
        let (_, message) = outcome.err();
        assert!(
            message.contains(&format!(
                "rank {rank}: the ranks disagree on the config: rank(s) [0] have 0x"
            )),
            "{message}"
        );
        assert!(message.contains("rank(s) [1] have 0x"), "{message}");
    }
}

#[test]
fn gloo_socket_ifname_is_honoured() {
    let agent = agent(2);
    let ranks = agent_ranks(&agent, |_, vars| {
        set(vars, "GLOO_SOCKET_IFNAME", "gen-no-such-if")
    });
    let outcomes = run_ranks("join", 10.0, ranks);
    for outcome in &outcomes {
        let (_, message) = outcome.err();
        assert!(
            message.contains("cannot connect the ranks (Gloo)"),
            "{message}"
        );
        assert!(message.contains("gen-no-such-if"), "{message}");
    }
}
