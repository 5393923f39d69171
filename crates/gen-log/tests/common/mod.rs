//! A sample run with every kind of value, a resume included, and what TensorBoard must show of
//! it: shared by the Rust round trip and the Python `EventAccumulator` check.

#![allow(dead_code)] // Each test file uses part of it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test helpers may panic.

pub mod python;

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;

use gen_log::tensorboard::{HParam, TbWriter, flatten_json};
use image::ImageEncoder;
use image::codecs::png::PngEncoder;

/// A `width x height` RGB PNG whose pixel `(x, y)` is `(seed + 10 x, 20 y, 30)`.
pub fn png_rgb(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let mut pixels = Vec::new();
    for y in 0..height {
        for x in 0..width {
            pixels.extend([seed.wrapping_add((10 * x) as u8), (20 * y) as u8, 30]);
        }
    }
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(&pixels, width, height, image::ExtendedColorType::Rgb8)
        .unwrap();
    png
}

/// A 16-bit stereo WAV file of `frames` frames at `rate`, left rising, right falling.
pub fn wav_stereo(frames: u32, rate: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
    for i in 0..frames as i16 {
        w.write_sample(i * 100).unwrap();
        w.write_sample(-i * 100).unwrap();
    }
    w.finalize().unwrap();
    out.into_inner()
}

/// `n` samples of a sine of `hz` at `rate`, amplitude 0.5.
pub fn sine(n: usize, hz: f32, rate: u32) -> Vec<f32> {
    (0..n)
        .map(|i| 0.5 * (std::f32::consts::TAU * hz * i as f32 / rate as f32).sin())
        .collect()
}

/// An expected image: width, height and the PNG bytes.
pub type Image = (u32, u32, Vec<u8>);

/// An expected clip: sample rate, channels, frames and (for mono clips) the samples.
pub type Audio = (u32, u16, u32, Option<Vec<f32>>);

/// What TensorBoard must show of the sample run.
#[derive(Debug, Default)]
pub struct Expected {
    pub scalars: BTreeMap<String, Vec<(i64, f32)>>,
    pub images: BTreeMap<String, Vec<(i64, Image)>>,
    pub audio: BTreeMap<String, Vec<(i64, Audio)>>,
    pub text: BTreeMap<String, Vec<(i64, String)>>,
    pub hparams: BTreeMap<String, HParam>,
}

impl Expected {
    /// What a reader holds after a restart at `step`: the values before it.
    fn restart_at(&mut self, step: i64) {
        fn purge<T>(series: &mut BTreeMap<String, Vec<(i64, T)>>, step: i64) {
            series
                .values_mut()
                .for_each(|v| v.retain(|(s, _)| *s < step));
            series.retain(|_, v| !v.is_empty());
        }
        purge(&mut self.scalars, step);
        purge(&mut self.images, step);
        purge(&mut self.audio, step);
        purge(&mut self.text, step);
    }

    fn add<T>(series: &mut BTreeMap<String, Vec<(i64, T)>>, tag: &str, step: i64, value: T) {
        series
            .entry(tag.to_owned())
            .or_default()
            .push((step, value));
    }

    /// The expectations as JSON for `tensorboard_check.py --expect`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let scalars: serde_json::Map<_, _> = self
            .scalars
            .iter()
            .map(|(tag, points)| {
                let points: Vec<_> = points
                    .iter()
                    .map(|(s, v)| json!({"step": s, "value": v}))
                    .collect();
                (tag.clone(), json!(points))
            })
            .collect();
        let images: serde_json::Map<_, _> = self
            .images
            .iter()
            .map(|(tag, points)| {
                let points: Vec<_> = points
                    .iter()
                    .map(|(s, (w, h, png))| {
                        json!({"step": s, "width": w, "height": h, "png_hex": hex(png)})
                    })
                    .collect();
                (tag.clone(), json!(points))
            })
            .collect();
        let audio: serde_json::Map<_, _> = self
            .audio
            .iter()
            .map(|(tag, points)| {
                let points: Vec<_> = points
                    .iter()
                    .map(|(s, (rate, channels, frames, samples))| {
                        json!({"step": s, "sample_rate": rate, "channels": channels,
                               "frames": frames, "samples": samples})
                    })
                    .collect();
                (tag.clone(), json!(points))
            })
            .collect();
        let text: serde_json::Map<_, _> = self
            .text
            .iter()
            .map(|(tag, points)| {
                let points: Vec<_> = points
                    .iter()
                    .map(|(s, t)| json!({"step": s, "text": t}))
                    .collect();
                (tag.clone(), json!(points))
            })
            .collect();
        let hparams: serde_json::Map<_, _> = self
            .hparams
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    HParam::Number(x) => json!(x),
                    HParam::Text(s) => json!(s),
                    HParam::Bool(b) => json!(b),
                };
                (name.clone(), value)
            })
            .collect();
        json!({"scalars": scalars, "images": images, "audio": audio, "text": text,
               "hparams": hparams})
    }
}

