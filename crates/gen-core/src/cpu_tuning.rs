//! CPU tuning that is process or thread state rather than a device: flushing denormal floats
//! to zero (the SSE control register, MXCSR) and keeping freed memory in glibc's `malloc`.
//! Both are speed settings of `gen`'s runtime (`runtime.flush_denormals`,
//! `runtime.retain_memory`); neither changes results beyond denormals becoming zero.

/// MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6) flags.
#[cfg(target_arch = "x86_64")]
const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

/// Treats denormal floats as zero on the CPU (`torch.set_flush_denormal`), in the calling
/// thread and every thread it starts afterwards (Linux copies the SSE control register into new
/// threads, so call it before libtorch starts its worker pool, i.e. before the first tensor
/// operation). Returns whether the CPU supports it (x86-64 only).
///
/// Why: a GRU's gradients decay through `sigmoid` and `tanh` derivatives into the denormal range,
/// where x86 arithmetic is up to 100 times slower. TensorFlow flushes them by default;
/// libtorch does not. In PyTorch, `torch.set_flush_denormal(True)` cut the seed model's train
/// step from 3.1-5.9 s to 0.5-0.7 s here. Values below `f32::MIN_POSITIVE` (1.2e-38) become 0,
/// which changes results only where they were already negligible; runs stay deterministic.
pub fn set_flush_denormal(on: bool) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let csr = mxcsr::read();
        mxcsr::write(if on { csr | FTZ_DAZ } else { csr & !FTZ_DAZ });
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = on;
        false
    }
}

/// Whether denormals are flushed to zero in the calling thread.
pub fn flush_denormal() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        mxcsr::read() & FTZ_DAZ == FTZ_DAZ
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Makes glibc's `malloc` keep freed memory for reuse instead of returning it to the kernel
/// after each step: `M_TOP_PAD` 256 MiB, `M_TRIM_THRESHOLD` 1 GiB and `M_MMAP_THRESHOLD`
/// 32 MiB (its maximum), so that tensors up to 32 MiB come from the heap. Returns whether
/// every setting took (glibc on Linux only; elsewhere it does nothing and returns false).
///
/// Why: libtorch's CPU allocator is plain `malloc`. By default glibc gives large freed blocks
/// back and takes them again on the next step, and every page of them faults in anew, zeroed
/// by the kernel: a third of the seed model's train step was spent in page faults here, and
/// the step took 1.5 times as long. Peak memory is unchanged; memory freed after the peak
/// stays with the process.
pub fn retain_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const MIB: i32 = 1 << 20;
        [
            (libc::M_TOP_PAD, 256 * MIB),
            (libc::M_TRIM_THRESHOLD, 1024 * MIB),
            (libc::M_MMAP_THRESHOLD, 32 * MIB),
        ]
        .into_iter()
        .all(|(param, value)| malloc::set(param, value))
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// The one place gen changes glibc's allocator settings.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
mod malloc {
    pub(super) fn set(param: i32, value: i32) -> bool {
        // SAFETY: `mallopt` only adjusts glibc's allocator tunables; it takes plain integers,
        // is documented as callable at any time, and reports an invalid value by returning 0.
        unsafe { libc::mallopt(param, value) == 1 }
    }
}

/// The one place gen touches the SSE control register.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod mxcsr {
    pub(super) fn read() -> u32 {
        let mut value: u32 = 0;
        // SAFETY: `stmxcsr` stores the 32-bit MXCSR register into the given, valid and aligned
        // u32; it has no other effect. SSE is part of the x86-64 baseline.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut value, options(nostack, preserves_flags));
        }
        value
    }

    pub(super) fn write(value: u32) {
        // SAFETY: `ldmxcsr` loads MXCSR from a valid u32. Callers only toggle the FTZ and DAZ
        // bits of the value `read` returned, so reserved bits stay zero (no #GP) and the
        // rounding mode and exception masks are unchanged.
        unsafe {
            std::arch::asm!("ldmxcsr [{}]", in(reg) &value, options(nostack, preserves_flags, readonly));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_allocator_settings() {
        // mallopt rejects values out of its range (M_MMAP_THRESHOLD above 32 MiB, say) by
        // returning 0; every setting must take.
        assert!(retain_freed_memory());
        let t = tch::Tensor::ones([1 << 20], (tch::Kind::Float, tch::Device::Cpu));
        assert_eq!(
            t.sum(tch::Kind::Float).double_value(&[]),
            f64::from(1u32 << 20)
        );
    }

    #[test]
    fn flushing_zeroes_denormals_in_rust_and_libtorch_and_turns_off() {
        // Runs in its own thread: MXCSR is per thread.
        std::thread::spawn(|| {
            let tiny = black_box(1e-40_f32); // a denormal: below f32::MIN_POSITIVE
            assert!(tiny > 0.0 && tiny < f32::MIN_POSITIVE);
            if !set_flush_denormal(true) {
                return; // not x86-64
            }
            assert!(flush_denormal());
            assert_eq!(black_box(tiny) * black_box(1.0_f32), 0.0);
            let t = tch::Tensor::from_slice(&[tiny]) * 1.0;
            assert_eq!(t.double_value(&[0]), 0.0);
            // Normal numbers are untouched.
            assert_eq!(black_box(1e-30_f32) * black_box(1.0_f32), 1e-30);
            // A thread started now inherits the setting.
            let child = std::thread::spawn(|| black_box(1e-40_f32) * black_box(1.0_f32));
            assert_eq!(child.join().unwrap(), 0.0);
            set_flush_denormal(false);
            assert!(!flush_denormal());
            assert_eq!(black_box(tiny) * black_box(1.0_f32), tiny);
        })
        .join()
        .unwrap();
    }
}
