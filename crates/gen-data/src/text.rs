//! Plain-text corpora for character-level language models.
//!
//! * [`read_text`] reads a UTF-8 file strictly: invalid UTF-8 is an [`Error::Format`] naming
//!   the file and the byte offset of the first bad byte.
//! * [`CharVocab`] maps characters to ids and back; it serialises (serde) so it can be saved
//!   beside a model.
//! * [`split_train_valid_test`] cuts a token sequence into contiguous parts.
//! * Loaders for the Canterbury corpus ([`load_canterbury`]) and the Debian fortune files
//!   ([`load_fortunes`]).
//!
//! Word-level vocabularies belong to [`crate::tokenizer`].

use crate::{Error, Result, paths};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The dataset name of the Canterbury corpus in the data folder.
pub const CANTERBURY: &str = "canterbury";
/// The English text files of the Canterbury corpus read by [`load_canterbury`], in order.
pub const CANTERBURY_FILES: [&str; 4] =
    ["alice29.txt", "asyoulik.txt", "lcet10.txt", "plrabn12.txt"];
/// The dataset name of the fortune files in the data folder.
pub const FORTUNES: &str = "fortunes";

/// Reads a UTF-8 text file. The text is returned verbatim (line endings and a byte-order mark
/// are kept). Invalid UTF-8 is an [`Error::Format`] with field `"utf-8"` giving the byte offset
/// of the first invalid byte.
pub fn read_text(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_utf8(bytes, path)
}

/// Decodes `bytes` as UTF-8 like [`read_text`]; `origin` names the source in errors.
pub fn decode_utf8(bytes: Vec<u8>, origin: &Path) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let bad = e
            .as_bytes()
            .get(offset)
            .map_or_else(String::new, |b| format!(" (byte 0x{b:02X})"));
        let what = if e.utf8_error().error_len().is_none() {
            "incomplete UTF-8 sequence at the end of the file"
        } else {
            "invalid UTF-8"
        };
        Error::format(
            origin,
            "utf-8",
            format!("{what} at byte offset {offset}{bad}"),
        )
    })
}

/// A character vocabulary: the sorted (by code point) unique characters of a text, character
/// `chars()[i]` having id `i`. Building is deterministic: the same characters always give the
/// same ids, whatever their order in the text.
///
/// There is no unknown-character id: [`CharVocab::encode`] rejects a character outside the
/// vocabulary and [`CharVocab::encode_lossy`] drops it.
///
/// Serialises as `{"chars": ["\n", " ", "a", ...]}`; deserialising checks the list is sorted
/// and unique.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CharVocabFile", into = "CharVocabFile")]
pub struct CharVocab {
    chars: Vec<char>,
}

/// The serialised form of a [`CharVocab`].
#[derive(Clone, Debug, Serialize, Deserialize)]
struct CharVocabFile {
    chars: Vec<char>,
}

impl TryFrom<CharVocabFile> for CharVocab {
    type Error = String;

    fn try_from(file: CharVocabFile) -> std::result::Result<Self, String> {
        match file.chars.windows(2).find(|pair| pair[0] >= pair[1]) {
            Some(pair) => Err(format!(
                "characters must be sorted and unique, found {:?} before {:?}",
                pair[0], pair[1]
            )),
            None => Ok(CharVocab { chars: file.chars }),
        }
    }
}

impl From<CharVocab> for CharVocabFile {
    fn from(vocab: CharVocab) -> Self {
        CharVocabFile { chars: vocab.chars }
    }
}

impl CharVocab {
    /// The vocabulary of the characters of `text`.
    pub fn from_text(text: &str) -> Self {
        Self::from_chars(text.chars())
    }