/// The run's config, as a trainer would log it.
pub const CONFIG_TOML: &str = "preset = \"mnist-gan\"\n\n[trainer]\nepochs = 3\nseed = 42\n";

/// Writes the sample run into `tb`: steps 1 to 6, killed, then resumed from a checkpoint at
/// step 4 and run to step 8. Returns what TensorBoard must show.
pub fn write_sample_run(tb: &Path) -> Expected {
    let mut want = Expected::default();
    let config = serde_json::json!({
        "preset": "mnist-gan",
        "trainer": {"epochs": 3, "seed": 42, "amp": false},
        "optim": {"lr": 2e-4, "betas": [0.5, 0.999]},
    });
    let hparams = flatten_json(&config);
    let lm_text =
        |step: i64, run: &str| format!("step {step} ({run}): the *quick* brown fox é\nnext line");

    let mut first = TbWriter::create(tb).unwrap();
    first.hparams(&hparams).unwrap();
    first.text_verbatim("config", 0, CONFIG_TOML).unwrap();
    want.hparams = hparams;
    let config_md: String = CONFIG_TOML.lines().map(|l| format!("    {l}\n")).collect();
    Expected::add(&mut want.text, "config", 0, config_md);
    for step in 1..=6u64 {
        let s = step as i64;
        let loss = 1.0 / step as f32;
        let lr = 1e-3 * 0.9f32.powi(step as i32);
        first.scalar("loss/train", step, loss).unwrap();
        first.scalar("lr", step, lr).unwrap();
        Expected::add(&mut want.scalars, "loss/train", s, loss);
        Expected::add(&mut want.scalars, "lr", s, lr);
        if step % 3 == 0 {
            let png = png_rgb(8, 6, step as u8);
            first.image_png("samples", step, &png).unwrap();
            Expected::add(&mut want.images, "samples", s, (8, 6, png));
            let samples = sine(400, 440.0 + step as f32, 8000);
            first.audio_samples("sound", step, &samples, 8000).unwrap();
            Expected::add(&mut want.audio, "sound", s, (8000, 1, 400, Some(samples)));
            let text = lm_text(s, "first");
            first.text("lm/sample", step, &text).unwrap();
            Expected::add(&mut want.text, "lm/sample", s, text);
        }
    }
    let stereo = wav_stereo(50, 16000);
    first.audio_wav("stereo", 4, &stereo).unwrap();
    Expected::add(&mut want.audio, "stereo", 4, (16000, 2, 50, None));
    first.flush().unwrap();
    drop(first);

    // Killed after step 6; the checkpoint was at step 4: the resumed run logs steps 5 to 8.
    let mut resumed = TbWriter::resume(tb, 5).unwrap();
    want.restart_at(5);
    for step in 5..=8u64 {
        let s = step as i64;
        let loss = 100.0 + step as f32;
        let lr = 2e-3 * step as f32;
        resumed.scalar("loss/train", step, loss).unwrap();
        resumed.scalar("lr", step, lr).unwrap();
        Expected::add(&mut want.scalars, "loss/train", s, loss);
        Expected::add(&mut want.scalars, "lr", s, lr);
        if step == 6 {
            let png = png_rgb(8, 6, 200);
            resumed.image_png("samples", step, &png).unwrap();
            Expected::add(&mut want.images, "samples", s, (8, 6, png));
            let samples = sine(200, 220.0, 8000);
            resumed
                .audio_samples("sound", step, &samples, 8000)
                .unwrap();
            Expected::add(&mut want.audio, "sound", s, (8000, 1, 200, Some(samples)));
            let text = lm_text(s, "resumed");
            resumed.text("lm/sample", step, &text).unwrap();
            Expected::add(&mut want.text, "lm/sample", s, text);
        }
    }
    resumed.flush().unwrap();
    want
}
