//! The seed inputs of each target: the committed fixtures of gen-data (valid and hostile), and
//! real files from the data folder when they are there (small ones whole; from large ones a
//! real slice re-encoded: the first images of an IDX file, the first rows of a CSV).

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Real files larger than this are not used whole.
const MAX_REAL_FILE: u64 = 64 << 10;
/// At most this many real files per folder (the corpus grows from there).
const MAX_REAL_FILES: usize = 40;

/// Writes every target's seeds to `out/<target>/`, from the fixtures and from `data_dir`
/// (`GEN_DATA_DIR`'s layout; missing datasets are skipped). Returns the files per target.
pub fn write_all(out: &Path, data_dir: &Path) -> Result<BTreeMap<&'static str, Vec<PathBuf>>> {
    let mut seeds = Seeds {
        out: out.to_path_buf(),
        written: BTreeMap::new(),
    };
    let fixtures = crate::fixtures_dir();
    let hostile = fixtures.join("hostile");
    let ext = |dir: &Path, exts: &[&str]| files_with(dir, exts, usize::MAX, u64::MAX);

    // npz, npy, pickle: numpy-made npz files (valid and hostile) and what they hold.
    for path in ext(&hostile, &["npz"])? {
        let bytes = std::fs::read(&path)?;
        seeds.add("npz", &name_of(&path), &bytes)?;
        for (entry, npy) in npz_entries(&bytes) {
            let stem = format!("{}-{entry}", name_of(&path));
            seeds.add("npy", &stem, &npy)?;
            if let Some(payload) = object_payload(&npy) {
                seeds.add("pickle", &stem, payload)?;
            }
        }
    }

    // IDX: hostile headers, real label files, and the first 16 real images re-encoded.
    for path in files_with(&hostile, &[], usize::MAX, u64::MAX)?
        .into_iter()
        .filter(|p| name_of(p).starts_with("idx_"))
    {
        seeds.add("idx", &name_of(&path), &std::fs::read(&path)?)?;
    }
    let tiny = ndarray::Array3::from_shape_fn((2, 3, 3), |(i, j, k)| (i * 9 + j * 3 + k) as u8);
    let plain = gen_data::idx::encode_idx_images(&tiny)?;
    seeds.add("idx", "tiny-images", &plain)?;
    seeds.add("idx", "tiny-images.gz", &gzip(&plain)?)?;
    let labels = gen_data::idx::encode_idx_labels(&ndarray::arr1(&[3u8, 1, 4]))?;
    seeds.add("idx", "tiny-labels", &labels)?;
    for dataset in ["mnist", "fashion-mnist"] {
        let dir = data_dir.join(dataset);
        for path in files_with(&dir, &[], usize::MAX, u64::MAX)? {
            let name = format!("{dataset}-{}", name_of(&path));
            if name.contains("labels") {
                if let Ok(labels) = gen_data::idx::read_idx_labels(&path) {
                    let n = labels.len().min(64);
                    let head = labels.slice(ndarray::s![..n]).to_owned();
                    let plain = gen_data::idx::encode_idx_labels(&head)?;
                    seeds.add("idx", &format!("{name}-head"), &plain)?;
                    seeds.add("idx", &format!("{name}-head.gz"), &gzip(&plain)?)?;
                }
            } else if let Ok(images) = gen_data::idx::read_idx_images(&path) {
                let n = images.shape().first().copied().unwrap_or(0).min(16);
                let head = images.slice(ndarray::s![..n, .., ..]).to_owned();
                let plain = gen_data::idx::encode_idx_images(&head)?;
                seeds.add("idx", &format!("{name}-head"), &plain)?;
                seeds.add("idx", &format!("{name}-head.gz"), &gzip(&plain)?)?;
            }
        }
    }

    // CSV: a small one, and the first rows of the real reviews.
    seeds.add(
        "imdb-csv",
        "small.csv",
        b"text,label\n\"A fine, \"\"quiet\"\" film.\",1\nDull.,neg\n",
    )?;
    for split in ["train.csv", "test.csv"] {
        let path = data_dir.join("imdb").join(split);
        if let Some(head) = csv_head(&path, 20)? {
            seeds.add("imdb-csv", &format!("real-{split}"), &head)?;
        }
    }

    // MAT: scipy-made fixtures (LASA-like, plain and compressed, and rejected kinds).
    for path in ext(&fixtures.join("mat"), &["mat"])?
        .into_iter()
        .chain(ext(&hostile, &["mat"])?)
    {
        seeds.add("mat", &name_of(&path), &std::fs::read(&path)?)?;
    }

    // MusicXML: fixtures, hostile .mxl, real chorales.
    for path in ext(&fixtures.join("music"), &["musicxml"])?
        .into_iter()
        .chain(ext(&hostile, &["mxl"])?)
        .chain(files_with(
            &data_dir.join("bach-chorales"),
            &["mxl"],
            MAX_REAL_FILES,
            MAX_REAL_FILE,
        )?)
    {
        seeds.add("musicxml", &name_of(&path), &std::fs::read(&path)?)?;
    }

    // Audio: the decoder fixtures and real drum samples.
    let audio = ["wav", "flac", "aif", "aiff"];
    let mut real_audio = Vec::new();
    let mut kits = Vec::new();
    for kit in dirs_in(&data_dir.join("drums"))? {
        real_audio.extend(files_with(&kit, &audio, 4, MAX_REAL_FILE)?);
        kits.extend(files_with(&kit, &["xml"], usize::MAX, MAX_REAL_FILE)?);
    }
    for path in ext(&fixtures.join("drums"), &audio)?
        .into_iter()
        .chain(real_audio.into_iter().take(MAX_REAL_FILES))
    {
        seeds.add("audio", &name_of(&path), &std::fs::read(&path)?)?;
    }

    // drumkit.xml: a small one and the real kits'.
    seeds.add(
        "drumkit-xml",
        "small.xml",
        b"<drumkit_info><name>K</name><instrumentList><instrument><name>Kick</name>\
          <layer><filename>k.wav</filename></layer></instrument></instrumentList></drumkit_info>",
    )?;
    for path in kits {
        let kit = path
            .parent()
            .map(|p| name_of(p).replace(' ', "_"))
            .unwrap_or_default();
        seeds.add("drumkit-xml", &kit, &std::fs::read(&path)?)?;
    }

    // TOML: a typed config, the presets, and the datasets manifest.
    seeds.add(
        "toml-config",
        "load-options.toml",
        b"num_words = 10000\nskip_top = 0\nmaxlen = 200\nseed = 113\nstart_char = 1\n\
          oov_char = 2\nindex_from = 3\nstrip_html_breaks = false\n",
    )?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for path in ext(&root.join("crates/gen-cli/src/presets"), &["toml"])?
        .into_iter()
        .chain(files_with(&root.join("datasets"), &["toml"], 1, u64::MAX)?)
    {
        seeds.add("toml-config", &name_of(&path), &std::fs::read(&path)?)?;
    }

    // safetensors: files as tch writes them (little-endian data, header padded with spaces).
    seeds.add(
        "safetensors-header",
        "two.safetensors",
        &safetensors_file(true),
    )?;
    seeds.add(
        "safetensors-header",
        "one.safetensors",
        &safetensors_file(false),
    )?;
    // checkpoint pairs as gen-train writes them: with the file record, and the older
    // `[step, state]` form that is checked by its step alone.
    for (name, with_record) in [("pair.ckpt", true), ("older-pair.ckpt", false)] {
        seeds.add("checkpoint", name, &checkpoint_pair(with_record)?)?;
    }
    Ok(seeds.written)
}

