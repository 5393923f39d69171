//! Tests of the IMDB loader: numpy-written npz and raw (aclImdb, CSV) sources checked against
//! Keras, option errors and serde, source discovery, word decoding.

use super::*;

/// `fixture.npz`, written by numpy 2.4.6:
/// ```python
/// xtr = [[1, 5, 2], [7, 8, 9, 10, 11, 12], [3], [20, 1, 1, 4], [6, 6], [13, 2, 25, 3, 1],
///        [4, 4, 4, 4, 4, 4, 4], [30]]
/// ytr = [1, 0, 0, 1, 1, 0, 1, 0]
/// xte = [[2, 3], [14, 15, 16, 17, 18], [1], [9, 9, 27], [5, 26, 1, 2], [11]]
/// yte = [0, 1, 1, 0, 1, 0]
/// def obj(ls):
///     a = np.empty(len(ls), dtype=object)
///     for i, l in enumerate(ls): a[i] = l
///     return a
/// np.savez("fixture.npz", x_train=obj(xtr), y_train=np.array(ytr, dtype=np.int64),
///          x_test=obj(xte), y_test=np.array(yte, dtype=np.int64))
/// open("fixture.npz", "rb").read().hex()
/// ```
const NUMPY_NPZ_HEX: &[&str] = &[
    "504b03042d00000000000000210089a74053ffffffffffffffff0b001400785f747261696e2e6e7079010010006d0100",
    "00000000006d01000000000000934e554d5059010076007b276465736372273a20277c4f272c2027666f727472616e5f",
    "6f72646572273a2046616c73652c20277368617065273a2028382c292c207d2020202020202020202020202020202020",
    "20202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a800495",
    "e2000000000000008c166e756d70792e5f636f72652e6d756c74696172726179948c0c5f7265636f6e73747275637494",
    "93948c056e756d7079948c076e6461727261799493944b0085944301629487945294284b014b08859468038c05647479",
    "70659493948c024f3894898887945294284b038c017c944e4e4e4affffffff4affffffff4b3f749462895d94285d9428",
    "4b014b054b02655d94284b074b084b094b0a4b0b4b0c655d944b03615d94284b144b014b014b04655d94284b064b0665",
    "5d94284b0d4b024b194b034b01655d94284b044b044b044b044b044b044b04655d944b1e61657494622e504b03042d00",
    "0000000000002100d2d913e8ffffffffffffffff0b001400795f747261696e2e6e707901001000c000000000000000c0",
    "00000000000000934e554d5059010076007b276465736372273a20273c6938272c2027666f727472616e5f6f72646572",
    "273a2046616c73652c20277368617065273a2028382c292c207d20202020202020202020202020202020202020202020",
    "20202020202020202020202020202020202020202020202020202020202020202020202020200a010000000000000000",
    "000000000000000000000000000000010000000000000001000000000000000000000000000000010000000000000000",
    "00000000000000504b03042d000000000000002100d08d8fa7ffffffffffffffff0a001400785f746573742e6e707901",
    "0010004b010000000000004b01000000000000934e554d5059010076007b276465736372273a20277c4f272c2027666f",
    "727472616e5f6f72646572273a2046616c73652c20277368617065273a2028362c292c207d2020202020202020202020",
    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020",
    "20200a800495c0000000000000008c166e756d70792e5f636f72652e6d756c74696172726179948c0c5f7265636f6e73",
    "74727563749493948c056e756d7079948c076e6461727261799493944b0085944301629487945294284b014b06859468",
    "038c0564747970659493948c024f3894898887945294284b038c017c944e4e4e4affffffff4affffffff4b3f74946289",
    "5d94285d94284b024b03655d94284b0e4b0f4b104b114b12655d944b01615d94284b094b094b1b655d94284b054b1a4b",
    "014b02655d944b0b61657494622e504b03042d00000000000000210095dc8e99ffffffffffffffff0a001400795f7465",
    "73742e6e707901001000b000000000000000b000000000000000934e554d5059010076007b276465736372273a20273c",
    "6938272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028362c292c207d202020",
    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020",
    "2020202020202020200a0000000000000000010000000000000001000000000000000000000000000000010000000000",
    "00000000000000000000504b01022d032d00000000000000210089a740536d0100006d0100000b000000000000000000",
    "0000800100000000785f747261696e2e6e7079504b01022d032d000000000000002100d2d913e8c0000000c00000000b",
    "00000000000000000000008001aa010000795f747261696e2e6e7079504b01022d032d000000000000002100d08d8fa7",
    "4b0100004b0100000a00000000000000000000008001a7020000785f746573742e6e7079504b01022d032d0000000000",
    "0000210095dc8e99b0000000b00000000a000000000000000000000080012e040000795f746573742e6e7079504b0506",
    "0000000004000400e20000001a0500000000",
];

