//! The Bach chorales at a glance: their counts per split, the NLL-per-frame baselines, and the
//! first test chorales written as MIDI, WAV and piano-roll PNG, to hear and see the data.
//!
//! ```text
//! cargo xtask fetch-data bach-chorales
//! cargo run --release -p gen-data --example bach_chorales -- [OUT_DIR] [COUNT]
//! ```
//!
//! `OUT_DIR` defaults to `runs/bach-chorales-data`, `COUNT` to 2.

use gen_data::audio::wav::write_wav_i16;
use gen_data::music::{
    self, MidiOptions, RollImageOptions, RollStats, SkipReason, Split, SynthOptions,
};
use std::path::PathBuf;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "runs/bach-chorales-data".into()),
    );
    let count: usize = args.next().map_or(Ok(2), |c| c.parse())?;

    let started = Instant::now();
    let set = music::load_bach_chorales()?;
    let parts = set
        .skipped
        .iter()
        .filter(|s| matches!(s.reason, SkipReason::Parts(_)))
        .count();
    println!(
        "{} .mxl files read in {:.2} s: {parts} not in four parts, {} duplicates",
        set.files,
        started.elapsed().as_secs_f64(),
        set.skipped.len() - parts
    );
    let all = set.stats();
    println!(
        "{:>6} {:>9} {:>7} {:>9} {:>12}",
        "split", "chorales", "frames", "lengths", "keys/frame"
    );
    let row = |name: &str, s: RollStats| {
        println!(
            "{name:>6} {:>9} {:>7} {:>9} {:>12.2}",
            s.chorales,
            s.frames,
            format!("{}-{}", s.min_frames, s.max_frames),
            s.notes_per_frame
        );
    };
    for split in Split::ALL {
        row(split.name(), RollStats::of(set.split(split)));
    }
    row("all", all);
    println!("split digest {}", set.digest());

    let rolls = |s: Split| set.split(s).iter().map(|c| &c.roll);
    for eval in [Split::Valid, Split::Test] {
        if let Some(b) = music::baselines(rolls(Split::Train), rolls(eval))? {
            println!(
                "{eval} NLL per frame: coin flip {:.2}, Bernoulli per key {:.2}, Markov chain per key {:.2}",
                b.coin_flip, b.bernoulli, b.markov
            );
        }
    }

    std::fs::create_dir_all(&out)?;
    let synth = SynthOptions::default();
    for chorale in set.split(Split::Test).iter().take(count) {
        let stem = chorale.name.trim_end_matches(".mxl");
        let file = |ext: &str| out.join(format!("{stem}.{ext}"));
        let texts = vec![format!(
            "Bach chorale {} (music21 corpus), transposed to C",
            chorale.name
        )];
        let midi = MidiOptions {
            texts,
            ..MidiOptions::default()
        };
        music::write_midi(&file("mid"), &chorale.roll, &midi)?;
        let t = Instant::now();
        let samples = music::synthesize(&chorale.roll, &synth)?;
        let took = t.elapsed().as_secs_f64();
        write_wav_i16(&file("wav"), &samples, synth.sample_rate)?;
        music::write_roll_png(&file("png"), &chorale.roll, &RollImageOptions::default())?;
        println!(
            "{}: {} frames, {:.1} s of audio synthesised in {took:.2} s -> {}.{{mid,wav,png}}",
            chorale.name,
            chorale.roll.frames(),
            samples.len() as f64 / f64::from(synth.sample_rate),
            out.join(stem).display()
        );
    }
    Ok(())
}