struct Seeds {
    out: PathBuf,
    written: BTreeMap<&'static str, Vec<PathBuf>>,
}

impl Seeds {
    fn add(&mut self, target: &str, name: &str, bytes: &[u8]) -> Result<()> {
        let target = crate::target(target)
            .with_context(|| format!("no target {target}"))?
            .name;
        let dir = self.out.join(target);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        self.written.entry(target).or_default().push(path);
        Ok(())
    }
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Up to `max` plain files of `dir` (not recursive) ending in one of `exts` (any when empty,
/// case-insensitive), at most `max_len` bytes each, sorted by name. A missing folder has none.
fn files_with(dir: &Path, exts: &[&str], max: usize, max_len: u64) -> Result<Vec<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| e.metadata().is_ok_and(|m| m.len() <= max_len))
        .map(|e| e.path())
        .filter(|p| {
            exts.is_empty()
                || p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| exts.iter().any(|x| x.eq_ignore_ascii_case(e)))
        })
        .collect();
    files.sort();
    files.truncate(max);
    Ok(files)
}

fn dirs_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// The entries of a zip (at most 1 MiB each, as declared and as read); unreadable ones skipped.
fn npz_entries(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let Ok(mut zip) = zip::ZipArchive::new(std::io::Cursor::new(bytes)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let Ok(file) = zip.by_index(i) else { continue };
        if file.size() > 1 << 20 {
            continue;
        }
        let name = file.name().replace('/', "_");
        let mut data = Vec::new();
        if file.take(1 << 20).read_to_end(&mut data).is_ok() {
            out.push((name, data));
        }
    }
    out
}

