//! The page of two runs parses (as XML, stricter than HTML), holds one chart per metric with
//! both runs' curves, the config differences, every sample image as a `data:` URL that decodes
//! to the file's pixels, the evaluation table, and no external URL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code may panic.

mod common;

use gen_report::{Run, render};

fn two_runs() -> (tempfile::TempDir, String) {
    let root = tempfile::tempdir().unwrap();
    let a = common::write_run(root.path(), "run-a", 4, 0.001, [255, 0, 0]);
    let b = common::write_run(root.path(), "run-b", 3, 0.003, [0, 0, 255]);
    let runs = Run::load_all(&[a, b]).unwrap();
    (root, render(&runs))
}

/// The page as XML (stricter than HTML); its doctype is allowed.
fn parse(html: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse_with_options(
        html,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .unwrap()
}

fn elements<'a>(doc: &'a roxmltree::Document<'_>, tag: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| n.tag_name().name() == tag)
        .collect()
}

#[test]
fn the_page_parses_and_has_one_chart_per_metric_with_every_curve() {
    let (_root, html) = two_runs();
    let doc = parse(&html);
    let charts = elements(&doc, "svg");
    let metrics: Vec<&str> = charts
        .iter()
        .map(|c| c.attribute("data-metric").unwrap())
        .collect();
    assert_eq!(metrics, ["accuracy", "loss"]);
    for chart in &charts {
        // Per chart: run-a and run-b, training and validation: four curves, with a point per
        // epoch (4 + 4 + 3 + 3).
        let lines: Vec<_> = chart
            .descendants()
            .filter(|n| n.tag_name().name() == "polyline")
            .collect();
        assert_eq!(lines.len(), 4);
        let points: usize = lines
            .iter()
            .map(|l| l.attribute("points").unwrap().split(' ').count())
            .sum();
        assert_eq!(points, 14);
        let dashed = lines
            .iter()
            .filter(|l| l.has_attribute("stroke-dasharray"))
            .count();
        assert_eq!(dashed, 2);
        let colours: std::collections::BTreeSet<_> = lines
            .iter()
            .map(|l| l.attribute("stroke").unwrap())
            .collect();
        assert_eq!(colours.len(), 2);
    }
}

#[test]
fn the_page_loads_nothing_from_outside() {
    let (_root, html) = two_runs();
    assert!(!html.contains("http:") && !html.contains("https:") && !html.contains("//"));
    assert!(!html.contains("<script") && !html.contains("<link") && !html.contains("url("));
    let doc = parse(&html);
    for node in doc.descendants() {
        for attr in ["src", "href"] {
            if let Some(url) = node.attribute(attr) {
                assert!(url.starts_with("data:image/png;base64,"), "{url}");
            }
        }
    }
}

#[test]
fn images_decode_to_the_runs_pixels_and_configs_are_compared() {
    let (root, html) = two_runs();
    let doc = parse(&html);
    let images = elements(&doc, "img");
    // run-a: 4 grids and real.png; run-b: 3 and real.png; checkpoints/ is left out.
    assert_eq!(images.len(), 9);
    let first = images[0].attribute("src").unwrap();
    let png = base64_decode(first.strip_prefix("data:image/png;base64,").unwrap());
    assert_eq!(
        png,
        std::fs::read(root.path().join("run-a/samples/epoch_001.png")).unwrap()
    );
    let pixel = image::load_from_memory(&png)
        .unwrap()
        .to_rgb8()
        .get_pixel(5, 5)
        .0;
    assert_eq!(pixel, [255, 0, 0]);
    assert_eq!(images[0].attribute("alt"), Some("samples/epoch epoch 1"));

    // The one differing key, each run's value, and the escaped text of each config.
    let text: String = doc.descendants().filter_map(|n| n.text()).collect();
    let diff = elements(&doc, "table")
        .into_iter()
        .find(|t| t.attribute("class") == Some("diff"))
        .unwrap();
    let cells: Vec<&str> = diff
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .filter(|t| !t.trim().is_empty())
        .collect();
    assert_eq!(
        cells,
        [
            "key",
            "run-a",
            "run-b",
            "optimizer.lr",
            "0.001",
            "0.003",
            "trainer.epochs",
            "4",
            "3"
        ]
    );
    assert!(
        text.contains("note = \"a <b>&amp;</b>\""),
        "the config is shown as text"
    );
    assert!(text.contains("fd_score"));
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// A mono 16-bit PCM WAV of `samples` at 16 kHz.
fn wav(samples: &[i16]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&16_000u32.to_le_bytes());
    out.extend_from_slice(&32_000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

#[test]
fn sound_and_music_runs_get_a_player_per_clip() {
    let root = tempfile::tempdir().unwrap();
    let run = common::write_run(root.path(), "drums", 2, 0.001, [0, 255, 0]);
    let clip = wav(&(0..1600)
        .map(|i| ((i % 40) * 800 - 16_000) as i16)
        .collect::<Vec<_>>());
    std::fs::write(run.join("samples/sample-seed0-00.wav"), &clip).unwrap();
    // Beyond the size cap: left out, the page stays small.
    let big = wav(&vec![0i16; (gen_report::MAX_AUDIO_BYTES / 2 + 1) as usize]);
    std::fs::write(run.join("samples/long.wav"), &big).unwrap();
    // Inside tb/: the event files' copies are not the run's samples.
    std::fs::create_dir_all(run.join("tb")).unwrap();
    std::fs::write(run.join("tb/clip.wav"), &clip).unwrap();
    let html = render(&Run::load_all(&[run]).unwrap());
    let doc = parse(&html);
    let players = elements(&doc, "audio");
    assert_eq!(players.len(), 1, "one clip under the cap, outside tb/");
    let src = players[0].attribute("src").unwrap();
    let bytes = base64_decode(src.strip_prefix("data:audio/wav;base64,").unwrap());
    assert_eq!(bytes, clip);
    assert_eq!(players[0].attribute("controls"), Some("controls"));
    let text: String = doc.descendants().filter_map(|n| n.text()).collect();
    assert!(
        text.contains("samples/sample-seed0-00"),
        "the clip is named"
    );
}

/// A sound run's training writes clips `samples/clip<i>_<epoch>.wav` every epoch: the page
/// plays the latest epoch's clip of each, beside `gen sample`'s, however many epochs ran.
#[test]
fn of_a_clip_per_epoch_the_last_epoch_plays() {
    let root = tempfile::tempdir().unwrap();
    let run = common::write_run(root.path(), "drums", 2, 0.001, [0, 255, 0]);
    let clip = |epoch: i16| wav(&[epoch; 160]);
    for epoch in 1..=12 {
        for i in 0..4 {
            let name = format!("samples/clip{i}_{epoch:03}.wav");
            std::fs::write(run.join(name), clip(epoch)).unwrap();
        }
    }
    std::fs::write(run.join("samples/sample-seed0-00.wav"), clip(99)).unwrap();
    let html = render(&Run::load_all(&[run]).unwrap());
    let doc = parse(&html);
    let players = elements(&doc, "audio");
    let played: Vec<Vec<u8>> = players
        .iter()
        .map(|p| {
            let src = p.attribute("src").unwrap();
            base64_decode(src.strip_prefix("data:audio/wav;base64,").unwrap())
        })
        .collect();
    assert_eq!(played, [12, 12, 12, 12, 99].map(clip));
    let text: String = doc.descendants().filter_map(|n| n.text()).collect();
    for i in 0..4 {
        assert!(text.contains(&format!("samples/clip{i}_012")), "{i}");
    }
    assert!(!text.contains("samples/clip0_011"));
}
