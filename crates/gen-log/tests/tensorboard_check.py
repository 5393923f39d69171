#!/usr/bin/env python3
"""Checks that TensorBoard reads a gen run's event files.

    python3 crates/gen-log/tests/tensorboard_check.py RUN_DIR [--expect EXPECTED.json]
        [--metrics METRICS.jsonl] [--each-epoch KIND:TAG ...] [--require KIND:TAG ...]

RUN_DIR is a run folder (its `tb/` is read) or a folder of event files. It is loaded with
TensorBoard's two Python readers:

- `event_accumulator.EventAccumulator`, which returns scalars, images and audio as logged;
- `plugin_event_accumulator.EventAccumulator`, which first converts every value to a tensor as
  TensorBoard's dashboards do (`data_compat`); this also checks that those conversions accept
  gen's values.

Both must agree. Every image must be a PNG whose header gives the summary's width and height,
every clip a WAV whose header gives its sample rate and length, every text UTF-8, and the
files' version "brain.Event:2". With `--expect` (written by gen-log's tests), the tags, steps
and values must also be exactly those expected: scalars as f32, images byte for byte, audio
samples within half a 16-bit step, text and hparams exactly.

A gen run's own check: with `--metrics` (its `metrics.jsonl`), every metric of every epoch
must be a scalar at the epoch's step with the epoch's value (as f32), in both readers;
`--each-epoch KIND:TAG` (KIND one of scalars, images, audio, text) asks for a value of TAG at
every epoch's step, and `--require KIND:TAG` for at least one value of it.

Needs `pip install tensorboard` (tested with 2.21.0). Exit status: 0 pass, 1 a check failed,
2 bad usage or no tensorboard.
"""

import argparse
import io
import json
import math
import os
import struct
import sys
import wave

try:
    from tensorboard.backend.event_processing import event_accumulator as legacy
    from tensorboard.backend.event_processing import plugin_event_accumulator as plugin
    from tensorboard.plugins.hparams import metadata as hparams_metadata
    from tensorboard.util import tensor_util
except ImportError as e:
    print(f"tensorboard is not importable ({e}): pip install tensorboard==2.21.0", file=sys.stderr)
    sys.exit(2)

HPARAMS_TAG = "_hparams_/session_start_info"


class Checks:
    def __init__(self):
        self.failures = []
        self.count = 0

    def that(self, ok, what):
        self.count += 1
        if not ok:
            self.failures.append(what)


def plugin_content(acc, plugin):
    """{tag: content} of a plugin's summaries; empty when the run has none (the legacy reader
    raises KeyError then)."""
    try:
        return acc.PluginTagToContent(plugin)
    except KeyError:
        return {}


def unlimited(module):
    return {key: 0 for key in module.DEFAULT_SIZE_GUIDANCE}