    /// The vocabulary of the characters of several texts.
    pub fn from_texts<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        Self::from_chars(texts.into_iter().flat_map(str::chars))
    }

    /// The vocabulary of `chars` (sorted and deduplicated).
    pub fn from_chars(chars: impl IntoIterator<Item = char>) -> Self {
        let set: std::collections::BTreeSet<char> = chars.into_iter().collect();
        Self {
            chars: set.into_iter().collect(),
        }
    }

    /// The number of characters.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The characters, in id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The id of `c`, if it is in the vocabulary.
    pub fn id(&self, c: char) -> Option<usize> {
        self.chars.binary_search(&c).ok()
    }

    /// The character of `id`, if in range.
    pub fn char_of(&self, id: usize) -> Option<char> {
        self.chars.get(id).copied()
    }

    /// The ids of the characters of `text`. Errors on the first character not in the
    /// vocabulary, naming it and its character position.
    pub fn encode(&self, text: &str) -> Result<Vec<usize>> {
        text.chars()
            .enumerate()
            .map(|(pos, c)| {
                self.id(c).ok_or_else(|| {
                    Error::invalid(
                        "text",
                        format!(
                            "character {c:?} (U+{:04X}) at position {pos} is not in the vocabulary",
                            u32::from(c)
                        ),
                    )
                })
            })
            .collect()
    }

    /// The ids of the characters of `text`, skipping characters not in the vocabulary.
    pub fn encode_lossy(&self, text: &str) -> Vec<usize> {
        text.chars().filter_map(|c| self.id(c)).collect()
    }

    /// The text of `ids`. Errors on the first id out of range.
    pub fn decode(&self, ids: &[usize]) -> Result<String> {
        ids.iter()
            .enumerate()
            .map(|(pos, &id)| {
                self.char_of(id).ok_or_else(|| {
                    Error::invalid(
                        "ids",
                        format!(
                            "id {id} at position {pos} is out of range of a vocabulary of {}",
                            self.len()
                        ),
                    )
                })
            })
            .collect()
    }

    /// Saves the vocabulary as JSON.
    pub fn save_json(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let json = serde_json::to_string(self)
            .map_err(|e| Error::format(path, "vocabulary", e.to_string()))?;
        std::fs::write(path, json).map_err(|e| Error::io(path, e))
    }

    /// Loads a vocabulary saved by [`CharVocab::save_json`].
    pub fn load_json(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = read_text(path)?;
        serde_json::from_str(&text).map_err(|e| Error::format(path, "vocabulary", e.to_string()))
    }
}

/// Cuts `items` into contiguous `(train, valid, test)` parts with the given fractions, in
/// order: train is the start, test the end. No shuffling, so text stays contiguous (as in
/// PyTorch's `word_language_model`, whose splits are separate files).
///
/// With `n = items.len()`, the cut points are `floor(n * f_train)` and
/// `floor(n * (f_train + f_valid))`; test takes the rest, so the parts always cover `items`.
/// Errors unless the fractions are finite, non-negative and sum to 1 (within 1e-9).
pub fn split_train_valid_test<T>(items: &[T], fractions: [f64; 3]) -> Result<(&[T], &[T], &[T])> {
    let [train, valid, test] = fractions;
    if fractions.iter().any(|f| !f.is_finite() || *f < 0.0)
        || (train + valid + test - 1.0).abs() > 1e-9
    {
        return Err(Error::invalid(
            "fractions",
            format!("{fractions:?} must be non-negative and sum to 1"),
        ));
    }
    let n = items.len();
    // The products lie in [0, n(1 + 1e-9)]; `min` keeps the cuts in range.
    let first = ((n as f64 * train).floor() as usize).min(n);
    let second = ((n as f64 * (train + valid)).floor() as usize).clamp(first, n);
    let (head, test_part) = items.split_at(second);
    let (train_part, valid_part) = head.split_at(first);
    Ok((train_part, valid_part, test_part))
}

/// One text file of a corpus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextFile {
    /// The file name, e.g. `alice29.txt`.
    pub name: String,
    /// The file's text.
    pub text: String,
}

