//! A few parallel jobs on libtorch's own OpenMP threads.
//!
//! Hand-written kernels that split work across threads (gen-models' GRU tape, gen-train's
//! fused Adam) used to spawn OS threads. On a machine with as many libtorch threads as cores,
//! a fresh thread waits for a CPU while libtorch's idle OpenMP workers spin after the last
//! parallel kernel: 0.1-4 ms from spawn to start were measured on 2 cores, per pass.
//! [`for_each`] hands the jobs to those very workers instead, through libgomp's
//! `GOMP_parallel` (the call a compiler emits for `#pragma omp parallel`), found at run time;
//! where it is not found (another OpenMP runtime, or none), it spawns scoped threads.
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! let sum = AtomicUsize::new(0);
//! gen_core::team::for_each(4, |i| {
//!     sum.fetch_add(i + 1, Ordering::Relaxed);
//! });
//! assert_eq!(sum.into_inner(), 10);
//! ```

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Runs `work(i)` once for every `i` in `0..jobs`, on up to libtorch's thread count
/// ([`tch::get_num_threads`]) threads, the calling one included, and returns when all are
/// done. Jobs are claimed in order by whichever thread is free. One job (or one thread) runs
/// inline.
///
/// Inside the jobs libtorch runs its kernels single-threaded (they are inside a parallel
/// region), and denormals are flushed as on the calling thread ([`crate::flush_denormal`]),
/// whatever the worker's own setting. A panic in a job is resumed on the calling thread after
/// every job has finished.
pub fn for_each<F>(jobs: usize, work: F)
where
    F: Fn(usize) + Sync,
{
    let threads = usize::try_from(tch::get_num_threads())
        .unwrap_or(1)
        .clamp(1, jobs.max(1));
    let queue = Queue {
        next: AtomicUsize::new(0),
        jobs,
        work: &work,
        flush_denormal: crate::flush_denormal(),
        panic: Mutex::new(None),
        panicked: AtomicBool::new(false),
    };
    if threads <= 1 {
        queue.drain();
    } else if !omp::parallel(&queue, threads) {
        std::thread::scope(|scope| {
            for _ in 1..threads {
                scope.spawn(|| queue.drain());
            }
            queue.drain();
        });
    }
    if queue.panicked.load(Ordering::Acquire) {
        let payload = queue.panic.lock().ok().and_then(|mut p| p.take());
        if let Some(payload) = payload {
            std::panic::resume_unwind(payload);
        }
    }
}

/// Runs `work` on every job of `jobs` as [`for_each`] does, and returns the results in the
/// jobs' order.
pub fn map<J, R, F>(jobs: Vec<J>, work: F) -> Vec<R>
where
    J: Send,
    R: Send,
    F: Fn(J) -> R + Sync,
{
    let slots: Vec<Mutex<Option<J>>> = jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
    let results: Vec<Mutex<Option<R>>> = slots.iter().map(|_| Mutex::new(None)).collect();
    for_each(slots.len(), |i| {
        let job = slots.get(i).and_then(|slot| slot.lock().ok()?.take());
        if let (Some(job), Some(Ok(mut out))) = (job, results.get(i).map(Mutex::lock)) {
            *out = Some(work(job));
        }
    });
    // Every job ran exactly once (a panic would have been resumed above).
    results
        .into_iter()
        .filter_map(|r| r.into_inner().ok().flatten())
        .collect()
}

/// The shared job counter of one [`for_each`] call.
struct Queue<'a> {
    next: AtomicUsize,
    jobs: usize,
    work: &'a (dyn Fn(usize) + Sync),
    /// The caller's denormal flushing, which the jobs run under.
    flush_denormal: bool,
    panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
    panicked: AtomicBool,
}

impl Queue<'_> {
    /// Claims and runs jobs until none is left; never unwinds (a panic is kept for the caller).
    fn drain(&self) {
        let own = crate::flush_denormal();
        if own != self.flush_denormal {
            crate::set_flush_denormal(self.flush_denormal);
        }
        self.run_jobs();
        if own != self.flush_denormal {
            crate::set_flush_denormal(own);
        }
    }

    fn run_jobs(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.jobs {
                return;
            }
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.work)(i)));
            if let Err(payload) = run {
                if let Ok(mut slot) = self.panic.lock() {
                    slot.get_or_insert(payload);
                }
                self.panicked.store(true, Ordering::Release);
            }
        }
    }
}

/// The one place gen calls into the OpenMP runtime.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
mod omp {
    use super::Queue;
    use std::ffi::{c_uint, c_void};
    use std::sync::OnceLock;

