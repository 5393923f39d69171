//! Raw-text IMDB sources: Stanford's `aclImdb/` folders and CSV files.
//!
//! - `aclImdb/{train,test}/{neg,pos}/<id>_<rating>.txt`: one review per file, label 0 for
//!   `neg` and 1 for `pos`. Reviews are read `neg` first, then `pos`, each folder in
//!   ascending `<id>` (file name for ties, and names without a numeric id last), so the
//!   order does not depend on the file system. Bytes that are not UTF-8 are replaced by
//!   U+FFFD. Other files (`urls_*.txt`, `*.feat`, `unsup/`) are ignored.
//! - CSV with a header row naming a `text` and a `label` column (matched case-insensitively;
//!   other columns are ignored). Labels are `0`/`1`, `neg`/`pos` or `negative`/`positive`
//!   (case-insensitive). Rows are kept in file order.

use crate::{Error, Result};
use std::path::Path;

/// Review texts with their 0/1 labels.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Labeled {
    pub(super) texts: Vec<String>,
    pub(super) labels: Vec<i64>,
}

/// `0`/`neg`/`negative` -> 0, `1`/`pos`/`positive` -> 1.
fn parse_label(s: &str) -> Option<i64> {
    let s = s.trim();
    if s == "0" || s.eq_ignore_ascii_case("neg") || s.eq_ignore_ascii_case("negative") {
        Some(0)
    } else if s == "1" || s.eq_ignore_ascii_case("pos") || s.eq_ignore_ascii_case("positive") {
        Some(1)
    } else {
        None
    }
}

/// Reads a CSV file with `text` and `label` columns.
pub(super) fn read_csv(path: &Path) -> Result<Labeled> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    read_csv_from(std::io::BufReader::new(file), path)
}

/// Like [`read_csv`] from any reader; `path` names the source in errors.
pub(super) fn read_csv_from<R: std::io::Read>(rdr: R, path: &Path) -> Result<Labeled> {
    let mut csv = csv::ReaderBuilder::new().has_headers(true).from_reader(rdr);
    let headers = csv
        .headers()
        .map_err(|e| Error::format(path, "header", e.to_string()))?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                Error::format(
                    path,
                    "header",
                    format!(
                        "no `{name}` column; found {:?}",
                        headers.iter().collect::<Vec<_>>()
                    ),
                )
            })
    };
    let text_col = column("text")?;
    let label_col = column("label")?;
    let mut out = Labeled::default();
    let mut record = csv::StringRecord::new();
    loop {
        let more = csv
            .read_record(&mut record)
            .map_err(|e| Error::format(path, "record", e.to_string()))?;
        if !more {
            break;
        }
        let line = record.position().map_or(0, csv::Position::line);
        let (Some(text), Some(label)) = (record.get(text_col), record.get(label_col)) else {
            return Err(Error::format(
                path,
                format!("line {line}"),
                "row lacks the text or label column",
            ));
        };
        let label = parse_label(label).ok_or_else(|| {
            Error::format(
                path,
                format!("line {line}: label"),
                format!("{label:?} is not 0/1, neg/pos or negative/positive"),
            )
        })?;
        out.texts.push(text.to_string());
        out.labels.push(label);
    }
    Ok(out)
}

/// The numeric `<id>` of `<id>_<rating>.txt`.
fn review_id(name: &str) -> Option<u64> {
    name.split('_').next().and_then(|id| id.parse().ok())
}

/// Reads `dir/<split>/{neg,pos}/*.txt`.
pub(super) fn read_acl_split(dir: &Path, split: &str) -> Result<Labeled> {
    let mut out = Labeled::default();
    for (label, class) in [(0, "neg"), (1, "pos")] {
        let folder = dir.join(split).join(class);
        let entries = std::fs::read_dir(&folder).map_err(|e| Error::io(&folder, e))?;
        let mut files: Vec<(Option<u64>, String)> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&folder, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".txt") && entry.path().is_file() {
                files.push((review_id(&name), name));
            }
        }
        // Numeric ids first in ascending order (None sorts after Some via the key below).
        files.sort_by(|a, b| (a.0.is_none(), a.0, &a.1).cmp(&(b.0.is_none(), b.0, &b.1)));
        for (_, name) in files {
            let path = folder.join(&name);
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            out.texts.push(String::from_utf8_lossy(&bytes).into_owned());
            out.labels.push(label);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn csv_columns_labels_and_quoting() {
        let data = "id,Label,text,extra\n7,pos,\"Great, \"\"really\"\" great\",x\n8,0,bad,y\n9,NEGATIVE,meh,z\n";
        let got = read_csv_from(data.as_bytes(), Path::new("t.csv")).unwrap();
        assert_eq!(got.texts, ["Great, \"really\" great", "bad", "meh"]);
        assert_eq!(got.labels, [1, 0, 0]);
    }

    #[test]
    fn csv_errors_name_file_and_line() {
        let e =
            read_csv_from("text,label\na,1\nb,maybe\n".as_bytes(), Path::new("t.csv")).unwrap_err();
        assert!(e.to_string().contains("t.csv: line 3: label"), "{e}");
        let e = read_csv_from("review,label\na,1\n".as_bytes(), Path::new("t.csv")).unwrap_err();
        assert!(e.to_string().contains("no `text` column"), "{e}");
        let e =
            read_csv_from("text,label\na,1,extra\n".as_bytes(), Path::new("t.csv")).unwrap_err();
        assert!(e.to_string().contains("t.csv: record"), "{e}");
        assert!(read_csv_from(&b"text,label\n\xff\xfe,1\n"[..], Path::new("t.csv")).is_err());
    }

    #[test]
    fn acl_order_is_sorted_by_id() {
        let dir = tempfile::tempdir().unwrap();
        for (class, files) in [
            ("neg", &["10_2.txt", "9_1.txt", "notes.md"][..]),
            ("pos", &["2_10.txt", "x_7.txt", "100_8.txt"][..]),
        ] {
            let folder = dir.path().join("train").join(class);
            std::fs::create_dir_all(&folder).unwrap();
            for f in files {
                std::fs::write(folder.join(f), format!("review {f}")).unwrap();
            }
        }
        let got = read_acl_split(dir.path(), "train").unwrap();
        assert_eq!(
            got.texts,
            [
                "review 9_1.txt",
                "review 10_2.txt",
                "review 2_10.txt",
                "review 100_8.txt",
                "review x_7.txt"
            ]
        );
        assert_eq!(got.labels, [0, 0, 1, 1, 1]);
        let e = read_acl_split(dir.path(), "test").unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
    }

    /// Arbitrary bytes, and mutations of a valid CSV, never panic the CSV reader.
    #[test]
    fn csv_reader_never_panics() {
        let strategy = (
            prop::collection::vec(any::<u8>(), 0..200),
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        );
        let ran = crate::imdb::npz::tests::run_cases(2000, strategy, |(random, flips)| {
            let _ = read_csv_from(random.as_slice(), Path::new("fuzz.csv"));
            let mut valid = b"text,label,x\n\"a, b\",pos,1\nc d,0,2\n".to_vec();
            for (idx, b) in &flips {
                let i = idx.index(valid.len());
                valid[i] ^= b;
            }
            let _ = read_csv_from(valid.as_slice(), Path::new("fuzz.csv"));
        });
        assert_eq!(ran, 2000);
    }
}
