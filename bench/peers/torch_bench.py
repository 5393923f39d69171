"""The PyTorch peer of `cargo xtask bench` (protocol: protocol.py).

Workloads, with the shapes of gen's side (crates/gen-train/examples/bench.rs):
- seed-step: Embedding(10000, 128, padding_idx=0) -> nn.GRU(128, 128, batch_first=True) ->
  Linear(128, 2) on the last state; one step of cross-entropy, backward and Adam on a batch
  of 128 random reviews of 256 tokens.
- ddp-step: seed-step as one DistributedDataParallel run of 2 processes on the Gloo backend
  (`init_process_group("gloo")`, DDP's default 25 MB buckets), each with half of the batch
  (64 reviews: rows rank*64 .. of the same 128) and half of --threads (at least 1). This
  process is rank 0 and speaks the protocol: it hosts the TCPStore on a free port, starts
  rank 1 (this script again, with RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT, which
  connects to that store), and broadcasts before each turn how many steps to take (-1:
  stop). Flags and the environment reach rank 1 unchanged.
- dcgan-step: one D and one G update, batch 64, 28x28 grey images, written as PyTorch's
  examples/dcgan/main.py trains (Sigmoid + BCELoss, the same `fake` for D and G, the `.item()`
  calls it logs), with the layers of gen's 28x28 DCGAN at ngf = ndf = 64:
  G: ConvT(100, 256, 7) -> BN -> ReLU -> ConvT(256, 128, 4, 2, 1) -> BN -> ReLU ->
  ConvT(128, 1, 4, 2, 1) -> Tanh; D: Conv(1, 64, 4, 2, 1) -> LeakyReLU(0.2) ->
  Conv(64, 128, 4, 2, 1) -> BN -> LeakyReLU(0.2) -> Conv(128, 1, 7) -> Sigmoid.
  Biases as gen's: none before a batch norm. Adam lr 2e-4, betas (0.5, 0.999).
- dcgan-step-bf16: the same under torch.autocast("cpu", dtype=torch.bfloat16) (forward passes
  and losses; the discriminator outputs cast to float for BCELoss).
- lm-generate-b1 / -b32: Embedding(256, 128) -> nn.GRU(128, 256, 2 layers) -> Linear(256, 256),
  in eval mode under no_grad; reads a one-token prompt, then samples 512 tokens with
  `torch.multinomial(softmax(logits / 1.0))` for 1 or 32 samples at once, carrying the state.

Settings (the `torch-tuned` configurations of the bench; none is on by default):
- `--flush-denormal`: `torch.set_flush_denormal(True)`, which PyTorch does not do by default.
- `OMP_WAIT_POLICY` in the environment: read by the wheel's libgomp when it loads, so only
  the process's environment can set it; the worker reports what it saw.
"""

import os
import subprocess
import sys
import time
from datetime import timedelta

from protocol import parse_args, serve, settings, take_stdout

OUT = take_stdout()
FLAGS = ["flush-denormal"]
ARGS = parse_args(["seed-step", "ddp-step", "dcgan-step", "dcgan-step-bf16", "lm-generate-b1", "lm-generate-b32"], FLAGS)

import torch  # noqa: E402
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# ddp-step splits the side's threads over its ranks.
DDP_RANKS = 2
THREADS = max(1, ARGS.threads // DDP_RANKS) if ARGS.workload == "ddp-step" else ARGS.threads
torch.set_num_threads(THREADS)
torch.set_num_interop_threads(THREADS)
torch.manual_seed(0)
if ARGS.flush_denormal and not torch.set_flush_denormal(True):
    raise SystemExit("torch.set_flush_denormal(True) is not supported on this CPU")


class SeedModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(10000, 128, padding_idx=0)
        self.gru = nn.GRU(128, 128, batch_first=True)
        self.head = nn.Linear(128, 2)

    def forward(self, x):
        _, h = self.gru(self.embedding(x))
        return self.head(h[-1])


def seed_step():
    model = SeedModel()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randint(1, 10000, (128, 256))
    y = torch.randint(0, 2, (128,))

    def iteration():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return {}

    shape = {"vocab": 10000, "embedding": 128, "gru": 128, "classes": 2, "batch": 128, "seq": 256}
    return shape, iteration


def ddp_step():
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    # Every rank passes the store itself (init_process_group prefixes the keys of a store it
    # makes from env:// but not of one it is given, so the ranks must agree on how).
    rank = int(os.environ.get("RANK", "0"))
    others = []
    timeout = timedelta(seconds=300)
    if "RANK" not in os.environ:
        # Rank 0 of a plain start: the store on a free port, then the other ranks.
        store = dist.TCPStore("127.0.0.1", 0, DDP_RANKS, is_master=True, timeout=timeout,
                              wait_for_workers=False)
        for r in range(1, DDP_RANKS):
            env = dict(os.environ, RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE=str(DDP_RANKS),
                       MASTER_ADDR="127.0.0.1", MASTER_PORT=str(store.port))
            others.append(subprocess.Popen([sys.executable] + sys.argv, env=env,
                                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL))
    else:
        store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), DDP_RANKS,
                              is_master=rank == 0, timeout=timeout)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=DDP_RANKS)
    if dist.get_world_size() != DDP_RANKS:
        raise SystemExit(f"ddp-step runs on {DDP_RANKS} ranks, not {dist.get_world_size()}")
    model = DistributedDataParallel(SeedModel())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rows = 128 // DDP_RANKS
    x = torch.randint(1, 10000, (128, 256))[rank * rows:(rank + 1) * rows].contiguous()
    y = torch.randint(0, 2, (128,))[rank * rows:(rank + 1) * rows].contiguous()

    def iteration():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return {}

    def announced(n):
        # Rank 0's n (None: stop), on every rank.
        t = torch.tensor([-1 if n is None else n], dtype=torch.int64)
        dist.broadcast(t, 0)
        return None if t.item() < 0 else t.item()

    def turn(n):
        announced(n)
        if n is None:
            for r, p in enumerate(others, 1):
                if p.wait() != 0:
                    raise SystemExit(f"rank {r} ended with {p.returncode}")
            dist.destroy_process_group()

    if rank != 0:
        # Another rank: the steps rank 0 announces, until it says stop; no protocol.
        for _ in range(ARGS.warmup):
            iteration()
        while (n := announced(None)) is not None:
            for _ in range(n):
                iteration()
        dist.destroy_process_group()
        # Leave without the interpreter's finalisation: there, torch 2.13 sometimes destroys a
        # still-joinable C++ thread of the store or of Gloo, and the rank aborts ("terminate
        # called without an active exception") after its last step, failing a finished run.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    shape = {"vocab": 10000, "embedding": 128, "gru": 128, "classes": 2, "batch": 128, "seq": 256,
             "ranks": DDP_RANKS, "batch_per_rank": rows, "threads_per_rank": THREADS}
    return shape, iteration, turn


