//! Tiny datasets in the registry layout (`GEN_DATA_DIR`), one per preset family, each written
//! into a temporary folder in well under a second: the end-to-end tests of the `gen` binary
//! share them (`tests/cli/` and `tests/common/mod.rs` at the workspace root include this
//! file by its path).

#![allow(dead_code)] // Each test binary uses its own part.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code may panic.

use std::f64::consts::TAU;

/// A tiny IMDB in the registry layout (`imdb/{train,test}.csv`): positive reviews use
/// positive words, negative ones negative words.
pub fn imdb() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let imdb = dir.path().join("imdb");
    std::fs::create_dir_all(&imdb).unwrap();
    let good = ["great", "wonderful", "superb", "loved", "brilliant"];
    let bad = ["awful", "boring", "terrible", "hated", "dull"];
    for (file, n) in [("train.csv", 48), ("test.csv", 16)] {
        let mut csv = String::from("text,label\n");
        for i in 0..n {
            let (words, label) = if i % 2 == 0 { (&good, 1) } else { (&bad, 0) };
            let review: Vec<&str> = (0..(3 + i % 5)).map(|k| words[(i + k) % 5]).collect();
            csv.push_str(&format!(
                "\"the movie was {}<br />really\",{label}\n",
                review.join(" ")
            ));
        }
        std::fs::write(imdb.join(file), csv).unwrap();
    }
    dir
}

/// A tiny Canterbury corpus: the four file names `text-char` reads, a few repeated lines each.
pub fn text() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("canterbury");
    std::fs::create_dir_all(&c).unwrap();
    let lines = [
        "Alice was beginning to get very tired of sitting by her sister.\n",
        "All the world's a stage, and all the men and women merely players.\n",
        "Of Man's first disobedience, and the fruit of that forbidden tree.\n",
        "The library holds the records of the nation and its people.\n",
    ];
    for (i, name) in ["alice29.txt", "asyoulik.txt", "lcet10.txt", "plrabn12.txt"]
        .iter()
        .enumerate()
    {
        std::fs::write(c.join(name), lines[i].repeat(12)).unwrap();
    }
    dir
}

/// A tiny MNIST-like dataset (`mnist/`), 8x8 bars in 28x28 images: the class is the bar's row.
pub fn images() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["mnist", "fashion-mnist"] {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        for (split, n) in [("train", 64), ("t10k", 40)] {
            let mut images = ndarray::Array3::<u8>::zeros((n, 28, 28));
            let mut labels = ndarray::Array1::<u8>::zeros(n);
            for i in 0..n {
                let class = i % 10;
                labels[i] = class as u8;
                for c in 4..24 {
                    images[[i, 2 + 2 * class, c]] = 255;
                    images[[i, 3 + 2 * class, c]] = 200;
                }
            }
            gen_data::idx::write_idx_images(d.join(format!("{split}-images-idx3-ubyte")), &images)
                .unwrap();
            gen_data::idx::write_idx_labels(d.join(format!("{split}-labels-idx1-ubyte")), &labels)
                .unwrap();
        }
    }
    dir
}