    /// `void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned
    /// flags)`: runs `fn(data)` on a team of `num_threads` (the caller is thread 0) and returns
    /// after the team's closing barrier.
    type GompParallel =
        unsafe extern "C" fn(extern "C" fn(*mut c_void), *mut c_void, c_uint, c_uint);

    fn gomp_parallel() -> Option<GompParallel> {
        static SYMBOL: OnceLock<Option<GompParallel>> = OnceLock::new();
        *SYMBOL.get_or_init(|| {
            // SAFETY: dlsym only looks a name up among the loaded objects; the name is a
            // NUL-terminated literal.
            let symbol = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"GOMP_parallel".as_ptr()) };
            if symbol.is_null() {
                return None;
            }
            // SAFETY: libgomp exports GOMP_parallel with exactly this C signature (its ABI
            // since GCC 4.9, which the compiler-generated calls rely on).
            Some(unsafe { std::mem::transmute::<*mut c_void, GompParallel>(symbol) })
        })
    }

    extern "C" fn trampoline(data: *mut c_void) {
        // SAFETY: `data` is the `&Queue` that `parallel` passed, alive until GOMP_parallel
        // returns, which is after every thread of the team has left this function. Queue is
        // Sync (atomics, a mutex and a `Sync` closure), so shared access from the team is sound.
        let queue = unsafe { &*data.cast::<Queue<'_>>() };
        queue.drain();
    }

    /// Drains `queue` on an OpenMP team of `threads`; false when libgomp is not loaded.
    pub(super) fn parallel(queue: &Queue<'_>, threads: usize) -> bool {
        let Some(gomp_parallel) = gomp_parallel() else {
            return false;
        };
        let threads = c_uint::try_from(threads).unwrap_or(c_uint::MAX);
        let data = std::ptr::from_ref(queue).cast_mut().cast::<c_void>();
        // SAFETY: `trampoline` never unwinds (drain catches panics) and only reads `data` as
        // the queue borrowed for this call; GOMP_parallel returns after all threads are done.
        unsafe { gomp_parallel(trampoline, data, threads, 0) };
        true
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod omp {
    pub(super) fn parallel(_queue: &super::Queue<'_>, _threads: usize) -> bool {
        false
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_job_runs_once_on_several_threads() {
        let before = tch::get_num_threads();
        tch::set_num_threads(2);
        let seen = Mutex::new(Vec::new());
        let threads = Mutex::new(HashSet::new());
        for_each(64, |i| {
            // Long enough for the second thread to claim some jobs.
            std::thread::sleep(std::time::Duration::from_micros(200));
            seen.lock().unwrap().push(i);
            threads.lock().unwrap().insert(std::thread::current().id());
        });
        tch::set_num_threads(before);
        let mut seen = seen.into_inner().unwrap();
        seen.sort_unstable();
        assert_eq!(seen, (0..64).collect::<Vec<_>>());
        assert_eq!(threads.into_inner().unwrap().len(), 2);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn libgomp_is_found_where_libtorch_uses_it() {
        // libtorch's CPU build links libgomp on Linux; the team path must be the one taken.
        let queue = Queue {
            next: AtomicUsize::new(0),
            jobs: 0,
            work: &|_| {},
            flush_denormal: false,
            panic: Mutex::new(None),
            panicked: AtomicBool::new(false),
        };
        assert!(omp::parallel(&queue, 2));
    }

    #[test]
    fn jobs_flush_denormals_as_the_caller_does() {
        if !cfg!(target_arch = "x86_64") {
            return;
        }
        // A fresh thread gets its own OpenMP team, started here with flushing off.
        std::thread::spawn(|| {
            let before = tch::get_num_threads();
            tch::set_num_threads(2);
            let seen = |on: bool| {
                crate::set_flush_denormal(on);
                let flags = map(vec![(); 4], |()| {
                    std::thread::sleep(std::time::Duration::from_micros(500));
                    crate::flush_denormal()
                });
                flags.iter().all(|&f| f == on)
            };
            let results = [seen(false), seen(true), seen(false)];
            tch::set_num_threads(before);
            assert_eq!(results, [true; 3]);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn map_keeps_the_jobs_order() {
        let jobs: Vec<(usize, Vec<u64>)> = (0..9).map(|i| (i, vec![i as u64; i])).collect();
        let got = map(jobs, |(i, v)| (i, v.iter().sum::<u64>()));
        let want: Vec<(usize, u64)> = (0..9).map(|i| (i, (i * i) as u64)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_panicking_job_reaches_the_caller_after_the_others() {
        let done = AtomicUsize::new(0);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for_each(8, |i| {
                if i == 3 {
                    panic!("job 3");
                }
                done.fetch_add(1, Ordering::Relaxed);
            })
        }));
        assert!(result.is_err());
        assert_eq!(done.into_inner(), 7);
    }
}
