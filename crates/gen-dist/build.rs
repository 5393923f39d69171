//! Build script: compiles `csrc/shim.cc`, the C shim over libtorch's c10d (TCP store, Gloo
//! process group), with the flags torch-sys uses for its own C++ (`-std=c++17
//! -D_GLIBCXX_USE_CXX11_ABI=1`) plus `-DUSE_C10D_GLOO`, against `$LIBTORCH/include` and the gloo
//! headers vendored under `vendor/` (see `vendor/README.md`). libtorch_cpu, which exports every
//! c10d symbol the shim calls, is linked by torch-sys. It also records the run path to libtorch
//! in this crate's tests and doctests (gen-core's `build/libtorch_rpath.rs`), so they start with
//! no `LD_LIBRARY_PATH`.

use std::path::{Path, PathBuf};

#[path = "../gen-core/build/libtorch_rpath.rs"]
mod libtorch_rpath;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../gen-core/build/libtorch_rpath.rs");
    libtorch_rpath::emit();
    println!("cargo:rerun-if-changed=csrc");
    println!("cargo:rerun-if-changed=vendor");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    if let Err(message) = build() {
        // A panic would print a backtrace hint; this is a plain message naming the fix.
        eprintln!("error: gen-dist: {message}");
        println!("cargo:warning=gen-dist: {message}");
        std::process::exit(1);
    }
}

fn build() -> Result<(), String> {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .ok_or("CARGO_MANIFEST_DIR is not set")?;
    let libtorch = std::env::var_os("LIBTORCH").map(PathBuf::from).ok_or(
        "LIBTORCH is not set: run `cargo xtask setup` (it links libtorch as .libtorch, which \
         .cargo/config.toml names), or set LIBTORCH to a libtorch 2.13.0",
    )?;
    let include = libtorch.join("include");
    require(
        &include.join("torch/csrc/distributed/c10d/ProcessGroupGloo.hpp"),
        "libtorch's c10d headers are missing: LIBTORCH must be a full libtorch 2.13.0 with \
         include/ (run `cargo xtask setup`)",
    )?;
    let gloo = manifest.join("vendor");
    require(
        &gloo.join("gloo/rendezvous/store.h"),
        "the vendored gloo headers are missing: restore crates/gen-dist/vendor from git \
         (`git checkout -- crates/gen-dist/vendor`)",
    )?;
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_owned());
    cc::Build::new()
        .cpp(true)
        .file(manifest.join("csrc/shim.cc"))
        .flag("-std=c++17")
        .define("_GLIBCXX_USE_CXX11_ABI", abi.as_str())
        .define("USE_C10D_GLOO", None)
        .define("GLOG_USE_GLOG_EXPORT", None)
        .include(&gloo)
        // libtorch's own headers warn under -Wall; -isystem keeps the shim's warnings visible.
        .flag(format!("-isystem{}", include.display()))
        .flag(format!(
            "-isystem{}",
            include.join("torch/csrc/api/include").display()
        ))
        .warnings(true)
        .try_compile("gen_dist_shim")
        .map_err(|err| format!("cannot compile csrc/shim.cc: {err}"))
}

fn require(path: &Path, message: &str) -> Result<(), String> {
    if path.exists() {
        Ok(())
    } else {
        Err(format!("{} not found; {message}", path.display()))
    }
}