/// Four-part MusicXML in C major, one measure of 4/4 per chord, quarter notes: the chords
/// I, IV, V, vi, in the order that `variant` picks, so that every file has its own roll.
fn chorale_xml(variant: usize) -> String {
    // (soprano, alto, tenor, bass) as (step, octave) per chord.
    let chords = [
        [("E", 5), ("C", 5), ("G", 4), ("C", 3)],
        [("F", 5), ("C", 5), ("A", 4), ("F", 3)],
        [("D", 5), ("B", 4), ("G", 4), ("G", 2)],
        [("E", 5), ("C", 5), ("A", 4), ("A", 2)],
    ];
    let order: Vec<usize> = (0..6)
        .map(|m| (m * (1 + variant % 3) + variant) % 4)
        .collect();
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<score-partwise version=\"4.0\"><part-list>",
    );
    for p in 1..=4 {
        xml.push_str(&format!(
            "<score-part id=\"P{p}\"><part-name>V{p}</part-name></score-part>"
        ));
    }
    xml.push_str("</part-list>");
    #[allow(clippy::needless_range_loop)] // `p` picks a voice from each chord, not one array
    for p in 0..4 {
        xml.push_str(&format!("<part id=\"P{}\">", p + 1));
        for (m, &c) in order.iter().enumerate() {
            xml.push_str(&format!("<measure number=\"{}\">", m + 1));
            if m == 0 {
                xml.push_str(
                    "<attributes><divisions>1</divisions><key><fifths>0</fifths><mode>major</mode>\
                     </key><time><beats>4</beats><beat-type>4</beat-type></time></attributes>",
                );
            }
            let (step, octave) = chords[c][p];
            for _ in 0..4 {
                xml.push_str(&format!(
                    "<note><pitch><step>{step}</step><octave>{octave}</octave></pitch>\
                     <duration>1</duration><voice>1</voice><type>quarter</type></note>"
                ));
            }
            xml.push_str("</measure>");
        }
        xml.push_str("</part>");
    }
    xml.push_str("</score-partwise>\n");
    xml
}

/// A tiny `bach-chorales/` of `.mxl` archives: 6 train, 2 valid and 2 test chorales (file
/// names picked by gen's split rule).
pub fn music() -> tempfile::TempDir {
    use gen_data::music::{Split, split_of};
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("bach-chorales");
    std::fs::create_dir_all(&folder).unwrap();
    let mut want = [(Split::Train, 6), (Split::Valid, 2), (Split::Test, 2)];
    let mut variant = 0;
    for i in 0.. {
        let name = format!("bwv{i}.1.mxl");
        let Some(slot) = want
            .iter_mut()
            .find(|(s, n)| *s == split_of(&name) && *n > 0)
        else {
            if want.iter().all(|(_, n)| *n == 0) {
                break;
            }
            continue;
        };
        slot.1 -= 1;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        zip.start_file("META-INF/container.xml", opts).unwrap();
        zip.write_all(
            b"<?xml version=\"1.0\"?><container><rootfiles><rootfile full-path=\"score.xml\"/>\
              </rootfiles></container>",
        )
        .unwrap();
        zip.start_file("score.xml", opts).unwrap();
        zip.write_all(chorale_xml(variant).as_bytes()).unwrap();
        variant += 1;
        std::fs::write(folder.join(name), zip.finish().unwrap().into_inner()).unwrap();
    }
    dir
}

/// Sample `n` (of 8000) of one-shot `k` (0..6) of `class` (0 kick, 1 hat, 2 snare).
fn one_shot(class: usize, k: usize, n: usize, noise: &mut u64) -> f64 {
    let t = n as f64 / 16_000.0;
    let k = k as f64;
    match class {
        0 => (TAU * (60.0 + 10.0 * k + 100.0 * (-t * 30.0).exp()) * t).sin() * (-t * 8.0).exp(),
        1 => (TAU * (5000.0 + 300.0 * k) * t).sin() * (-t * 60.0).exp(),
        _ => {
            *noise = noise
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let white = ((*noise >> 33) as f64 / (1u64 << 31) as f64) - 1.0;
            (0.5 * (TAU * (180.0 + 20.0 * k) * t).sin() + 0.5 * white) * (-t * 20.0).exp()
        }
    }
}

