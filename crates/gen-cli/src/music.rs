//! Music runs: Bach's chorales as piano-rolls, the GRU frame model, the test NLL per frame
//! beside the three baselines, and `gen sample` as MIDI, WAV and piano-roll PNG.

use crate::config::MusicRun;
use crate::fit::{FitContext, MetricMap, RunKind};
use anyhow::{Context, Result, bail};
use gen_data::audio::wav::write_wav_i16;
use gen_data::music::{
    ChoraleSet, MidiOptions, PianoRoll, RollImageOptions, SynthOptions, baselines,
    load_chorales_from, synthesize, write_midi, write_roll_png,
};
use gen_train::tasks::music::{RollData, evaluate_nll, fit_music, load_music_model, roll_of};
use gen_train::{Outcome, TrainerState};
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};

/// The checkpoint that `gen evaluate` and `gen sample` read: the epoch of lowest validation
/// NLL.
pub(crate) const CHECKPOINT: &str = "best";

fn rolls<'a>(chorales: impl IntoIterator<Item = &'a gen_data::music::Chorale>) -> Vec<PianoRoll> {
    chorales.into_iter().map(|c| c.roll.clone()).collect()
}

impl RunKind for MusicRun {
    type Data = ChoraleSet;

    fn load(&self, _device: Device) -> Result<ChoraleSet> {
        let dir = gen_data::paths::dataset_dir(&self.data.dataset)?;
        load_chorales_from(&dir).with_context(|| format!("loading {}", dir.display()))
    }

    /// Trains on the training chorales, validating on the validation chorales (with
    /// `ctx.fold`: on the other folds of the training chorales, validating on this one).
    /// Runs on the CPU.
    fn train(&self, set: &ChoraleSet, ctx: &FitContext) -> Result<(Outcome, TrainerState)> {
        if ctx.dist.is_some() {
            anyhow::bail!(
                "music runs train on one process; leave out --nproc-per-node and torchrun"
            );
        }
        let (train, valid) = match ctx.fold {
            Some(fold) => {
                let (t, v) = fold.split(set.train.len())?;
                let pick = |idx: &[usize]| {
                    idx.iter()
                        .filter_map(|&i| set.train.get(i))
                        .collect::<Vec<_>>()
                };
                (rolls(pick(&t)), rolls(pick(&v)))
            }
            None => (rolls(&set.train), rolls(&set.valid)),
        };
        let train = RollData::new(train, Device::Cpu)?;
        let valid = RollData::new(valid, Device::Cpu)?;
        let trained = fit_music(
            &train,
            &valid,
            &self.task(),
            &ctx.dir,
            |trainer| ctx.single(trainer),
            ctx.resume,
        )?;
        Ok((trained.outcome, trained.state))
    }

    /// `nll_per_frame` on the test chorales (from the `best` checkpoint), beside the
    /// baselines fitted on the training chorales: `baseline_coin_flip`, `baseline_bernoulli`
    /// (per key) and `baseline_markov` (per key, first order), all in nats per frame.
    fn evaluate(&self, set: &ChoraleSet, dir: &Path, _device: Device) -> Result<MetricMap> {
        let (task, _) = load_music_model(dir, CHECKPOINT, Device::Cpu)?;
        let test = rolls(&set.test);
        let nll = evaluate_nll(&task.model, &test, 16)?;
        let Some(mean) = nll.mean() else {
            bail!("the test split has no chorales");
        };
        let train = rolls(&set.train);
        let b = baselines(train.iter(), test.iter())?.context("the test split has no frames")?;
        Ok(MetricMap::from([
            ("nll_per_frame".into(), mean),
            ("baseline_coin_flip".into(), b.coin_flip),
            ("baseline_bernoulli".into(), b.bernoulli),
            ("baseline_markov".into(), b.markov),
            ("test_chorales".into(), test.len() as f64),
            ("test_frames".into(), nll.frames as f64),
        ]))
    }
}

/// Options of `gen sample` for music runs.
pub struct SampleOptions {
    /// Chorales to compose (and test chorales rendered beside them).
    pub num: usize,
    /// Seed.
    pub seed: u64,
    /// The folder to write into.
    pub out: PathBuf,
}

