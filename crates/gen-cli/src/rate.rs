//! Human rating (`gen rate`): a blind A/B test of two runs in the terminal, and its summary.
//!
//! Each round draws one sample from each run with the same seed, shows them as `1` and `2` in
//! a random order (text inline; images as PNG paths, previewed inline in iTerm2 and kitty), and
//! records the rater's preference, or a 1-5 score for each, in a CSV file.

use crate::config::RunConfig;
use crate::{gan, lm, runs};
use anyhow::{Context, Result, bail};
use gen_data::splitmix::SplitMix64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// One rating, one line of `ratings.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    /// When it was given (RFC 3339, UTC).
    pub time: String,
    /// Run A's folder.
    pub run_a: String,
    /// Run B's folder.
    pub run_b: String,
    /// 1-based round.
    pub round: usize,
    /// Seed of both samples.
    pub seed: u64,
    /// Which run was shown as `1`: `a` or `b`.
    pub first: String,
    /// The preferred run: `a`, `b` or `tie` (empty in score mode).
    pub preference: String,
    /// Score of A, 1-5 (score mode).
    pub score_a: Option<u8>,
    /// Score of B, 1-5 (score mode).
    pub score_b: Option<u8>,
}

/// Settings of a rating session.
pub struct Session {
    /// Run A and run B.
    pub runs: [PathBuf; 2],
    /// Rounds.
    pub num: usize,
    /// Seed of the first round's samples (round `i` uses `seed + i`) and of the order.
    pub seed: u64,
    /// Ask for 1-5 scores instead of a preference.
    pub score: bool,
    /// The CSV file ratings are appended to.
    pub out: PathBuf,
}

/// A sample to show: text, or an image file.
enum Shown {
    Text(String),
    Image(PathBuf),
}

fn draw(config: &RunConfig, dir: &Path, seed: u64, image_path: &Path) -> Result<Shown> {
    let device = crate::runtime::setup(config)?;
    match config {
        RunConfig::LanguageModel(r) => {
            let opts = lm::GenerateOptions {
                num: Some(1),
                seed: Some(seed),
                ..Default::default()
            };
            let mut sink = Vec::new();
            let texts = lm::generate_text(r, dir, device, &opts, &mut sink)?;
            Ok(Shown::Text(texts.into_iter().next().unwrap_or_default()))
        }
        RunConfig::ImageGan(r) => {
            let opts = gan::SampleOptions {
                num: 16,
                class: None,
                seed,
                out: image_path.to_path_buf(),
            };
            gan::sample(r, dir, device, &opts)?;
            Ok(Shown::Image(image_path.to_path_buf()))
        }
        RunConfig::Trajectory(r) => {
            let opts = crate::trajectory::SampleOptions {
                num: 4,
                shape: None,
                seed,
                out: image_path.to_path_buf(),
            };
            crate::trajectory::sample(r, dir, device, &opts)?;
            Ok(Shown::Image(image_path.to_path_buf()))
        }
        RunConfig::Music(_) => bail!(
            "{} is a music run: listen to `gen sample`'s WAV files instead (rating is for text \
             and images)",
            dir.display()
        ),
        RunConfig::TextClassifier(_) => bail!(
            "{} is a text-classifier run: it makes no samples to rate",
            dir.display()
        ),
        RunConfig::SoundGan(_) => bail!(
            "{} is a sound-GAN run: rating sounds is not supported yet; listen to the WAVs of              `gen sample --run {}` (e.g. with `aplay` or `play`)",
            dir.display(),
            dir.display()
        ),
    }
}

