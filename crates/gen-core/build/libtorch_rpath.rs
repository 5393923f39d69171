//! The run path to libtorch, for the build scripts of every gen crate whose binaries, tests,
//! examples or doctests link libtorch (gen-core, gen-models, gen-train, gen-cli): each includes
//! this file with `#[path]` and calls [`emit`].
//!
//! torch-sys links libtorch but records no run path, so without one a test binary, a doctest,
//! a binary built into a custom `CARGO_TARGET_DIR` or an installed `gen` dies at start with
//! `libtorch_cpu.so: cannot open shared object file`. `cargo:rustc-link-arg` reaches only the
//! package's own targets (doctests included), hence one small build script per crate.
//!
//! The folder is `LIBTORCH_LIB` when set (torch-sys reads it too), else `$LIBTORCH/lib`.
//! `.cargo/config.toml` sets `LIBTORCH` to the project's `.libtorch` link; the path is
//! resolved through it, so binaries record the per-user cache of `cargo xtask setup`
//! (`~/.cache/gen/libtorch-*/torch/lib`) and keep working when copied, installed, or when the
//! clone is gone. The run path comes after `LD_LIBRARY_PATH`, which can still override it.

use std::path::PathBuf;

/// Prints the `cargo:` lines that give the package's linked targets the run path.
pub fn emit() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_LIB");
    if std::env::var("CARGO_CFG_TARGET_FAMILY").as_deref() != Ok("unix") {
        return;
    }
    let lib = match (
        std::env::var_os("LIBTORCH_LIB"),
        std::env::var_os("LIBTORCH"),
    ) {
        (Some(lib), _) => PathBuf::from(lib),
        (None, Some(root)) => PathBuf::from(root).join("lib"),
        // No libtorch named (e.g. LIBTORCH_USE_PYTORCH=1): the loader path is the user's to set.
        (None, None) => return,
    };
    let lib = lib.canonicalize().unwrap_or(lib);
    let lib = lib.display().to_string();
    if lib.contains(',') {
        // The linker would split `-Wl,` arguments at the comma.
        println!("cargo:warning=libtorch folder {lib} holds a comma: no run path recorded");
        return;
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
}
