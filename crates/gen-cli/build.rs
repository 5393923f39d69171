//! Build script: record the run path to libtorch in this crate's binaries, tests, examples and
//! doctests, so they start with no `LD_LIBRARY_PATH` (see gen-core's `build/libtorch_rpath.rs`).

#[path = "../gen-core/build/libtorch_rpath.rs"]
mod libtorch_rpath;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../gen-core/build/libtorch_rpath.rs");
    libtorch_rpath::emit();
}
