//! Writes a demo run with every kind of TensorBoard value, for looking at by hand:
//!
//! ```text
//! cargo run -p gen-log --example tb_demo -- /tmp/tb-demo
//! python3 crates/gen-log/tests/tensorboard_check.py /tmp/tb-demo
//! tensorboard --logdir /tmp/tb-demo
//! ```
//!
//! 4 epochs of 250 steps: loss, learning rate and step time every 10 steps, validation loss,
//! an image, a clip and a text per epoch, and the config as text and hparams. It is killed
//! after step 800 with its last checkpoint at step 750, and resumed: TensorBoard shows the
//! resumed run's values from step 751 on. Prints what writing cost.

use std::time::Instant;

use gen_log::tensorboard::{TbWriter, flatten_json};
use image::ImageEncoder;
use image::codecs::png::PngEncoder;

const STEPS_PER_EPOCH: u64 = 250;
const EPOCHS: u64 = 4;

fn main() -> anyhow::Result<()> {
    let run = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: tb_demo RUN_DIR"))?;
    let tb = std::path::Path::new(&run).join("tb");
    let config = serde_json::json!({
        "preset": "demo",
        "trainer": {"epochs": EPOCHS, "batch_size": 64, "seed": 42},
        "optim": {"kind": "adam", "lr": 1e-3},
    });

    let mut writer = TbWriter::create(&tb)?;
    writer.hparams(&flatten_json(&config))?;
    writer.text_verbatim("config", 0, &serde_json::to_string_pretty(&config)?)?;
    let mut values = 0u32;
    let start = Instant::now();
    for step in 1..=800 {
        log_step(&mut writer, step, 0.0, &mut values)?;
    }
    writer.flush()?;
    let first = start.elapsed();
    drop(writer);

    // Killed after step 800; the checkpoint was at step 750 (end of epoch 3).
    let mut writer = TbWriter::resume(&tb, 751)?;
    let start = Instant::now();
    for step in 751..=STEPS_PER_EPOCH * EPOCHS {
        log_step(&mut writer, step, 0.05, &mut values)?;
    }
    writer.flush()?;
    let elapsed = first + start.elapsed();
    println!(
        "{}: {values} values in {:.1} ms ({:.1} µs each, images and clips included)",
        tb.display(),
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e6 / f64::from(values)
    );
    Ok(())
}

/// Logs one step; `shift` makes the resumed run's curve visibly different.
fn log_step(tb: &mut TbWriter, step: u64, shift: f32, values: &mut u32) -> anyhow::Result<()> {
    let t = step as f32 / (STEPS_PER_EPOCH * EPOCHS) as f32;
    if step % 10 == 0 {
        tb.scalar("loss/train", step, 2.0 * (-3.0 * t).exp() + 0.1 + shift)?;
        tb.scalar("lr", step, 1e-3 * (1.0 - t))?;
        tb.scalar("time/step_ms", step, 12.0 + (step % 7) as f32)?;
        *values += 3;
    }
    if step % STEPS_PER_EPOCH == 0 {
        let epoch = step / STEPS_PER_EPOCH;
        tb.scalar("loss/val", step, 2.2 * (-2.5 * t).exp() + 0.15 + shift)?;
        tb.image_png("samples", step, &gradient_png(64, 48, epoch as u8))?;
        let rate = 16_000;
        let hz = 220.0 * epoch as f32;
        let clip: Vec<f32> = (0..rate / 2)
            .map(|i| 0.3 * (std::f32::consts::TAU * hz * i as f32 / rate as f32).sin())
            .collect();
        tb.audio_samples("sound", step, &clip, rate)?;
        tb.text_verbatim(
            "lm/sample",
            step,
            &format!("epoch {epoch}: to be or not to be, that is the question"),
        )?;
        tb.flush()?;
        *values += 4;
    }
    Ok(())
}

/// A `width x height` RGB gradient that changes with `epoch`.
fn gradient_png(width: u32, height: u32, epoch: u8) -> Vec<u8> {
    let mut pixels = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            let r = (x * 255 / width) as u8;
            let g = (y * 255 / height) as u8;
            pixels.extend([r, g, epoch.wrapping_mul(60)]);
        }
    }
    let mut png = Vec::new();
    let encoder = PngEncoder::new(&mut png);
    if let Err(e) = encoder.write_image(&pixels, width, height, image::ExtendedColorType::Rgb8) {
        eprintln!("PNG encoding failed: {e}");
    }
    png
}
