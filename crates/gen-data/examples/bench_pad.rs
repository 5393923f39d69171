//! The gen side of `cargo xtask bench`'s `pad` workload, served over stdin/stdout.
//!
//! ```text
//! cargo run --release -p gen-data --example bench_pad -- pad --warmup 1 --dir target/bench/work
//! ```
//!
//! At start it loads the 25,000 IMDB reviews (train and test, `num_words = 10000`) with
//! [`gen_data::imdb::load_data`], writes them as `pad_ids.npy` (every id, int32, one review
//! after the other) and `pad_lengths.npy` (int64) into `--dir`, and reads them back, so that it
//! and the Keras peer pad the same sequences. Each iteration is `pad_sequences` at `maxlen =
//! 256` (`padding = post`, `truncating = pre`, value 0, int32 as Keras's default dtype); only
//! the padding is timed.
//!
//! Protocol (as the `bench` example of gen-train): one JSON `ready` line with the shape, which
//! holds a checksum of the padded array; then `run N` answers `{"times_ms": [...],
//! "metrics": {}}`; `quit` or end of input ends it. `--threads` is accepted and ignored: the
//! padding runs on one thread.

use anyhow::{Context, Result, bail};
use gen_data::imdb::{self, ImdbSource, LoadOptions};
use gen_data::sequence::{PadOptions, Padding, Truncating, pad_sequences};
use ndarray::{Array1, Array2};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[path = "../../../bench/protocol.rs"]
mod protocol;

const MAXLEN: usize = 256;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let workload = args
        .next()
        .context("usage: bench_pad pad [--warmup N] [--dir DIR]")?;
    if workload != "pad" {
        bail!("unknown workload {workload}: this program serves `pad` only");
    }
    let (mut warmup, mut dir) = (1usize, PathBuf::from("target/bench/work"));
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--warmup" => warmup = value.parse().context("--warmup")?,
            "--dir" => dir = PathBuf::from(value),
            "--threads" => {}
            _ => bail!("unknown option {flag}"),
        }
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;

    let opts = LoadOptions {
        num_words: Some(10000),
        ..LoadOptions::default()
    };
    let data = imdb::load_data(&ImdbSource::locate()?, &opts)?;
    let reviews: Vec<&Vec<i64>> = data.x_train.iter().chain(&data.x_test).collect();
    let ids: Vec<i32> = reviews
        .iter()
        .flat_map(|r| r.iter())
        .map(|&v| i32::try_from(v).context("an id does not fit in int32"))
        .collect::<Result<_>>()?;
    let lengths: Vec<i64> = reviews.iter().map(|r| r.len() as i64).collect();
    let (ids_path, lengths_path) = (dir.join("pad_ids.npy"), dir.join("pad_lengths.npy"));
    ndarray_npy::write_npy(&ids_path, &Array1::from(ids))?;
    ndarray_npy::write_npy(&lengths_path, &Array1::from(lengths))?;

    // Read back what the peer reads.
    let ids: Array1<i32> = ndarray_npy::read_npy(&ids_path)?;
    let lengths: Array1<i64> = ndarray_npy::read_npy(&lengths_path)?;
    let mut sequences: Vec<Vec<i32>> = Vec::with_capacity(lengths.len());
    let mut offset = 0usize;
    for &len in &lengths {
        let len = usize::try_from(len).context("negative length")?;
        let end = offset + len;
        let slice = ids
            .as_slice()
            .and_then(|s| s.get(offset..end))
            .context("pad_lengths.npy does not match pad_ids.npy")?;
        sequences.push(slice.to_vec());
        offset = end;
    }
    let pad = PadOptions {
        maxlen: Some(MAXLEN),
        padding: Padding::Post,
        truncating: Truncating::Pre,
        value: 0i32,
    };
    for _ in 0..warmup {
        drop(pad_sequences(&sequences, &pad)?);
    }
    let check = checksum(&pad_sequences(&sequences, &pad)?);
    let ready = json!({
        "ready": true,
        "side": "gen",
        "version": format!("gen-data {}", env!("CARGO_PKG_VERSION")),
        "threads": 1,
        "shape": {"sequences": sequences.len(), "maxlen": MAXLEN, "padding": "post",
                  "truncating": "pre", "dtype": "int32", "checksum": check},
    });
    protocol::serve(&ready, || {
        Ok((pad_sequences(&sequences, &pad)?, BTreeMap::new()))
    })
}

/// `sum(value * (flat_index % 1009 + 1))` over the array, as the peer computes it with numpy.
fn checksum(padded: &Array2<i32>) -> i64 {
    padded
        .iter()
        .enumerate()
        .map(|(i, &v)| i64::from(v) * ((i % 1009) as i64 + 1))
        .sum()
}
