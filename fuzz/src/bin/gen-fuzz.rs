//! The libFuzzer driver for every target of `gen_fuzz::TARGETS`; `GEN_FUZZ_TARGET` picks one.
//! Run it through `cargo xtask fuzz`, which builds it with coverage instrumentation and passes
//! libFuzzer's options (corpus, `-runs`, `-timeout=1`, ...).
//!
//! Besides libFuzzer's own checks (a panic aborts, an input over the timeout is a hang), the
//! heap is capped at `gen_fuzz::MAX_HEAP`: an allocation past it aborts, and libFuzzer saves the
//! input. Each time the heap's high-water mark rises by 4 KiB or more, a line
//! `gen-fuzz: peak heap N bytes` reports it. A panic inside symphonia (which gen-data catches
//! and reports as an error) prints `gen-fuzz: caught symphonia panic at FILE:LINE` instead of
//! aborting.

#![no_main]
// `fuzz_target!` defines the `#[no_mangle]` entry point that libFuzzer calls.
#![allow(unsafe_code)]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

#[global_allocator]
static ALLOC: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, gen_fuzz::MAX_HEAP);

static TARGET: OnceLock<&'static gen_fuzz::Target> = OnceLock::new();
static REPORTED_PEAK: AtomicUsize = AtomicUsize::new(0);

fn target() -> &'static gen_fuzz::Target {
    TARGET.get_or_init(|| {
        let name = std::env::var(gen_fuzz::TARGET_ENV).unwrap_or_default();
        let Some(target) = gen_fuzz::target(&name) else {
            let names: Vec<&str> = gen_fuzz::TARGETS.iter().map(|t| t.name).collect();
            eprintln!(
                "gen-fuzz: set {}= one of {}",
                gen_fuzz::TARGET_ENV,
                names.join(", ")
            );
            std::process::exit(2);
        };
        // libFuzzer's hook (installed before the first input) aborts on every panic; keep
        // that, except for the symphonia panics that gen-data catches by design.
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            match info.location().filter(|l| l.file().contains("symphonia")) {
                Some(at) => eprintln!(
                    "gen-fuzz: caught symphonia panic at {}:{}",
                    at.file(),
                    at.line()
                ),
                None => abort(info),
            }
        }));
        eprintln!("gen-fuzz: target {} ({})", target.name, target.about);
        target
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let target = target();
    let _accepted = (target.run)(data);
    let peak = ALLOC.max_allocated();
    if peak >= REPORTED_PEAK.load(Ordering::Relaxed) + 4096 {
        REPORTED_PEAK.store(peak, Ordering::Relaxed);
        eprintln!("gen-fuzz: peak heap {peak} bytes");
    }
});