def weights_init(m):
    # As examples/dcgan/main.py: conv weights N(0, 0.02), batch-norm weights N(1, 0.02).
    name = m.__class__.__name__
    if name.find("Conv") != -1:
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif name.find("BatchNorm") != -1:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def dcgan_step(precision="fp32"):
    nz, ngf, ndf, batch = 100, 64, 64, 64
    # bf16: PyTorch's CPU mixed precision, as its docs write it (forward passes and losses
    # under torch.autocast; backward and optimiser steps outside).
    autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
    net_g = nn.Sequential(
        nn.ConvTranspose2d(nz, 4 * ngf, 7, 1, 0, bias=False),
        nn.BatchNorm2d(4 * ngf),
        nn.ReLU(True),
        nn.ConvTranspose2d(4 * ngf, 2 * ngf, 4, 2, 1, bias=False),
        nn.BatchNorm2d(2 * ngf),
        nn.ReLU(True),
        nn.ConvTranspose2d(2 * ngf, 1, 4, 2, 1),
        nn.Tanh(),
    )
    net_d = nn.Sequential(
        nn.Conv2d(1, ndf, 4, 2, 1),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, 2 * ndf, 4, 2, 1, bias=False),
        nn.BatchNorm2d(2 * ndf),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(2 * ndf, 1, 7, 1, 0),
        nn.Sigmoid(),
    )
    net_g.apply(weights_init)
    net_d.apply(weights_init)
    criterion = nn.BCELoss()
    opt_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = torch.rand(batch, 1, 28, 28) * 2 - 1
    ones = torch.full((batch,), 1.0)
    zeros = torch.full((batch,), 0.0)

    def iteration():
        net_d.zero_grad()
        with autocast():
            output = net_d(real).view(-1).float()
            err_d_real = criterion(output, ones)
        err_d_real.backward()
        d_x = output.mean().item()
        noise = torch.randn(batch, nz, 1, 1)
        with autocast():
            fake = net_g(noise)
            output = net_d(fake.detach()).view(-1).float()
            err_d_fake = criterion(output, zeros)
        err_d_fake.backward()
        d_g_z1 = output.mean().item()
        err_d = err_d_real + err_d_fake
        opt_d.step()
        net_g.zero_grad()
        with autocast():
            output = net_d(fake).view(-1).float()
            err_g = criterion(output, ones)
        err_g.backward()
        d_g_z2 = output.mean().item()
        opt_g.step()
        _ = (err_d.item(), err_g.item(), d_x, d_g_z1, d_g_z2)
        return {}

    shape = {"batch": batch, "image": 28, "channels": 1, "ngf": ngf, "ndf": ndf, "latent": nz, "precision": precision}
    return shape, iteration


class LanguageModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(256, 128)
        self.gru = nn.GRU(128, 256, num_layers=2, dropout=0.2, batch_first=True)
        self.head = nn.Linear(256, 256)

    def forward(self, ids, h=None):
        out, h = self.gru(self.embedding(ids), h)
        return self.head(out), h


def lm_generate(batch):
    tokens_out, temperature = 512, 1.0
    model = LanguageModel().eval()

    def iteration():
        start = time.perf_counter()
        with torch.no_grad():
            logits, h = model(torch.ones(1, 1, dtype=torch.long))
            logits = logits[:, -1].expand(batch, -1)
            h = h.repeat(1, batch, 1)
            written = []
            for step in range(tokens_out):
                probs = torch.softmax(logits / temperature, dim=-1)
                token = torch.multinomial(probs, 1)
                written.append(token)
                if step + 1 == tokens_out:
                    break
                logits, h = model(token, h)
                logits = logits[:, -1]
            text = torch.cat(written, 1)
        seconds = time.perf_counter() - start
        return {"tokens_per_s": text.numel() / seconds}

    shape = {"vocab": 256, "embedding": 128, "hidden": 256, "layers": 2, "batch": batch, "tokens": tokens_out}
    return shape, iteration


WORKLOADS = {
    "seed-step": seed_step,
    "ddp-step": ddp_step,
    "dcgan-step": dcgan_step,
    "dcgan-step-bf16": lambda: dcgan_step("bf16"),
    "lm-generate-b1": lambda: lm_generate(1),
    "lm-generate-b32": lambda: lm_generate(32),
}

shape, iteration, *turn = WORKLOADS[ARGS.workload]()
SETTINGS = settings(ARGS, FLAGS, ["OMP_WAIT_POLICY"])
serve(OUT, "torch", f"torch {torch.__version__}", THREADS, shape, iteration, ARGS.warmup, SETTINGS,
      turn=turn[0] if turn else None)