fn numpy_npz() -> Vec<u8> {
    let hex: String = NUMPY_NPZ_HEX.concat();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn write_fixture(dir: &Path) -> ImdbSource {
    let npz = dir.join("imdb.npz");
    std::fs::write(&npz, numpy_npz()).unwrap();
    ImdbSource::Npz {
        npz,
        word_index: None,
    }
}

fn load(src: &ImdbSource, o: LoadOptions) -> ImdbData {
    load_data(src, &o).unwrap()
}

/// Expected values below come from a line-by-line transcription of Keras's
/// `load_data` (keras/src/datasets/imdb.py, after `np.load`) run with numpy 2.4.6 on
/// `fixture.npz`, e.g. `load()` for Keras `imdb.load_data()` defaults.
#[test]
fn numpy_written_npz_matches_keras_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let src = write_fixture(dir.path());
    // load() -> x_train [[1, 10, 11, 12, 13, 14, 15], [1, 23, 4, 4, 7],
    //   [1, 7, 7, 7, 7, 7, 7, 7], [1, 4, 8, 5], [1, 2], [1, 6], [1, 9, 9],
    //   [1, 16, 5, 28, 6, 4]]; y_train [0, 1, 1, 1, 0, 0, 1, 0]
    //   x_test [[1, 4], [1, 12, 12, 30], [1, 8, 29, 4, 5], [1, 17, 18, 19, 20, 21],
    //   [1, 5, 6], [1, 14]]; y_test [1, 0, 1, 1, 0, 0]
    // ([30] + 3 = 33 is the largest id, so num_words = 33 turns it into oov 2.)
    let d = load(&src, LoadOptions::default());
    assert_eq!(
        d.x_train,
        vec![
            vec![1, 10, 11, 12, 13, 14, 15],
            vec![1, 23, 4, 4, 7],
            vec![1, 7, 7, 7, 7, 7, 7, 7],
            vec![1, 4, 8, 5],
            vec![1, 2],
            vec![1, 6],
            vec![1, 9, 9],
            vec![1, 16, 5, 28, 6, 4]
        ]
    );
    assert_eq!(d.y_train, [0, 1, 1, 1, 0, 0, 1, 0]);
    assert_eq!(
        d.x_test,
        vec![
            vec![1, 4],
            vec![1, 12, 12, 30],
            vec![1, 8, 29, 4, 5],
            vec![1, 17, 18, 19, 20, 21],
            vec![1, 5, 6],
            vec![1, 14]
        ]
    );
    assert_eq!(d.y_test, [1, 0, 1, 1, 0, 0]);
    assert_eq!(d.word_index, None);
    // Keras's `if maxlen:` / `if not num_words:`: 0 means unset.
    let zero = load(
        &src,
        LoadOptions {
            maxlen: Some(0),
            num_words: Some(0),
            ..LoadOptions::default()
        },
    );
    assert_eq!(zero, d);
}