/// A `drums/` kit (Hydrogen's layout) of 18 synthetic 16 kHz one-shots, six of each of three
/// classes: kicks (a falling sine), hats (a fast-decaying high chirp) and snares (a tone plus a
/// noise burst from a fixed LCG).
pub fn drums() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let kit = dir.path().join("drums").join("Synth Kit");
    std::fs::create_dir_all(&kit).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut instruments = String::new();
    let mut noise = 7u64;
    for (class, name) in [(0, "Kick"), (1, "Closed HH"), (2, "Snare")] {
        for k in 0..6 {
            let file = format!("{}{k}.wav", name.replace(' ', "_"));
            let mut w = hound::WavWriter::create(kit.join(&file), spec).unwrap();
            for n in 0..8000 {
                let s = 0.8 * one_shot(class, k, n, &mut noise);
                w.write_sample((s * 32767.0).round() as i16).unwrap();
            }
            w.finalize().unwrap();
            instruments.push_str(&format!(
                "<instrument><name>{name} {k}</name><layer><filename>{file}</filename></layer></instrument>\n"
            ));
        }
    }
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<drumkit_info xmlns="http://www.hydrogen-music.org/drumkit">
  <name>Synth Kit</name>
  <license>CC0</license>
  <instrumentList>
{instruments}  </instrumentList>
</drumkit_info>"#
    );
    std::fs::write(kit.join("drumkit.xml"), xml).unwrap();
    std::fs::write(kit.join("COPYRIGHT"), "CC0").unwrap();
    dir
}

/// MAT v5 (little-endian, uncompressed) elements, enough for LASA's layout.
mod mat {
    const MI_INT8: u32 = 1;
    const MI_INT32: u32 = 5;
    const MI_UINT32: u32 = 6;
    const MI_DOUBLE: u32 = 9;
    const MI_MATRIX: u32 = 14;
    const MX_CELL: u32 = 1;
    const MX_STRUCT: u32 = 2;
    const MX_DOUBLE: u32 = 6;

    /// A data element: type, byte count, data, padding to 8 bytes.
    fn element(ty: u32, data: &[u8]) -> Vec<u8> {
        let mut out = [ty.to_le_bytes(), (data.len() as u32).to_le_bytes()].concat();
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(8), 0);
        out
    }

    /// A miMATRIX of `class`: array flags, dimensions, name, then `body`.
    fn matrix(class: u32, dims: &[i32], name: &str, body: &[u8]) -> Vec<u8> {
        let mut data = element(MI_UINT32, &[class.to_le_bytes(), [0; 4]].concat());
        let dims: Vec<u8> = dims.iter().flat_map(|d| d.to_le_bytes()).collect();
        data.extend(element(MI_INT32, &dims));
        data.extend(element(MI_INT8, name.as_bytes()));
        data.extend_from_slice(body);
        element(MI_MATRIX, &data)
    }

    /// An unnamed `rows x cols` double array of `values` in column-major order.
    pub fn doubles(rows: usize, cols: usize, values: &[f64]) -> Vec<u8> {
        assert_eq!(values.len(), rows * cols);
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let body = element(MI_DOUBLE, &bytes);
        matrix(MX_DOUBLE, &[rows as i32, cols as i32], "", &body)
    }

    /// An unnamed 1x1 struct of `fields` (name, array).
    pub fn structure(fields: &[(&str, Vec<u8>)]) -> Vec<u8> {
        const SLOT: usize = 8;
        let mut body = [
            (4u32 << 16 | MI_INT32).to_le_bytes(),
            (SLOT as u32).to_le_bytes(),
        ]
        .concat();
        let names: Vec<u8> = fields
            .iter()
            .flat_map(|(name, _)| {
                let mut b = name.as_bytes().to_vec();
                b.resize(SLOT, 0);
                b
            })
            .collect();
        body.extend(element(MI_INT8, &names));
        for (_, array) in fields {
            body.extend_from_slice(array);
        }
        matrix(MX_STRUCT, &[1, 1], "", &body)
    }

    /// A file holding the `1 x n` cell array `name` of `cells`.
    pub fn file_with_cell(name: &str, cells: &[Vec<u8>]) -> Vec<u8> {
        let mut out = b"MATLAB 5.0 MAT-file, Platform: gen test fixture".to_vec();
        out.resize(116, b' ');
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&0x0100u16.to_le_bytes());
        out.extend_from_slice(b"IM");
        out.extend(matrix(
            MX_CELL,
            &[1, cells.len() as i32],
            name,
            &cells.concat(),
        ));
        out
    }
}