def png_size(png):
    """(width, height) from a PNG's IHDR, or None if it is not a PNG."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", png[16:24])


def wav_layout(data):
    """(sample_rate, channels, frames, mono samples as floats or None) of a 16-bit WAV."""
    with wave.open(io.BytesIO(data), "rb") as w:
        rate, channels, frames = w.getframerate(), w.getnchannels(), w.getnframes()
        raw = w.readframes(frames)
        samples = None
        if channels == 1 and w.getsampwidth() == 2:
            pcm = struct.unpack("<%dh" % frames, raw)
            samples = [p / 32768.0 for p in pcm]
    return rate, channels, frames, samples


def read_legacy(tb, checks):
    """The run as `event_accumulator.EventAccumulator` returns it."""
    acc = legacy.EventAccumulator(tb, size_guidance=unlimited(legacy))
    acc.Reload()
    checks.that(acc.file_version == 2.0, f"legacy: file_version is {acc.file_version}, not 2")
    tags = acc.Tags()
    run = {"scalars": {}, "images": {}, "audio": {}, "text": {}, "hparams": None}
    for tag in tags["scalars"]:
        run["scalars"][tag] = [(e.step, e.value) for e in acc.Scalars(tag)]
    for tag in tags["images"]:
        run["images"][tag] = [(e.step, e.width, e.height, e.encoded_image_string) for e in acc.Images(tag)]
    for tag in tags["audio"]:
        clips = []
        for e in acc.Audio(tag):
            checks.that(e.content_type == "audio/wav", f"legacy: {tag}@{e.step}: content type {e.content_type!r}")
            clips.append((e.step, e.sample_rate, e.length_frames, e.encoded_audio_string))
        run["audio"][tag] = clips
    for tag in plugin_content(acc, "text"):
        run["text"][tag] = last_per_step([(e.step, text_of(e.tensor_proto)) for e in acc.Tensors(tag)])
    content = plugin_content(acc, "hparams").get(HPARAMS_TAG)
    if content is not None:
        run["hparams"] = hparams_of(content)
    return run


def last_per_step(values):
    """The last value logged at each step, in step order.

    The legacy reader's restart purge leaves tensors (hence text) out: it keeps both what a
    killed run logged after its checkpoint and what the resumed run logged again at the same
    steps. TensorBoard's dashboards read through the plugin reader (or the data server), which
    purge them; for the legacy reader, the later value at a step is the one that counts.
    """
    by_step = {}
    for step, value in values:
        by_step[step] = value
    return sorted(by_step.items())


def read_plugin(tb, checks):
    """The run as `plugin_event_accumulator.EventAccumulator` returns it: everything a tensor."""
    acc = plugin.EventAccumulator(tb, size_guidance=unlimited(plugin), tensor_size_guidance=unlimited(plugin))
    acc.Reload()
    checks.that(acc.file_version == 2.0, f"plugin: file_version is {acc.file_version}, not 2")
    run = {"scalars": {}, "images": {}, "audio": {}, "text": {}, "hparams": None}
    for tag in plugin_content(acc, "scalars"):
        run["scalars"][tag] = [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]
    for tag in plugin_content(acc, "images"):
        images = []
        for e in acc.Tensors(tag):
            width, height, png = list(tensor_util.make_ndarray(e.tensor_proto))
            images.append((e.step, int(width), int(height), png))
        run["images"][tag] = images
    for tag in plugin_content(acc, "audio"):
        clips = []
        for e in acc.Tensors(tag):
            # One clip: [wav] (a blob sequence, as dataclass_compat makes it) or [[wav, label]].
            array = tensor_util.make_ndarray(e.tensor_proto)
            checks.that(array.shape in ((1,), (1, 2)), f"plugin: {tag}@{e.step}: audio tensor of shape {array.shape}")
            wav = array.reshape(-1)[0]
            rate, _, frames, _ = wav_layout(wav)
            clips.append((e.step, float(rate), frames, wav))
        run["audio"][tag] = clips
    for tag in plugin_content(acc, "text"):
        run["text"][tag] = [(e.step, text_of(e.tensor_proto)) for e in acc.Tensors(tag)]
    content = plugin_content(acc, "hparams").get(HPARAMS_TAG)
    if content is not None:
        run["hparams"] = hparams_of(content)
    return run


def text_of(tensor_proto):
    array = tensor_util.make_ndarray(tensor_proto)
    return array.item().decode("utf-8") if array.shape == () else [s.decode("utf-8") for s in array.flat]


def hparams_of(content):
    info = hparams_metadata.parse_session_start_info_plugin_data(content)
    out = {}
    for name, value in info.hparams.items():
        kind = value.WhichOneof("kind")
        out[name] = getattr(value, kind) if kind else None
    return out


def check_media(run, reader, checks):
    """Images are PNGs of their stated size, clips WAVs of their stated layout."""
    for tag, images in run["images"].items():
        for step, width, height, png in images:
            checks.that(png_size(png) == (width, height), f"{reader}: image {tag}@{step}: PNG {png_size(png)} vs stated {width}x{height}")
    for tag, clips in run["audio"].items():
        for step, rate, frames, wav in clips:
            try:
                got = wav_layout(wav)
            except (wave.Error, EOFError, struct.error) as e:
                checks.that(False, f"{reader}: audio {tag}@{step}: not a WAV: {e}")
                continue
            checks.that((got[0], got[2]) == (rate, frames), f"{reader}: audio {tag}@{step}: WAV ({got[0]} Hz, {got[2]} frames) vs stated ({rate} Hz, {frames})")


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def same_float(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


def check_expected(run, reader, want, checks):
    def same_tags(kind):
        got, exp = sorted(run[kind]), sorted(want.get(kind, {}))
        checks.that(got == exp, f"{reader}: {kind} tags {got}, expected {exp}")
        return [t for t in got if t in want.get(kind, {})]

    for tag in same_tags("scalars"):
        got = [(s, v) for s, v in run["scalars"][tag]]
        exp = [(p["step"], f32(p["value"])) for p in want["scalars"][tag]]
        ok = len(got) == len(exp) and all(gs == es and same_float(gv, ev) for (gs, gv), (es, ev) in zip(got, exp))
        checks.that(ok, f"{reader}: scalars {tag}: {got} != {exp}")
    for tag in same_tags("images"):
        got = [(s, w, h, png) for s, w, h, png in run["images"][tag]]
        exp = [(p["step"], p["width"], p["height"], bytes.fromhex(p["png_hex"])) for p in want["images"][tag]]
        checks.that(got == exp, f"{reader}: images {tag}: steps/sizes {[g[:3] for g in got]} vs {[e[:3] for e in exp]}, or bytes differ")
    for tag in same_tags("audio"):
        got = run["audio"][tag]
        exp = want["audio"][tag]
        checks.that([g[0] for g in got] == [p["step"] for p in exp], f"{reader}: audio {tag}: steps {[g[0] for g in got]}")
        for (step, rate, frames, wav), p in zip(got, exp):
            layout = wav_layout(wav)
            checks.that(
                (rate, frames, layout[1]) == (p["sample_rate"], p["frames"], p["channels"]),
                f"{reader}: audio {tag}@{step}: ({rate}, {frames}, {layout[1]} ch) vs {p}",
            )
            if p.get("samples") is not None:
                decoded = layout[3] or []
                worst = max((abs(d - s) for d, s in zip(decoded, p["samples"])), default=0.0)
                checks.that(
                    len(decoded) == len(p["samples"]) and worst <= 0.5 / 32768 + 1e-7,
                    f"{reader}: audio {tag}@{step}: {len(decoded)} samples, worst error {worst}",
                )
    for tag in same_tags("text"):
        got = run["text"][tag]
        exp = [(p["step"], p["text"]) for p in want["text"][tag]]
        checks.that(got == exp, f"{reader}: text {tag}: {got!r} != {exp!r}")
    if "hparams" in want:
        checks.that(run["hparams"] == want["hparams"], f"{reader}: hparams {run['hparams']} != {want['hparams']}")


def read_metrics(path):
    """The epochs of a gen run's metrics.jsonl: [(step, {metric: value})]."""
    epochs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                entry = json.loads(line)
                step = entry.pop("step")
                entry.pop("epoch", None)
                epochs.append((step, entry))
    return epochs