/// Reads the Canterbury corpus's English texts ([`CANTERBURY_FILES`], in that order) from
/// `dir`. The files are ASCII, so they are read as strict UTF-8 ([`read_text`]).
pub fn load_canterbury_from(dir: impl AsRef<Path>) -> Result<Vec<TextFile>> {
    let dir = dir.as_ref();
    CANTERBURY_FILES
        .iter()
        .map(|name| {
            Ok(TextFile {
                name: (*name).to_string(),
                text: read_text(dir.join(name))?,
            })
        })
        .collect()
}

/// Reads the Canterbury corpus from the `canterbury` folder of the data folder
/// ([`paths::dataset_dir`]).
pub fn load_canterbury() -> Result<Vec<TextFile>> {
    load_canterbury_from(paths::dataset_dir(CANTERBURY)?)
}

/// Reads the fortunes of every fortune file in `dir`: every regular file (symbolic links are
/// followed) except `*.dat` (strfile indexes), `*.u8` and dotfiles, in sorted file-name order,
/// without descending into subfolders. Each file is strict UTF-8 and parsed by
/// [`parse_fortunes`]. Errors when there is no fortune file.
pub fn load_fortunes_from(dir: impl AsRef<Path>) -> Result<Vec<String>> {
    let dir = dir.as_ref();
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') || name.ends_with(".dat") || name.ends_with(".u8") {
            continue;
        }
        if std::fs::metadata(&path)
            .map_err(|e| Error::io(&path, e))?
            .is_file()
        {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(Error::format(
            dir,
            "files",
            "no fortune files (regular files other than *.dat, *.u8 and dotfiles)",
        ));
    }
    files.sort();
    let mut fortunes = Vec::new();
    for file in &files {
        fortunes.extend(parse_fortunes(&read_text(file)?));
    }
    Ok(fortunes)
}

/// Reads the fortunes from the `fortunes` folder of the data folder ([`paths::dataset_dir`]).
pub fn load_fortunes() -> Result<Vec<String>> {
    load_fortunes_from(paths::dataset_dir(FORTUNES)?)
}