/// Shows an image inline where the terminal has a protocol for it (iTerm2, kitty).
fn preview(path: &Path, out: &mut dyn Write) -> Result<()> {
    use base64::Engine as _;
    if !std::io::stdout().is_terminal() {
        return Ok(());
    }
    let iterm = std::env::var("TERM_PROGRAM").is_ok_and(|v| v == "iTerm.app")
        || std::env::var("LC_TERMINAL").is_ok_and(|v| v == "iTerm2");
    let kitty = std::env::var("TERM").is_ok_and(|v| v.contains("kitty"));
    if !(iterm || kitty) {
        return Ok(());
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let data = base64::engine::general_purpose::STANDARD.encode(&bytes);
    if iterm {
        writeln!(
            out,
            "\x1b]1337;File=inline=1;size={}:{data}\x07",
            bytes.len()
        )?;
    } else {
        // kitty's graphics protocol takes the payload in chunks of at most 4096 bytes.
        let chunks: Vec<&[u8]> = data.as_bytes().chunks(4096).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let more = u8::from(i + 1 < chunks.len());
            let head = if i == 0 { "a=T,f=100," } else { "" };
            write!(out, "\x1b_G{head}m={more};")?;
            out.write_all(chunk)?;
            write!(out, "\x1b\\")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Reads one answer; `None` at end of input or `q`.
fn ask(
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    question: &str,
    valid: &[&str],
) -> Result<Option<String>> {
    loop {
        write!(out, "{question} ")?;
        out.flush()?;
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let answer = line.trim().to_lowercase();
        if answer == "q" {
            return Ok(None);
        }
        if valid.contains(&answer.as_str()) {
            return Ok(Some(answer));
        }
        writeln!(
            out,
            "please answer one of {} (or q to stop)",
            valid.join(", ")
        )?;
    }
}

fn append(path: &Path, ratings: &[Rating]) -> Result<()> {
    let exists = path.is_file()
        && std::fs::metadata(path)
            .map(|m| m.len() > 0)
            .unwrap_or(false);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut w = csv::WriterBuilder::new()
        .has_headers(!exists)
        .from_writer(file);
    for r in ratings {
        w.serialize(r)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    w.flush()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Runs a blind A/B session on `input`/`out`; appends each answer to `session.out` as it is
/// given (so stopping early loses nothing). Returns the ratings of this session.
pub fn run(session: &Session, input: &mut dyn BufRead, out: &mut dyn Write) -> Result<Vec<Rating>> {
    let [a, b] = &session.runs;
    let configs = [runs::read_config(a)?, runs::read_config(b)?];
    if configs[0].kind() != configs[1].kind() {
        bail!(
            "{} is a {} run but {} is a {} run: rate runs of the same kind",
            a.display(),
            configs[0].kind(),
            b.display(),
            configs[1].kind()
        );
    }
    let image_dir = session
        .out
        .parent()
        .map_or_else(|| PathBuf::from("rate-images"), |p| p.join("rate-images"));
    let mut order = SplitMix64::new(session.seed ^ 0x05ee_d0f0_4de5);
    let mut done = Vec::new();
    writeln!(
        out,
        "blind A/B test: {} rounds; answer 1 or 2 (= for a tie), q to stop",
        session.num
    )?;
    for round in 1..=session.num {
        let seed = session.seed + round as u64 - 1;
        let a_first = order.below(2) == 0;
        let shown_order = if a_first { [0, 1] } else { [1, 0] };
        let mut shown = Vec::new();
        for (slot, &which) in shown_order.iter().enumerate() {
            let path = image_dir.join(format!("round-{round:03}-{}.png", slot + 1));
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            let (config, dir) = match which {
                0 => (&configs[0], a),
                _ => (&configs[1], b),
            };
            shown.push(draw(config, dir, seed, &path)?);
        }
        writeln!(out, "\n=== round {round}/{}", session.num)?;
        for (slot, s) in shown.iter().enumerate() {
            match s {
                Shown::Text(t) => writeln!(out, "--- {}:\n{t}", slot + 1)?,
                Shown::Image(p) => {
                    writeln!(out, "--- {}: {}", slot + 1, p.display())?;
                    preview(p, out)?;
                }
            }
        }
        let (preference, score_a, score_b) = if session.score {
            let scores = ["1", "2", "3", "4", "5"];
            let Some(s1) = ask(input, out, "score for 1 (1-5):", &scores)? else {
                break;
            };
            let Some(s2) = ask(input, out, "score for 2 (1-5):", &scores)? else {
                break;
            };
            let (s1, s2): (u8, u8) = (s1.parse()?, s2.parse()?);
            let (sa, sb) = if a_first { (s1, s2) } else { (s2, s1) };
            (String::new(), Some(sa), Some(sb))
        } else {
            let Some(choice) = ask(input, out, "which is better? [1/2/=]", &["1", "2", "="])?
            else {
                break;
            };
            let preferred = match (choice.as_str(), a_first) {
                ("=", _) => "tie",
                ("1", true) | ("2", false) => "a",
                _ => "b",
            };
            (preferred.to_string(), None, None)
        };
        let rating = Rating {
            time: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            run_a: a.display().to_string(),
            run_b: b.display().to_string(),
            round,
            seed,
            first: if a_first { "a" } else { "b" }.to_string(),
            preference,
            score_a,
            score_b,
        };
        append(&session.out, std::slice::from_ref(&rating))?;
        done.push(rating);
    }
    writeln!(
        out,
        "\n{} ratings appended to {}",
        done.len(),
        session.out.display()
    )?;
    Ok(done)
}

/// The Wilson score interval of `wins` successes in `n` trials at normal quantile `z`.
pub fn wilson(wins: usize, n: usize, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n_f = n as f64;
    let p = wins as f64 / n_f;
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let center = (p + z2 / (2.0 * n_f)) / denom;
    let half = z * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / denom;
    ((center - half).max(0.0), (center + half).min(1.0))
}

/// Per pair of runs: preference counts and rate of A with a 95% Wilson interval; mean scores.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PairSummary {
    /// Rounds where A was preferred.
    pub a: usize,
    /// Rounds where B was preferred.
    pub b: usize,
    /// Ties.
    pub ties: usize,
    /// `a / (a + b)`, ties left out.
    pub preference_a: Option<f64>,
    /// 95% Wilson interval of `preference_a`.
    pub interval: Option<(f64, f64)>,
    /// Mean score of A and of B with the half-width of a normal 95% interval.
    pub scores: Option<[(f64, f64); 2]>,
}

/// Reads `ratings.csv` and summarises it per (run A, run B).
pub fn summary(path: &Path) -> Result<BTreeMap<(String, String), PairSummary>> {
    let mut reader = csv::Reader::from_path(path)
        .with_context(|| format!("cannot read ratings file {}", path.display()))?;
    // Per pair: the counts, and the scores of A and of B.
    type Tally = (PairSummary, Vec<f64>, Vec<f64>);
    let mut pairs: BTreeMap<(String, String), Tally> = BTreeMap::new();
    for (line, row) in reader.deserialize::<Rating>().enumerate() {
        let r =
            row.with_context(|| format!("{}: bad rating on row {}", path.display(), line + 2))?;
        let entry = pairs.entry((r.run_a.clone(), r.run_b.clone())).or_default();
        match r.preference.as_str() {
            "a" => entry.0.a += 1,
            "b" => entry.0.b += 1,
            "tie" => entry.0.ties += 1,
            "" => {}
            other => bail!(
                "{}: row {}: preference `{other}` (expected a, b, tie or empty)",
                path.display(),
                line + 2
            ),
        }
        if let (Some(sa), Some(sb)) = (r.score_a, r.score_b) {
            entry.1.push(f64::from(sa));
            entry.2.push(f64::from(sb));
        }
    }
    let interval = |v: &[f64]| {
        let (m, s) = crate::study::mean_std(v);
        (m, 1.96 * s / (v.len() as f64).sqrt())
    };
    Ok(pairs
        .into_iter()
        .map(|(k, (mut s, sa, sb))| {
            let n = s.a + s.b;
            if n > 0 {
                s.preference_a = Some(s.a as f64 / n as f64);
                s.interval = Some(wilson(s.a, n, 1.96));
            }
            if !sa.is_empty() {
                s.scores = Some([interval(&sa), interval(&sb)]);
            }
            (k, s)
        })
        .collect())
}

/// Prints [`summary`].
pub fn print_summary(path: &Path, out: &mut dyn Write) -> Result<()> {
    let pairs = summary(path)?;
    if pairs.is_empty() {
        writeln!(out, "{}: no ratings yet", path.display())?;
    }
    for ((a, b), s) in pairs {
        writeln!(out, "A = {a}\nB = {b}")?;
        match (s.preference_a, s.interval) {
            (Some(p), Some((lo, hi))) => writeln!(
                out,
                "  preference for A: {:.1}% of {} decided rounds (95% CI {:.1}%-{:.1}%); \
                 A {}, B {}, ties {}",
                100.0 * p,
                s.a + s.b,
                100.0 * lo,
                100.0 * hi,
                s.a,
                s.b,
                s.ties
            )?,
            _ if s.ties > 0 => writeln!(out, "  {} ties, no decided round", s.ties)?,
            _ => {}
        }
        if let Some([(ma, ha), (mb, hb)]) = s.scores {
            writeln!(
                out,
                "  scores: A {ma:.2} ± {ha:.2}, B {mb:.2} ± {hb:.2} (95%)"
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_scipy() {
        // scipy 1.17: binomtest(7, 10).proportion_ci(confidence_level=0.95, method='wilson')
        // = ConfidenceInterval(low=0.39677814746114526, high=0.892208732593699)
        let (lo, hi) = wilson(7, 10, 1.959_963_984_540_054);
        assert!((lo - 0.396_778_147_461_145_26).abs() < 1e-12, "{lo}");
        assert!((hi - 0.892_208_732_593_699).abs() < 1e-12, "{hi}");
        // All wins: the upper end is 1 and the lower end below it.
        let (lo, hi) = wilson(5, 5, 1.96);
        assert!(lo < 1.0 && (hi - 1.0).abs() < 1e-12);
        assert_eq!(wilson(0, 0, 1.96), (0.0, 1.0));
    }

    #[test]
    fn summary_counts_preferences_and_scores() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ratings.csv");
        let row = |pref: &str, sa: Option<u8>, sb: Option<u8>| Rating {
            time: "2026-11-29T00:00:00Z".into(),
            run_a: "x".into(),
            run_b: "y".into(),
            round: 1,
            seed: 0,
            first: "a".into(),
            preference: pref.into(),
            score_a: sa,
            score_b: sb,
        };
        append(&path, &[row("a", None, None), row("b", None, None)]).unwrap();
        // A second session appends without a second header.
        append(&path, &[row("a", None, None), row("tie", None, None)]).unwrap();
        append(
            &path,
            &[row("", Some(4), Some(2)), row("", Some(2), Some(2))],
        )
        .unwrap();
        let s = &summary(&path).unwrap()[&("x".to_string(), "y".to_string())];
        assert_eq!((s.a, s.b, s.ties), (2, 1, 1));
        assert!((s.preference_a.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        let [(ma, _), (mb, hb)] = s.scores.unwrap();
        assert!((ma - 3.0).abs() < 1e-12 && (mb - 2.0).abs() < 1e-12 && hb.abs() < 1e-12);
        std::fs::write(&path, "garbage\n1,2\n").unwrap();
        assert!(summary(&path).is_err());
    }
}
