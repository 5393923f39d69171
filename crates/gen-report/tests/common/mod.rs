//! Two small run folders as `gen train` leaves them, made on the spot.

#![allow(dead_code)] // Each test binary uses part of it.

use std::path::{Path, PathBuf};

/// Writes run `name` in `root`: `epochs` lines of metrics.jsonl (loss, accuracy and their
/// `val_`), a config.toml whose `optimizer.lr` is `lr`, an eval.json, and per epoch a 40x40
/// sample grid in pure `rgb` (with `real.png` once). Returns its folder.
pub fn write_run(root: &Path, name: &str, epochs: u64, lr: f64, rgb: [u8; 3]) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("samples")).unwrap();
    std::fs::create_dir_all(dir.join("checkpoints")).unwrap();
    let mut jsonl = String::new();
    for epoch in 1..=epochs {
        let e = epoch as f64;
        jsonl += &format!(
            "{{\"epoch\":{epoch},\"step\":{},\"accuracy\":{},\"loss\":{},\"val_accuracy\":{},\"val_loss\":{}}}\n",
            100 * epoch,
            1.0 - 0.5 / e,
            lr * 1000.0 / e,
            0.9 - 0.5 / e,
            lr * 1200.0 / e + 0.1,
        );
        let grid = image::RgbImage::from_pixel(40, 40, image::Rgb(rgb));
        grid.save(dir.join(format!("samples/epoch_{epoch:03}.png")))
            .unwrap();
    }
    image::RgbImage::from_pixel(8, 8, image::Rgb([0, 0, 0]))
        .save(dir.join("samples/real.png"))
        .unwrap();
    // Checkpoint folders hold no figures: a PNG there is left out.
    image::RgbImage::from_pixel(8, 8, image::Rgb([0, 0, 0]))
        .save(dir.join("checkpoints/ignored.png"))
        .unwrap();
    std::fs::write(dir.join("metrics.jsonl"), jsonl).unwrap();
    let config = format!(
        "kind = \"image_gan\"\nseed = 1\n\n[optimizer]\nlr = {lr}\n\n[trainer]\nepochs = {epochs}\nnote = \"a <b>&amp;</b>\"\n"
    );
    std::fs::write(dir.join("config.toml"), config).unwrap();
    std::fs::write(
        dir.join("eval.json"),
        format!(
            "{{\"fd_score\": {}, \"train_seconds\": 12.5}}",
            3.0 / lr / 1000.0
        ),
    )
    .unwrap();
    dir
}