def check_metrics(run, reader, epochs, checks):
    """Every metric of every epoch is a scalar at the epoch's step with its value as f32."""
    checks.that(len(epochs) > 0, f"{reader}: metrics.jsonl has no epochs")
    names = sorted({name for _, metrics in epochs for name in metrics})
    for name in names:
        exp = [(step, f32(float(m[name]))) for step, m in epochs if name in m]
        got = run["scalars"].get(name)
        if got is None:
            checks.that(False, f"{reader}: metric {name} is not a scalar (scalars: {sorted(run['scalars'])})")
            continue
        ok = len(got) == len(exp) and all(gs == es and same_float(gv, ev) for (gs, gv), (es, ev) in zip(got, exp))
        checks.that(ok, f"{reader}: scalar {name}: {got} != metrics.jsonl's {exp}")


def parse_kind_tag(spec):
    kind, sep, tag = spec.partition(":")
    if not sep or kind not in ("scalars", "images", "audio", "text") or not tag:
        raise argparse.ArgumentTypeError(f"{spec!r}: expected KIND:TAG, KIND one of scalars, images, audio, text")
    return kind, tag


def check_present(run, reader, kind, tag, steps, checks):
    """TAG of KIND has a value (at each of `steps` when given); text is not empty."""
    values = run[kind].get(tag)
    if not values:
        checks.that(False, f"{reader}: no {kind} {tag!r} (tags: {sorted(run[kind])})")
        return
    got = sorted({v[0] for v in values})
    if steps is not None:
        checks.that(set(steps) <= set(got), f"{reader}: {kind} {tag!r} at steps {got}, expected one at each of {steps}")
    if kind == "text":
        checks.that(all(v[1] and str(v[1]).strip() for v in values), f"{reader}: text {tag!r} has an empty value")