/// Writes `<stem>.mid`, `<stem>.wav` and `<stem>.png` of `roll` into `dir`; returns their
/// paths.
pub fn render(
    roll: &PianoRoll,
    dir: &Path,
    stem: &str,
    run: &MusicRun,
    text: &str,
) -> Result<[PathBuf; 3]> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let paths = ["mid", "wav", "png"].map(|ext| dir.join(format!("{stem}.{ext}")));
    let [mid, wav, png] = &paths;
    let midi = MidiOptions {
        bpm: run.sample.bpm,
        texts: vec![text.to_string()],
        ..MidiOptions::default()
    };
    write_midi(mid, roll, &midi)?;
    let synth = SynthOptions {
        sample_rate: run.sample.sample_rate,
        bpm: run.sample.bpm,
        ..SynthOptions::default()
    };
    write_wav_i16(wav, &synthesize(roll, &synth)?, synth.sample_rate)?;
    write_roll_png(png, roll, &RollImageOptions::default())?;
    Ok(paths)
}

/// Composes `opts.num` chorales of `run.sample.frames` frames (from the `best` checkpoint,
/// seeded; with `run.sample.opening`, after that many frames of the first test chorale) and
/// writes each as MIDI, WAV and PNG (`chorale-seed<S>-<i>.*`), with the first `opts.num` test
/// chorales rendered beside them (`test-<name>.*`). Returns the paths written.
pub fn sample(
    run: &MusicRun,
    dir: &Path,
    set: &ChoraleSet,
    opts: &SampleOptions,
) -> Result<Vec<PathBuf>> {
    if opts.num == 0 {
        bail!("--num must be at least 1");
    }
    if run.sample.frames == 0 {
        bail!("sample.frames must be at least 1");
    }
    let (task, _) = load_music_model(dir, CHECKPOINT, Device::Cpu)?;
    let opening = match (run.sample.opening, set.test.first()) {
        (0, _) => None,
        (n, Some(c)) => {
            let n = n.min(c.roll.frames()).min(run.sample.frames);
            let cells: Vec<f32> = c
                .roll
                .to_f32()
                .rows()
                .into_iter()
                .take(n)
                .flatten()
                .copied()
                .collect();
            Some(Tensor::f_from_slice(&cells)?.f_view([n as i64, 88])?)
        }
        (_, None) => bail!("sample.opening is set but the test split has no chorales"),
    };
    let drawn = task
        .model
        .sample(opts.num, run.sample.frames, opening.as_ref(), opts.seed)?;
    let mut written = Vec::new();
    for i in 0..opts.num {
        let roll = roll_of(&drawn.frames.f_select(0, i as i64)?)?;
        let text = format!(
            "composed by gen's music model, seed {}, chorale {i}",
            opts.seed
        );
        written.extend(render(
            &roll,
            &opts.out,
            &format!("chorale-seed{}-{i}", opts.seed),
            run,
            &text,
        )?);
    }
    for c in set.test.iter().take(opts.num) {
        let stem = format!("test-{}", c.name.trim_end_matches(".mxl"));
        written.extend(render(&c.roll, &opts.out, &stem, run, &c.name)?);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use gen_data::music::{read_midi, synth::output_len};

    #[test]
    fn a_rendered_roll_reads_back_as_the_same_notes_and_an_unclipped_wav() {
        // A roll as the sampler leaves it: a [frames, 88] tensor of 0/1 floats, with a held
        // note, a repeated note, a chord, and a silent last frame.
        let mut cells = vec![0f32; 6 * 88];
        for (t, key) in [
            (0, 60),
            (1, 60),
            (2, 64),
            (2, 67),
            (2, 72),
            (3, 64),
            (4, 21),
            (4, 108),
        ] {
            cells[t * 88 + key - 21] = 1.0;
        }
        let roll = roll_of(&Tensor::from_slice(&cells).view([6, 88])).unwrap();
        assert_eq!(roll.sounding(), 8);
        let toml = "kind = \"music\"\n[sample]\nsample_rate = 8000\nbpm = 120.0\n";
        let crate::config::RunConfig::Music(run) = toml::from_str(toml).unwrap() else {
            panic!("not a music run");
        };
        let dir = tempfile::tempdir().unwrap();
        let [mid, wav, png] = render(&roll, dir.path(), "x", &run, "test").unwrap();
        let back = read_midi(&mid).unwrap();
        assert_eq!(back.roll.notes(), roll.notes());
        assert_eq!(back.bpm, Some(120.0));
        assert_eq!(back.texts, ["test"]);
        let wav = gen_data::audio::wav::read_wav(&wav).unwrap();
        assert_eq!(wav.sample_rate, 8000);
        let synth = SynthOptions {
            sample_rate: 8000,
            bpm: 120.0,
            ..SynthOptions::default()
        };
        // 6 frames of half a second, plus the release.
        assert_eq!(wav.samples.len(), output_len(6, &synth));
        assert_eq!(wav.samples.len(), 6 * 4000 + 2000);
        let peak = wav.samples.iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!((peak - synth.peak).abs() < 1e-3, "{peak}");
        assert!(png.exists());
    }
}
