//! A real browser renders the page: headless chromium takes a screenshot of the report of two
//! runs, which must not be blank, must show the first run's curve colour (the SVG drew) and
//! its pure red sample grids (the `data:` PNGs decoded), and chromium logs no console error.
//!
//! It needs chromium (`apt-get install chromium`): `chromium` or `chromium-browser` on the
//! `PATH`, or the binary `GEN_CHROMIUM` names. Where there is none, the test fails if
//! `GEN_REQUIRE_CHROMIUM=1` (as `.ci/run` sets), and otherwise says it was skipped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code may panic.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

/// The chromium to run, if any; an error if there is none and it is required.
fn chromium() -> anyhow::Result<Option<String>> {
    let candidates = match std::env::var("GEN_CHROMIUM") {
        Ok(path) => vec![path],
        Err(_) => vec!["chromium".into(), "chromium-browser".into()],
    };
    for candidate in &candidates {
        let version = Command::new(candidate).arg("--version").output();
        if version.is_ok_and(|out| out.status.success()) {
            return Ok(Some(candidate.clone()));
        }
    }
    let required = std::env::var("GEN_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1");
    anyhow::ensure!(
        !required,
        "GEN_REQUIRE_CHROMIUM=1, but none of {candidates:?} runs. Install it \
         (`apt-get install -y chromium`) or set GEN_CHROMIUM to its path"
    );
    // Straight to stderr, past the test harness's capture, so that the skip shows.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: no chromium among {candidates:?}; install it, set GEN_CHROMIUM, or set \
         GEN_REQUIRE_CHROMIUM=1 to make this a failure"
    );
    Ok(None)
}

/// Renders `html_file` to `png` at 1200 x 2400 pixels; returns chromium's log.
pub fn screenshot(chromium: &str, html_file: &Path, png: &Path) -> anyhow::Result<String> {
    let profile = tempfile::tempdir()?;
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1200,2400",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html_file.display()))
        .output()?;
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    anyhow::ensure!(
        out.status.success() && png.is_file(),
        "chromium failed:\n{log}"
    );
    Ok(log)
}

#[test]
fn chromium_renders_the_curves_and_the_samples() -> anyhow::Result<()> {
    let Some(chromium) = chromium()? else {
        return Ok(());
    };
    let root = tempfile::tempdir()?;
    let a = common::write_run(root.path(), "run-a", 4, 0.001, [255, 0, 0]);
    let b = common::write_run(root.path(), "run-b", 3, 0.003, [0, 0, 255]);
    let html = gen_report::render(&gen_report::Run::load_all(&[a, b])?);
    let page = root.path().join("report.html");
    std::fs::write(&page, html)?;
    let shot = root.path().join("report.png");
    let log = screenshot(&chromium, &page, &shot)?;
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");

    let image = image::open(&shot)?.to_rgb8();
    let count = |rgb: [u8; 3]| image.pixels().filter(|p| p.0 == rgb).count();
    let total = image.pixels().len();
    // The page is mostly white paper (about 98% here); a blank one is all white.
    let white = count([255, 255, 255]);
    assert!(
        white < total * 99 / 100,
        "the page is blank: {white} of {total} pixels white"
    );
    // The first run's curves (tab10 blue, 2 px wide) and its four 40x40 red grids (epochs 1-4
    // of run-a; run-b's are blue).
    let curve = count([0x1f, 0x77, 0xb4]);
    assert!(
        curve > 300,
        "{curve} pixels of the first run's colour: the SVG did not draw"
    );
    let red = count([255, 0, 0]);
    assert!(
        red >= 4 * 38 * 38,
        "{red} red pixels: the sample grids did not decode"
    );
    Ok(())
}