def summary(run):
    parts = []
    for kind in ("scalars", "images", "audio", "text"):
        n = sum(len(v) for v in run[kind].values())
        parts.append(f"{len(run[kind])} {kind} tags ({n} values)")
    parts.append(f"{len(run['hparams'] or {})} hparams")
    return ", ".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--expect", help="JSON of the tags, steps and values TensorBoard must show")
    parser.add_argument("--metrics", help="the run's metrics.jsonl: each metric must be a scalar with its steps and values")
    parser.add_argument("--each-epoch", type=parse_kind_tag, action="append", default=[], metavar="KIND:TAG",
                        help="TAG must have a value at every step of --metrics")
    parser.add_argument("--require", type=parse_kind_tag, action="append", default=[], metavar="KIND:TAG",
                        help="TAG must have at least one value")
    args = parser.parse_args()
    if args.each_epoch and not args.metrics:
        parser.error("--each-epoch needs --metrics")

    tb = os.path.join(args.run_dir, "tb")
    if not os.path.isdir(tb):
        tb = args.run_dir
    files = sorted(f for f in os.listdir(tb) if "tfevents" in f) if os.path.isdir(tb) else []
    if not files:
        print(f"no event files in {tb}", file=sys.stderr)
        return 1

    checks = Checks()
    runs = {"legacy": read_legacy(tb, checks), "plugin": read_plugin(tb, checks)}
    for reader, run in runs.items():
        checks.that(any(run[k] for k in ("scalars", "images", "audio", "text")), f"{reader}: no values at all")
        check_media(run, reader, checks)
    # The two readers must see the same tags and steps (values are compared with --expect).
    for kind in ("scalars", "images", "audio", "text"):
        a = {t: [v[0] for v in vs] for t, vs in runs["legacy"][kind].items()}
        b = {t: [v[0] for v in vs] for t, vs in runs["plugin"][kind].items()}
        checks.that(a == b, f"{kind}: legacy reader {a} != plugin reader {b}")
    if args.expect:
        with open(args.expect, encoding="utf-8") as f:
            want = json.load(f)
        for reader, run in runs.items():
            check_expected(run, reader, want, checks)

    if args.metrics:
        epochs = read_metrics(args.metrics)
        steps = [step for step, _ in epochs]
        for reader, run in runs.items():
            check_metrics(run, reader, epochs, checks)
            for kind, tag in args.each_epoch:
                check_present(run, reader, kind, tag, steps, checks)
    for reader, run in runs.items():
        for kind, tag in args.require:
            check_present(run, reader, kind, tag, None, checks)

    print(f"{tb}: {len(files)} event files; {summary(runs['legacy'])}")
    for failure in checks.failures:
        print("FAIL", failure)
    print(f"tensorboard_check: {checks.count - len(checks.failures)} passed, {len(checks.failures)} failed")
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main())