/// Splits the text of a fortune file into fortunes: entries are separated by lines holding
/// only `%` (a trailing `\r` is ignored), each entry is trimmed of surrounding whitespace, and
/// empty entries are dropped.
pub fn parse_fortunes(text: &str) -> Vec<String> {
    let mut fortunes = Vec::new();
    let mut current = String::new();
    let mut flush = |current: &mut String| {
        let entry = current.trim();
        if !entry.is_empty() {
            fortunes.push(entry.to_string());
        }
        current.clear();
    };
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches('\n').trim_end_matches('\r');
        if bare == "%" {
            flush(&mut current);
        } else {
            current.push_str(line);
        }
    }
    flush(&mut current);
    fortunes
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn field_and_reason(err: &Error) -> (&str, &str) {
        match err {
            Error::Format { field, reason, .. } => (field, reason),
            other => panic!("expected a format error, got {other:?}"),
        }
    }

    #[test]
    fn invalid_utf8_names_file_and_byte_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latin1.txt");
        // "café" in Latin-1: the é is the single byte 0xE9 at offset 3 (and 0xE9 followed by
        // "!" is not a valid continuation).
        std::fs::write(&path, b"caf\xE9!").unwrap();
        let err = read_text(&path).unwrap_err();
        let (field, reason) = field_and_reason(&err);
        assert_eq!(field, "utf-8");
        assert!(
            reason.contains("byte offset 3") && reason.contains("0xE9"),
            "{reason}"
        );
        assert!(err.to_string().contains("latin1.txt"), "{err}");

        // Multi-byte characters before the bad byte count in bytes: "é" is 2 bytes.
        let err = decode_utf8(b"\xC3\xA9ab\xFFz".to_vec(), Path::new("x")).unwrap_err();
        assert!(field_and_reason(&err).1.contains("byte offset 4"), "{err}");
        // A sequence cut at the end of the file.
        let err = decode_utf8(b"ab\xE2\x82".to_vec(), Path::new("x")).unwrap_err();
        let reason = field_and_reason(&err).1;
        assert!(
            reason.contains("incomplete") && reason.contains("byte offset 2"),
            "{reason}"
        );

        assert_eq!(
            decode_utf8("naïve €".into(), Path::new("x")).unwrap(),
            "naïve €"
        );
    }

    #[test]
    fn vocab_is_sorted_unique_and_round_trips() {
        let vocab = CharVocab::from_text("hello world\n");
        assert_eq!(
            vocab.chars(),
            &['\n', ' ', 'd', 'e', 'h', 'l', 'o', 'r', 'w']
        );
        assert_eq!(vocab.encode("hold").unwrap(), [4, 6, 5, 2]);
        assert_eq!(vocab.decode(&[4, 6, 5, 2]).unwrap(), "hold");
        assert_eq!(vocab, CharVocab::from_texts(["world\n", "hello "]));

        let err = vocab.encode("help").unwrap_err();
        assert!(
            err.to_string().contains("'p'") && err.to_string().contains("position 3"),
            "{err}"
        );
        assert_eq!(vocab.encode_lossy("help"), [4, 3, 5]);
        assert!(vocab.decode(&[9]).is_err());
    }

    #[test]
    fn vocab_saves_and_loads_as_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vocab.json");
        let vocab = CharVocab::from_text("b\"a\n€");
        vocab.save_json(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            r#"{"chars":["\n","\"","a","b","€"]}"#
        );
        assert_eq!(CharVocab::load_json(&path).unwrap(), vocab);

        std::fs::write(&path, r#"{"chars":["b","a"]}"#).unwrap();
        let err = CharVocab::load_json(&path).unwrap_err();
        assert!(err.to_string().contains("sorted and unique"), "{err}");
        std::fs::write(&path, r#"{"chars":["a","a"]}"#).unwrap();
        assert!(CharVocab::load_json(&path).is_err());
    }

    #[test]
    fn splits_contiguously_with_floor_cuts() {
        let items: Vec<u32> = (0..10).collect();
        // floor(10 * 0.8) = 8, floor(10 * (0.8 + 0.1)) = 9.
        let (train, valid, test) = split_train_valid_test(&items, [0.8, 0.1, 0.1]).unwrap();
        assert_eq!(
            (train, valid, test),
            (&items[..8], &items[8..9], &items[9..])
        );
        // floor(7 * 0.5) = 3, floor(7 * 0.75) = 5.
        let (train, valid, test) = split_train_valid_test(&items[..7], [0.5, 0.25, 0.25]).unwrap();
        assert_eq!((train.len(), valid.len(), test.len()), (3, 2, 2));
        assert!(split_train_valid_test(&items, [0.5, 0.5, 0.5]).is_err());
        assert!(split_train_valid_test(&items, [1.2, -0.1, -0.1]).is_err());
        assert!(split_train_valid_test(&items, [f64::NAN, 0.5, 0.5]).is_err());
    }

    #[test]
    fn parses_fortunes() {
        let text = "First fortune.\n%\n  Second,\n  two lines.  \n%\n%\n\n%\r\nLast\r\n";
        assert_eq!(
            parse_fortunes(text),
            ["First fortune.", "Second,\n  two lines.", "Last"]
        );
        // A `%` inside a line is not a separator.
        assert_eq!(parse_fortunes("100% sure\n%%\n"), ["100% sure\n%%"]);
        assert!(parse_fortunes("%\n%\n").is_empty());
    }

    #[test]
    fn loads_fortune_files_in_sorted_order_skipping_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("zippy"), "Zippy one\n%\nZippy two\n").unwrap();
        std::fs::write(d.join("art"), "Art\n%\n").unwrap();
        std::fs::write(d.join("art.dat"), b"\x00\x00\x00\x02\xFF").unwrap();
        std::fs::write(d.join("art.u8"), "Duplicate\n").unwrap();
        std::fs::write(d.join(".hidden"), "Hidden\n").unwrap();
        std::fs::create_dir(d.join("off")).unwrap();
        std::fs::write(d.join("off").join("rude"), "Rude\n").unwrap();
        assert_eq!(
            load_fortunes_from(d).unwrap(),
            ["Art", "Zippy one", "Zippy two"]
        );

        std::fs::write(d.join("bad"), b"ok\n%\n\x80\n").unwrap();
        let err = load_fortunes_from(d).unwrap_err();
        assert!(
            err.to_string().contains("bad") && err.to_string().contains("byte offset 5"),
            "{err}"
        );

        let empty = tempfile::tempdir().unwrap();
        assert!(load_fortunes_from(empty.path()).is_err());
    }

    #[test]
    fn loads_the_canterbury_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in CANTERBURY_FILES {
            std::fs::write(dir.path().join(name), format!("text of {name}\n")).unwrap();
        }
        let files = load_canterbury_from(dir.path()).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, CANTERBURY_FILES);
        assert_eq!(files[2].text, "text of lcet10.txt\n");

        std::fs::remove_file(dir.path().join("plrabn12.txt")).unwrap();
        let err = load_canterbury_from(dir.path()).unwrap_err();
        assert!(matches!(err, Error::Io { .. }) && err.to_string().contains("plrabn12.txt"));
    }

    proptest! {
        #[test]
        fn vocab_round_trips_any_text(text in "\\PC*", other in "\\PC*") {
            let vocab = CharVocab::from_text(&text);
            let ids = vocab.encode(&text).unwrap();
            prop_assert_eq!(vocab.decode(&ids).unwrap(), text.clone());
            prop_assert!(ids.iter().all(|&id| id < vocab.len()));
            prop_assert!(vocab.chars().windows(2).all(|p| p[0] < p[1]));
            // Order of texts does not matter.
            let both = CharVocab::from_texts([text.as_str(), other.as_str()]);
            prop_assert_eq!(&both, &CharVocab::from_texts([other.as_str(), text.as_str()]));
            let json = serde_json::to_string(&both).unwrap();
            prop_assert_eq!(serde_json::from_str::<CharVocab>(&json).unwrap(), both);
        }

        #[test]
        fn utf8_errors_point_at_the_first_bad_byte(
            prefix in "\\PC{0,20}",
            bad in 0x80u8..=0xFF,
            suffix in proptest::collection::vec(0u8..0x80, 0..8),
        ) {
            // A byte >= 0x80 followed by ASCII (or the end) never forms a character, so the
            // first invalid byte is at prefix.len(), whatever the multi-byte prefix holds.
            let mut bytes = prefix.clone().into_bytes();
            bytes.push(bad);
            bytes.extend(&suffix);
            let err = decode_utf8(bytes, Path::new("p")).unwrap_err();
            let expected = format!("byte offset {}", prefix.len());
            prop_assert!(err.to_string().contains(&expected), "{} vs {}", err, expected);
        }

        #[test]
        fn split_parts_cover_items_in_order(
            n in 0usize..500,
            a in 0u32..=100,
            b in 0u32..=100,
        ) {
            let (a, b) = (a.min(b), a.max(b));
            let fractions = [f64::from(a) / 100.0, f64::from(b - a) / 100.0, f64::from(100 - b) / 100.0];
            let items: Vec<usize> = (0..n).collect();
            let (train, valid, test) = split_train_valid_test(&items, fractions).unwrap();
            let joined: Vec<usize> = train.iter().chain(valid).chain(test).copied().collect();
            prop_assert_eq!(&joined, &items);
            prop_assert_eq!(train.len(), (n as f64 * fractions[0]).floor() as usize);
        }
    }
}