/// A tiny `lasa/` of two shapes in LASA's MAT layout (a `demos` cell array of structs with
/// `pos`, `t`, `vel`, `acc` as `2 x n` and the scalar `dt`): `Arc` (a half circle) and `Line`,
/// four demos of 40 points each, starting a little apart and slowing down to the target
/// `(0, 0)`.
pub fn lasa() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("lasa");
    std::fs::create_dir_all(&folder).unwrap();
    let n = 40;
    let ease = |i: usize| 1.0 - (1.0 - i as f64 / (n - 1) as f64).powi(2);
    // Point `i` of demo `k`.
    type Point<'a> = &'a dyn Fn(usize, usize) -> [f64; 2];
    let shapes: [(&str, Point<'_>); 2] = [
        ("Arc", &|k, i| {
            let (r, a) = (15.0 + k as f64, std::f64::consts::PI * ease(i));
            [r + r * a.cos(), r * a.sin()]
        }),
        ("Line", &|k, i| {
            let s = 1.0 - ease(i);
            [(-30.0 + k as f64) * s, (10.0 - 0.5 * k as f64) * s]
        }),
    ];
    for (name, point) in shapes {
        let demos: Vec<Vec<u8>> = (0..4)
            .map(|k| {
                let pos: Vec<f64> = (0..n).flat_map(|i| point(k, i)).collect();
                let t: Vec<f64> = (0..n).map(|i| i as f64 * 0.01).collect();
                mat::structure(&[
                    ("pos", mat::doubles(2, n, &pos)),
                    ("t", mat::doubles(1, n, &t)),
                    ("vel", mat::doubles(2, n, &vec![0.0; 2 * n])),
                    ("acc", mat::doubles(2, n, &vec![0.0; 2 * n])),
                    ("dt", mat::doubles(1, 1, &[0.01])),
                ])
            })
            .collect();
        std::fs::write(
            folder.join(format!("{name}.mat")),
            mat::file_with_cell("demos", &demos),
        )
        .unwrap();
    }
    dir
}

/// `--set` flags that make an `imdb-gru` run on [`imdb`] take a second.
pub const TINY_IMDB_GRU: &[&str] = &[
    "--set",
    "model.embedding_dim=8",
    "--set",
    "model.hidden_size=8",
    "--set",
    "trainer.batch_size=8",
];

/// `--set` flags that make a `bach-gru` run on [`music`] take a second: width 8, batches of 4.
pub const TINY_BACH_GRU: &[&str] = &[
    "--set",
    "model.hidden_size=8",
    "--set",
    "trainer.batch_size=4",
];

/// `--set` flags that make a `text-char` run on [`text`] take a second or two: widths 8 and 16,
/// 16-character windows, a fifth each for validation and test.
pub const TINY_CHAR_LM: &[&str] = &[
    "--set",
    "model.embedding_dim=8",
    "--set",
    "model.hidden_size=16",
    "--set",
    "data.seq_len=16",
    "--set",
    "data.valid_fraction=0.2",
    "--set",
    "data.test_fraction=0.2",
    "--set",
    "trainer.batch_size=8",
];

/// `--set` flags that make a DCGAN run (`mnist-dcgan`, `fashion-cgan`) on [`images`] take
/// seconds: width 4, a 20-image evaluation, a one-epoch evaluator.
pub const TINY_DCGAN: &[&str] = &[
    "--set",
    "model.dcgan.ngf=4",
    "--set",
    "model.dcgan.ndf=4",
    "--set",
    "trainer.batch_size=16",
    "--set",
    "data.valid=16",
    "--set",
    "eval.n=20",
    "--set",
    "eval.evaluator.min_steps=2",
    "--set",
    "eval.evaluator.epochs=1",
    "--set",
    "eval.evaluator.batch_size=16",
];
