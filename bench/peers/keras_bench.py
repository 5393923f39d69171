"""The Keras (TensorFlow backend) peer of `cargo xtask bench` (protocol: protocol.py).

Workloads, with the shapes of gen's side:
- seed-step: the source's model with `GRU(128)` (no return_sequences):
  `Sequential([Embedding(10000, 128), GRU(128), Dense(2, softmax)])`, compiled with
  `adam`, `sparse_categorical_crossentropy` and `accuracy`; one `train_on_batch` on 128
  random reviews of 256 tokens.
- seed-epoch: the same model built and compiled afresh, then the source's
  `fit(x, y, batch_size=128, epochs=1, validation_split=0.2)` on the padded IMDB arrays that
  gen wrote (`seed_x.npy`, `seed_y.npy` in --dir); reports `val_accuracy`.
- pad: `keras.utils.pad_sequences(seqs, maxlen=256, padding="post", truncating="pre")` of
  the reviews gen wrote (`pad_ids.npy`, `pad_lengths.npy`), given as Python lists as
  `imdb.load_data` returns them; only the call is timed.

Settings (the `keras-tuned` configurations of the bench; none is on by default):
- `--jit-compile`: `model.compile(..., jit_compile=True)`, XLA. Keras 3's default, "auto",
  turns XLA off on a machine without an accelerator.
- `TF_ENABLE_ONEDNN_OPTS` in the environment (read when TensorFlow loads; unset means on,
  on x86 Linux): the worker reports what it saw.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from protocol import parse_args, serve, settings, take_stdout  # noqa: E402

OUT = take_stdout()
FLAGS = ["jit-compile"]
ARGS = parse_args(["seed-step", "seed-epoch", "pad"], FLAGS)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(ARGS.threads)
tf.config.threading.set_inter_op_parallelism_threads(ARGS.threads)

import keras  # noqa: E402
from keras import layers  # noqa: E402


def seed_model():
    model = keras.Sequential(
        [
            keras.Input(shape=(256,), dtype="int32"),
            layers.Embedding(10000, 128),
            layers.GRU(128),
            layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=True if ARGS.jit_compile else "auto",
    )
    return model


def seed_step():
    keras.utils.set_random_seed(0)
    model = seed_model()
    rng = np.random.default_rng(0)
    x = rng.integers(1, 10000, (128, 256), dtype=np.int32)
    y = rng.integers(0, 2, (128,), dtype=np.int64)

    def iteration():
        model.train_on_batch(x, y)
        return {}

    shape = {"vocab": 10000, "embedding": 128, "gru": 128, "classes": 2, "batch": 128, "seq": 256}
    return shape, iteration


def seed_epoch():
    x = np.load(os.path.join(ARGS.dir, "seed_x.npy"))
    y = np.load(os.path.join(ARGS.dir, "seed_y.npy"))

    def iteration():
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        model = seed_model()
        history = model.fit(x, y, batch_size=128, epochs=1, validation_split=0.2, verbose=0)
        return {k: history.history[k][-1] for k in ("val_accuracy", "accuracy")}

    shape = {
        "samples": int(x.shape[0]),
        "maxlen": int(x.shape[1]),
        "x_sum": int(x.astype(np.int64).sum()),
        "batch": 128,
        "validation_split": 0.2,
        "epochs": 1,
    }
    return shape, iteration


def checksum(padded):
    flat = padded.astype(np.int64).ravel()
    return int((flat * (np.arange(flat.size, dtype=np.int64) % 1009 + 1)).sum())


def pad():
    ids = np.load(os.path.join(ARGS.dir, "pad_ids.npy"))
    lengths = np.load(os.path.join(ARGS.dir, "pad_lengths.npy"))
    seqs = [a.tolist() for a in np.split(ids, np.cumsum(lengths)[:-1])]

    def run():
        return keras.utils.pad_sequences(seqs, maxlen=256, padding="post", truncating="pre", value=0)

    shape = {
        "sequences": len(seqs),
        "maxlen": 256,
        "padding": "post",
        "truncating": "pre",
        "dtype": str(run().dtype),
        "checksum": checksum(run()),
    }
    return shape, lambda: (run(), {})[1]


WORKLOADS = {"seed-step": seed_step, "seed-epoch": seed_epoch, "pad": pad}

shape, iteration = WORKLOADS[ARGS.workload]()
version = f"keras {keras.__version__} (tensorflow {tf.__version__})"
SETTINGS = settings(ARGS, FLAGS, ["TF_ENABLE_ONEDNN_OPTS"])
serve(OUT, "keras", version, ARGS.threads, shape, iteration, ARGS.warmup, SETTINGS)
