"""The worker protocol of `cargo xtask bench`, shared by the peer scripts.

A worker is started as `python3 SCRIPT WORKLOAD [--threads N] [--warmup N] [--dir DIR]
[FLAGS]`, where FLAGS are the script's own settings (`--flush-denormal`, `--jit-compile`).
After its set-up and `--warmup` untimed iterations it prints one JSON line
`{"ready": true, "side": ..., "version": ..., "threads": N, "shape": {...},
"settings": {...}}`, where `settings` reports each of its flags and the environment
variables its libraries read at load, as they are in this process; then each
stdin line `run N` runs N timed iterations and prints
`{"times_ms": [...], "metrics": {name: [...]}}`; `quit` (or end of input) ends it.
Only these lines go to stdout: `take_stdout` points file descriptor 1 at stderr first, so
that libraries printing progress cannot corrupt the protocol.
"""

import argparse
import json
import os
import sys
import time


def take_stdout():
    """Returns a private handle on the real stdout and sends everything else to stderr."""
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(fd, "w", buffering=1)


def parse_args(workloads, flags=()):
    """Parses the command line; each of `flags` (e.g. "flush-denormal") is an on/off option."""
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=sorted(workloads))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--dir", default="target/bench/work")
    for flag in flags:
        parser.add_argument(f"--{flag}", action="store_true")
    return parser.parse_args()


def settings(args, flags, env):
    """The settings a worker reports: each flag (as `flush_denormal`) and each variable of
    `env` as this process sees it (None when unset)."""
    found = {f.replace("-", "_"): getattr(args, f.replace("-", "_")) for f in flags}
    found.update({name: os.environ.get(name) for name in env})
    return found


def serve(out, side, version, threads, shape, iteration, warmup, settings=None, turn=None):
    """Warms up, says ready, then answers `run N` until `quit` or end of input.

    `iteration()` runs one iteration and returns a dict of metrics (possibly empty);
    `settings` (see `settings()`) goes into the ready line. `turn(n)`, if given, is called
    before the `n` iterations of each `run n` (untimed) and as `turn(None)` at the end: a
    data-parallel worker tells its other ranks there how many steps to take, or to stop.
    """
    for _ in range(warmup):
        iteration()
    ready = {
        "ready": True,
        "side": side,
        "version": version,
        "threads": threads,
        "shape": shape,
        "settings": settings or {},
    }
    out.write(json.dumps(ready) + "\n")
    for line in sys.stdin:
        words = line.split()
        if words == ["quit"]:
            break
        if len(words) != 2 or words[0] != "run":
            raise SystemExit(f"bad command {line!r}")
        n = int(words[1])
        if turn is not None:
            turn(n)
        times, metrics = [], {}
        for _ in range(n):
            start = time.perf_counter()
            m = iteration()
            times.append((time.perf_counter() - start) * 1e3)
            for k, v in m.items():
                metrics.setdefault(k, []).append(float(v))
        out.write(json.dumps({"times_ms": times, "metrics": metrics}) + "\n")
    if turn is not None:
        turn(None)