/// The pickle after the header of a version-1 object `.npy`.
fn object_payload(npy: &[u8]) -> Option<&[u8]> {
    let len = usize::from(u16::from_le_bytes(*npy.get(8..10)?.first_chunk::<2>()?));
    let header = npy.get(10..10 + len)?;
    header
        .windows(4)
        .any(|w| w == b"'|O'")
        .then(|| npy.get(10 + len..))
        .flatten()
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes)?;
    Ok(enc.finish()?)
}

/// The header and first `rows` records of the CSV at `path`, if it is there.
fn csv_head(path: &Path, rows: usize) -> Result<Option<Vec<u8>>> {
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(None);
    };
    let mut head = Vec::new();
    file.take(1 << 20).read_to_end(&mut head)?;
    let mut reader = csv::Reader::from_reader(head.as_slice());
    let mut end = None;
    for record in reader.records().take(rows + 1) {
        let record = record?;
        end = record.position().map(|p| p.byte());
    }
    let end = usize::try_from(end.unwrap_or(0))
        .unwrap_or(0)
        .min(head.len());
    head.truncate(end);
    Ok(Some(head))
}

/// A checkpoint's JSON state, a NUL byte and its safetensors file (see
/// `gen_data::fuzzing::checkpoint`): step 3, a trainer-like state, two weights and the step entry.
fn checkpoint_pair(with_record: bool) -> Result<Vec<u8>> {
    use gen_data::checkpoint_record::{FileRecord, STEP_KEY};
    use safetensors::{Dtype, tensor::TensorView};
    let step: u64 = 3;
    let weights: Vec<u8> = [0.5f32, -1.0, 2.0, 0.25]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let step_bytes = (step as i64).to_le_bytes();
    let views = [
        ("g.w", TensorView::new(Dtype::F32, vec![2, 2], &weights)?),
        (STEP_KEY, TensorView::new(Dtype::I64, vec![1], &step_bytes)?),
    ];
    let tensors = safetensors::serialize(views, &None)?;
    let state = serde_json::json!({
        "epoch": 1, "batches_done": 3, "rng": [1, 2, 3, 4],
        "monitor": {"best": 0.75, "since_best": 0}, "lr": 0.0002
    });
    let mut out = if with_record {
        let record = FileRecord::of(&tensors, &serde_json::json!([step, state]));
        serde_json::to_vec_pretty(&(step, &state, record))?
    } else {
        serde_json::to_vec(&(step, &state))?
    };
    out.push(0);
    out.extend_from_slice(&tensors);
    Ok(out)
}

/// A safetensors file of one or two little f32 tensors, with metadata.
fn safetensors_file(two: bool) -> Vec<u8> {
    let mut header = String::from(
        r#"{"__metadata__":{"step":"3"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}"#,
    );
    if two {
        header.push_str(r#","b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}"#);
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    let floats: &[f32] = if two {
        &[1.0, -2.0, 0.5, 3.0, 0.25, -1.0]
    } else {
        &[1.0, -2.0, 0.5, 3.0]
    };
    for v in floats {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}