#[test]
fn numpy_written_npz_matches_keras_options() {
    let dir = tempfile::tempdir().unwrap();
    let src = write_fixture(dir.path());
    // load(num_words=10, skip_top=5)
    let d = load(
        &src,
        LoadOptions {
            num_words: Some(10),
            skip_top: 5,
            ..LoadOptions::default()
        },
    );
    assert_eq!(
        d.x_train,
        vec![
            vec![2, 2, 2, 2, 2, 2, 2],
            vec![2, 2, 2, 2, 7],
            vec![2, 7, 7, 7, 7, 7, 7, 7],
            vec![2, 2, 8, 5],
            vec![2, 2],
            vec![2, 6],
            vec![2, 9, 9],
            vec![2, 2, 5, 2, 6, 2]
        ]
    );
    assert_eq!(
        d.x_test,
        vec![
            vec![2, 2],
            vec![2, 2, 2, 2],
            vec![2, 8, 2, 2, 5],
            vec![2, 2, 2, 2, 2, 2],
            vec![2, 5, 6],
            vec![2, 2]
        ]
    );
    // load(maxlen=5): drops reviews with len >= 5, start char included.
    let d = load(
        &src,
        LoadOptions {
            maxlen: Some(5),
            ..LoadOptions::default()
        },
    );
    assert_eq!(
        d.x_train,
        vec![vec![1, 4, 8, 5], vec![1, 2], vec![1, 6], vec![1, 9, 9]]
    );
    assert_eq!(d.y_train, [1, 0, 0, 1]);
    assert_eq!(
        d.x_test,
        vec![vec![1, 4], vec![1, 12, 12, 30], vec![1, 5, 6], vec![1, 14]]
    );
    assert_eq!(d.y_test, [1, 0, 0, 0]);
    // load(start_char=None, oov_char=None, index_from=0, num_words=20, skip_top=3)
    let d = load(
        &src,
        LoadOptions {
            start_char: None,
            oov_char: None,
            index_from: 0,
            num_words: Some(20),
            skip_top: 3,
            ..LoadOptions::default()
        },
    );
    let want_train: Vec<Vec<i64>> = vec![
        vec![7, 8, 9, 10, 11, 12],
        vec![4],
        vec![4, 4, 4, 4, 4, 4, 4],
        vec![5],
        vec![],
        vec![3],
        vec![6, 6],
        vec![13, 3],
    ];
    assert_eq!(d.x_train, want_train);
    let want_test: Vec<Vec<i64>> = vec![
        vec![],
        vec![9, 9],
        vec![5],
        vec![14, 15, 16, 17, 18],
        vec![3],
        vec![11],
    ];
    assert_eq!(d.x_test, want_test);
    // load(seed=7, oov_char=None, num_words=12)
    let d = load(
        &src,
        LoadOptions {
            seed: 7,
            oov_char: None,
            num_words: Some(12),
            ..LoadOptions::default()
        },
    );
    assert_eq!(
        d.x_train,
        vec![
            vec![1, 6],
            vec![1, 5, 6, 4],
            vec![1, 4, 8, 5],
            vec![1, 7, 7, 7, 7, 7, 7, 7],
            vec![1, 4, 4, 7],
            vec![1, 10, 11],
            vec![1, 9, 9],
            vec![1]
        ]
    );
    assert_eq!(d.y_train, [0, 0, 1, 1, 1, 0, 1, 0]);
    assert_eq!(
        d.x_test,
        vec![
            vec![1, 8, 4, 5],
            vec![1],
            vec![1],
            vec![1, 4],
            vec![1],
            vec![1, 5, 6]
        ]
    );
    assert_eq!(d.y_test, [1, 0, 0, 1, 1, 0]);
}

