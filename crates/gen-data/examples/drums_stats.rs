//! What the drums dataset holds once decoded: clips per class and kit, skipped files, peak
//! levels, the split's sizes, and how long decoding and the cache take.
//!
//! ```text
//! cargo run --release -p gen-data --example drums_stats   # after cargo xtask fetch-data drums
//! ```
//!
//! It decodes every file without the cache (timed), then loads twice through a cache in a
//! temporary folder (the first writes it, the second reads it; both timed).

use anyhow::Result;
use gen_data::drums::{self, ClassCounts, DrumClass, SplitSpec};
use std::collections::BTreeMap;
use std::time::Instant;

fn main() -> Result<()> {
    let dir = gen_data::paths::dataset_dir(drums::DATASET)?;
    let started = Instant::now();
    let set = drums::load_drums(&dir)?;
    let decode_s = started.elapsed().as_secs_f64();
    println!(
        "decoded {} clips from {} in {decode_s:.2} s (no cache)",
        set.report.loaded,
        dir.display()
    );
    for s in &set.report.skipped {
        println!("skipped {}: {}", s.path, s.reason);
    }
    for w in &set.report.warnings {
        println!("warning: {w}");
    }
    println!("classes: {}", ClassCounts::of(&set.clips));

    let mut by_kit: BTreeMap<&str, [usize; DrumClass::COUNT + 1]> = BTreeMap::new();
    let mut rates: BTreeMap<(u32, usize), usize> = BTreeMap::new();
    for clip in &set.clips {
        let row = by_kit.entry(clip.kit.as_str()).or_default();
        let col = clip.class.map_or(DrumClass::COUNT, DrumClass::index);
        if let Some(n) = row.get_mut(col) {
            *n += 1;
        }
        *rates
            .entry((clip.source_rate, clip.source_channels))
            .or_default() += 1;
    }
    println!("\nper kit: kick snare hi-hat tom cymbal clap unlabelled");
    for (kit, row) in &by_kit {
        println!("  {kit:<24} {row:?}");
    }
    println!("source rate x channels: {rates:?}");

    let mut peaks: Vec<f32> = set.clips.iter().map(|c| c.peak()).collect();
    peaks.sort_by(f32::total_cmp);
    let q = |p: f64| {
        let i = ((peaks.len().saturating_sub(1)) as f64 * p).round() as usize;
        peaks.get(i).copied().unwrap_or(0.0)
    };
    let db = |x: f32| 20.0 * x.max(1e-12).log10();
    println!(
        "peak |sample| over the clip: min {:.4} ({:.1} dBFS), 10% {:.3}, median {:.3}, 90% {:.3}, max {:.4}; {} clips at or above 0.999",
        q(0.0),
        db(q(0.0)),
        q(0.1),
        q(0.5),
        q(0.9),
        q(1.0),
        peaks.iter().filter(|&&p| p >= 0.999).count()
    );
    println!(
        "clips whose peak exceeds 1.0 after resampling (band-limiting audio clipped at full \
         scale overshoots): {}",
        peaks.iter().filter(|&&p| p > 1.0).count()
    );
    let audible: Vec<f32> = set
        .clips
        .iter()
        .map(|c| {
            let last = c.samples.iter().rposition(|s| s.abs() > 1e-3).unwrap_or(0);
            (last + 1) as f32 / drums::SAMPLE_RATE as f32
        })
        .collect();
    let full = audible.iter().filter(|&&s| s >= 1.0).count();
    println!("clips still above -60 dBFS at the end of the 1.024 s window: {full}");

    let split = drums::split_clips(&set.clips, &SplitSpec::default())?;
    let counts = |idx: &[usize]| {
        let clips: Vec<_> = idx
            .iter()
            .filter_map(|&i| set.clips.get(i).cloned())
            .collect();
        ClassCounts::of(&clips)
    };
    println!(
        "split (seed 113, 80/10/10): train {} ({}), valid {} ({}), test {} ({})",
        split.train.len(),
        counts(&split.train),
        split.valid.len(),
        counts(&split.valid),
        split.test.len(),
        counts(&split.test)
    );

    let cache = tempfile::tempdir()?;
    let started = Instant::now();
    let first = drums::load_drums_cached(&dir, cache.path())?;
    let write_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let second = drums::load_drums_cached(&dir, cache.path())?;
    let read_s = started.elapsed().as_secs_f64();
    println!(
        "cache: first load {write_s:.2} s ({:?}), second {read_s:.2} s ({:?}); same clips: {}",
        first.report.cache,
        second.report.cache,
        first.clips == set.clips && second.clips == set.clips
    );
    Ok(())
}