#[test]
fn option_errors() {
    let dir = tempfile::tempdir().unwrap();
    let src = write_fixture(dir.path());
    // load(maxlen=2) raises ValueError in Keras: every review has >= 2 ids.
    let e = load_data(
        &src,
        &LoadOptions {
            maxlen: Some(2),
            ..LoadOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::InvalidArgument { name: "maxlen", .. }),
        "{e}"
    );
    let e = load_data(
        &src,
        &LoadOptions {
            seed: 1 << 32,
            ..LoadOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::InvalidArgument { name: "seed", .. }),
        "{e}"
    );
    let e = load_data(
        &src,
        &LoadOptions {
            index_from: i64::MAX,
            ..LoadOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidArgument {
                name: "index_from",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn options_serde() {
    let o: LoadOptions = serde_json::from_str(r#"{"num_words": 10000}"#).unwrap();
    assert_eq!(
        o,
        LoadOptions {
            num_words: Some(10000),
            ..LoadOptions::default()
        }
    );
    let o: LoadOptions = serde_json::from_str(r#"{"oov_char": null}"#).unwrap();
    assert_eq!(o.oov_char, None);
    assert!(serde_json::from_str::<LoadOptions>(r#"{"numwords": 1}"#).is_err());
}

const TRAIN: [(&str, i64); 4] = [
    ("This movie was bad. Really bad!<br /><br />Avoid.", 0),
    ("Boring plot, bad acting.", 0),
    ("A great movie. Great acting!", 1),
    ("Loved it: the best movie of the year.", 1),
];
const TEST: [(&str, i64); 3] = [
    ("Bad, bad movie; zebra.", 0),
    ("Great fun. The acting was great.", 1),
    ("Best.", 1),
];

fn write_acl(root: &Path) {
    for (split, rows) in [("train", &TRAIN[..]), ("test", &TEST[..])] {
        for (k, (text, label)) in rows.iter().enumerate() {
            let class = if *label == 1 { "pos" } else { "neg" };
            let folder = root.join("aclImdb").join(split).join(class);
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join(format!("{k}_{}.txt", 3 + 5 * label)), text).unwrap();
        }
    }
}

fn write_csv(path: &Path, rows: &[(&str, i64)]) {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(["label", "text", "source"]).unwrap();
    for (text, label) in rows {
        let l = if *label == 1 { "pos" } else { "neg" };
        w.write_record([l, text, "imdb"]).unwrap();
    }
    w.flush().unwrap();
}

/// Raw text goes through Keras's Tokenizer (fitted on train texts) then `load_data`.
/// Golden values from the Keras transcriptions in Python (numpy 2.4.6):
/// ```python
/// t = Tokenizer(); t.fit_on_texts([x for x, _ in TRAIN])
/// # word_index: movie 1, bad 2, br 3, acting 4, great 5, the 6, this 7, was 8, ...
/// xtr = t.texts_to_sequences(...); xte = t.texts_to_sequences(...)  # 'zebra' dropped
/// load(xtr, ytr, xte, yte)  # the load_data steps on these arrays
/// ```
#[test]
fn raw_sources_match_keras_tokenizer_then_load_data() {
    let dir = tempfile::tempdir().unwrap();
    write_acl(dir.path());
    let acl = ImdbSource::find(dir.path()).unwrap();
    assert_eq!(
        acl,
        ImdbSource::AclImdb {
            dir: dir.path().join("aclImdb")
        }
    );
    let d = load(&acl, LoadOptions::default());
    assert_eq!(
        d.x_train,
        vec![
            vec![1, 17, 18, 9, 19, 4, 20, 9, 2],
            vec![1, 16, 8, 4, 8, 7],
            vec![1, 10, 4, 11, 5, 12, 5, 6, 6, 13],
            vec![1, 14, 15, 5, 7]
        ]
    );
    assert_eq!(d.y_train, [1, 1, 0, 0]);
    assert_eq!(
        d.x_test,
        vec![vec![1, 8, 9, 7, 11, 8], vec![1, 5, 5, 4], vec![1, 19]]
    );
    assert_eq!(d.y_test, [1, 0, 1]);
    let wi = d.word_index.clone().unwrap();
    assert_eq!(
        (wi["movie"], wi["bad"], wi["br"], wi["year"]),
        (1, 2, 3, 18)
    );
    assert!(!wi.contains_key("zebra"));

    // load(..., num_words=8)
    let d8 = load(
        &acl,
        LoadOptions {
            num_words: Some(8),
            ..LoadOptions::default()
        },
    );
    assert_eq!(
        d8.x_train,
        vec![
            vec![1, 2, 2, 2, 2, 4, 2, 2, 2],
            vec![1, 2, 2, 4, 2, 7],
            vec![1, 2, 4, 2, 5, 2, 5, 6, 6, 2],
            vec![1, 2, 2, 5, 7]
        ]
    );
    assert_eq!(
        d8.x_test,
        vec![vec![1, 2, 2, 7, 2, 2], vec![1, 5, 5, 4], vec![1, 2]]
    );

    // The same reviews as CSV give the same data.
    let csv_dir = tempfile::tempdir().unwrap();
    write_csv(&csv_dir.path().join("train.csv"), &TRAIN);
    write_csv(&csv_dir.path().join("test.csv"), &TEST);
    let csv = ImdbSource::find(csv_dir.path()).unwrap();
    assert!(matches!(csv, ImdbSource::Csv { .. }));
    assert_eq!(load(&csv, LoadOptions::default()), d);

    // strip_html_breaks removes "br" from the vocabulary.
    let stripped = load(
        &acl,
        LoadOptions {
            strip_html_breaks: true,
            ..LoadOptions::default()
        },
    );
    assert!(!stripped.word_index.unwrap().contains_key("br"));
}

#[test]
fn find_prefers_npz_and_reports_missing() {
    let dir = tempfile::tempdir().unwrap();
    let e = ImdbSource::find(dir.path()).unwrap_err();
    assert!(e.to_string().contains("cargo xtask fetch-data imdb"), "{e}");
    write_acl(dir.path());
    write_csv(&dir.path().join("train.csv"), &TRAIN);
    write_csv(&dir.path().join("test.csv"), &TEST);
    assert!(matches!(
        ImdbSource::find(dir.path()).unwrap(),
        ImdbSource::Csv { .. }
    ));
    write_fixture(dir.path());
    std::fs::write(
        dir.path().join("imdb_word_index.json"),
        r#"{"the": 1, "a": 2}"#,
    )
    .unwrap();
    let src = ImdbSource::find(dir.path()).unwrap();
    assert_eq!(
        src,
        ImdbSource::Npz {
            npz: dir.path().join("imdb.npz"),
            word_index: Some(dir.path().join("imdb_word_index.json"))
        }
    );
    let d = load(&src, LoadOptions::default());
    assert_eq!(d.word_index.unwrap()["a"], 2);
}

#[test]
fn word_index_and_decode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wi.json");
    std::fs::write(&path, r#"{"the": 1, "and": 2, "film": 19}"#).unwrap();
    let wi = get_word_index(&path).unwrap();
    assert_eq!(wi.len(), 3);
    // " ".join(reverse_word_index.get(i - 3, "?") for i in [1, 4, 2, 22, 5, 0, 999])
    // -> "? the ? film and ? ?"
    assert_eq!(
        decode(&[1, 4, 2, 22, 5, 0, 999], &wi, 3),
        "? the ? film and ? ?"
    );
    assert_eq!(decode(&[i64::MIN], &wi, 3), "?");
    std::fs::write(&path, r#"{"the": "one"}"#).unwrap();
    let e = get_word_index(&path).unwrap_err();
    assert!(matches!(e, Error::Format { .. }), "{e}");
    assert!(matches!(
        get_word_index(&dir.path().join("none.json")).unwrap_err(),
        Error::Io { .. }
    ));
}

#[test]
fn corrupt_npz_is_a_format_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let npz = dir.path().join("imdb.npz");
    let mut bytes = numpy_npz();
    bytes.truncate(700);
    std::fs::write(&npz, bytes).unwrap();
    let e = load_data(
        &ImdbSource::Npz {
            npz: npz.clone(),
            word_index: None,
        },
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::Format { path, .. } if *path == npz),
        "{e}"
    );
}

/// 25,000 reviews of ~240 ids (IMDB's size) load quickly. Run with
/// `cargo test -p gen-data --release -- --ignored imdb_sized_load --nocapture`.
#[test]
#[ignore = "timing check; run in release"]
fn imdb_sized_load_is_fast() {
    let mut rng = crate::numpy_rng::RandomState::new(0);
    let mut make = |n: usize| -> (Vec<Vec<i64>>, Vec<i64>) {
        (0..n)
            .map(|_| {
                let len = 10 + rng.random_interval(460) as usize;
                let review = (0..len)
                    .map(|_| 1 + rng.random_interval(88_000) as i64)
                    .collect();
                (review, rng.random_interval(1) as i64)
            })
            .unzip()
    };
    let (xtr, ytr) = make(25_000);
    let (xte, yte) = make(25_000);
    let bytes = npz::tests::npz_bytes(&xtr, &ytr, &xte, &yte, true);
    let dir = tempfile::tempdir().unwrap();
    let npz = dir.path().join("imdb.npz");
    std::fs::write(&npz, &bytes).unwrap();
    let start = std::time::Instant::now();
    let d = load_data(
        &ImdbSource::Npz {
            npz,
            word_index: None,
        },
        &LoadOptions {
            num_words: Some(10_000),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "loaded {} + {} reviews in {secs:.3} s",
        d.x_train.len(),
        d.x_test.len()
    );
    assert_eq!(d.x_train.len(), 25_000);
    assert!(secs < 2.0, "{secs} s");
}
