//! Device selection, libtorch thread pools and seeding. The CPU speed settings (denormals,
//! allocator) are in [`crate::cpu_tuning`].

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

/// Which device to run on, as written in configs and on the command line.
///
/// Text form (serde and [`FromStr`], case-insensitive): `"cpu"`, `"cuda"` (= `"cuda:0"`),
/// `"cuda:N"` or `"auto"`. [`Display`](fmt::Display) writes `cpu`, `cuda:N` or `auto`.
///
/// Default: [`DeviceChoice::Cpu`], so that a run is reproducible bit for bit unless a GPU is
/// asked for explicitly (CUDA kernels are not bit-deterministic in general).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceChoice {
    /// The CPU.
    #[default]
    Cpu,
    /// The CUDA device with this index; an error at [`resolve`](Self::resolve) time if absent.
    Cuda(usize),
    /// CUDA device 0 when libtorch sees one, else the CPU.
    Auto,
}

impl DeviceChoice {
    /// Turns the choice into a concrete [`tch::Device`].
    ///
    /// `Cuda(i)` fails with [`Error::CudaUnavailable`] when libtorch reports fewer than `i + 1`
    /// CUDA devices. Note that libtorch only sees CUDA when the final binary links
    /// `libtorch_cuda` (build with `--features gen-core/cuda` against a CUDA libtorch).
    pub fn resolve(&self) -> Result<tch::Device> {
        match *self {
            DeviceChoice::Cpu => Ok(tch::Device::Cpu),
            DeviceChoice::Auto => {
                let device = tch::Device::cuda_if_available();
                tracing::debug!(?device, "device `auto` resolved");
                Ok(device)
            }
            DeviceChoice::Cuda(index) => {
                let available = if tch::Cuda::is_available() {
                    tch::Cuda::device_count()
                } else {
                    0
                };
                match i64::try_from(index) {
                    Ok(i) if i < available => Ok(tch::Device::Cuda(index)),
                    _ => Err(Error::CudaUnavailable {
                        requested: self.to_string(),
                        available,
                    }),
                }
            }
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(i) => write!(f, "cuda:{i}"),
            DeviceChoice::Auto => f.write_str("auto"),
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        let bad = || Error::ParseDevice {
            input: s.to_string(),
        };
        match lower.as_str() {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            "auto" => Ok(DeviceChoice::Auto),
            other => {
                let index = other.strip_prefix("cuda:").ok_or_else(bad)?;
                // `usize::from_str` accepts a leading `+`; a device index should be plain digits.
                if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                index.parse().map(DeviceChoice::Cuda).map_err(|_| bad())
            }
        }
    }
}

impl TryFrom<String> for DeviceChoice {
    type Error = Error;

    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<DeviceChoice> for String {
    fn from(d: DeviceChoice) -> String {
        d.to_string()
    }
}

/// Sizes of libtorch's CPU thread pools, as written in configs.
///
/// Default: both `None`, which leaves libtorch's own defaults (intra-op: the number of physical
/// cores, or `OMP_NUM_THREADS`/`MKL_NUM_THREADS` when set; inter-op: the same count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Threads {
    /// Threads used inside one op (matrix multiply, reductions). Default `None`.
    pub intra_op: Option<usize>,
    /// Threads used to run independent ops concurrently. Default `None`.
    pub inter_op: Option<usize>,
}

impl Threads {
    /// Applies both settings; see [`set_threads`] and [`set_interop_threads`].
    pub fn apply(&self) -> Result<()> {
        set_threads(self.intra_op)?;
        set_interop_threads(self.inter_op)
    }
}

fn thread_count(name: &'static str, n: usize) -> Result<i32> {
    if n == 0 {
        return Err(Error::invalid(name, "must be at least 1"));
    }
    i32::try_from(n).map_err(|_| Error::invalid(name, format!("{n} is too large")))
}

/// Sets the number of intra-op threads libtorch uses (`torch.set_num_threads`).
///
/// `None` leaves the current setting (libtorch's default unless changed). Can be called any
/// number of times. `Some(0)` is an [`Error::InvalidArgument`].
///
/// CPU results are bit-identical across runs for a given thread count; changing the count can
/// change the rounding of parallel reductions.
pub fn set_threads(intra_op: Option<usize>) -> Result<()> {
    if let Some(n) = intra_op {
        tch::set_num_threads(thread_count("intra_op", n)?);
    }
    Ok(())
}

static INTEROP_THREADS: OnceLock<usize> = OnceLock::new();

/// Sets the number of inter-op threads libtorch uses (`torch.set_num_interop_threads`).
///
/// `None` leaves libtorch's default. libtorch accepts this once per process and only before
/// inter-op parallel work has started: a second call with the same count is a no-op, one with a
/// different count (or a call libtorch refuses) is an [`Error::InvalidArgument`].
pub fn set_interop_threads(inter_op: Option<usize>) -> Result<()> {
    let Some(n) = inter_op else {
        return Ok(());
    };
    let count = thread_count("inter_op", n)?;
    let mut fresh = false;
    let set = *INTEROP_THREADS.get_or_init(|| {
        fresh = true;
        n
    });
    if !fresh {
        return if set == n {
            Ok(())
        } else {
            Err(Error::invalid(
                "inter_op",
                format!("already set to {set} in this process; libtorch allows setting it once"),
            ))
        };
    }
    // tch panics when libtorch rejects the call (inter-op work already started); turn that into
    // an error instead of unwinding through the caller.
    std::panic::catch_unwind(|| tch::set_num_interop_threads(count)).map_err(|_| {
        Error::invalid(
            "inter_op",
            "libtorch refused: inter-op parallel work has already started",
        )
    })
}

/// Seeds every random number generator libtorch uses, for reproducible runs.
///
/// Calls `torch::manual_seed` (the CPU generator and, when present, every CUDA device's
/// generator) and, when CUDA is available, also `tch::Cuda::manual_seed_all` explicitly.
/// With the same seed and thread count, CPU runs are bit-identical: `randn`, dropout masks,
/// `nn` initialisations and training steps repeat exactly. CUDA runs are seeded too but may still
/// differ in the last bits (atomics, cuDNN algorithm choice). gen-core keeps no RNG of its own.
pub fn seed_everything(seed: u64) {
    // libtorch takes the seed as a 64-bit pattern; reinterpret the bits rather than truncate.
    tch::manual_seed(i64::from_ne_bytes(seed.to_ne_bytes()));
    let cuda = tch::Cuda::is_available();
    if cuda {
        tch::Cuda::manual_seed_all(seed);
    }
    tracing::debug!(seed, cuda, "seeded libtorch");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        assert_eq!("cpu".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert_eq!(
            " CUDA ".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Cuda(0)
        );
        assert_eq!(
            "cuda:3".parse::<DeviceChoice>().unwrap(),
            DeviceChoice::Cuda(3)
        );
        assert_eq!("Auto".parse::<DeviceChoice>().unwrap(), DeviceChoice::Auto);
        for bad in [
            "", "gpu", "cuda:", "cuda:-1", "cuda:+1", "cuda:x", "cuda:1:2",
        ] {
            let err = bad.parse::<DeviceChoice>().unwrap_err();
            assert!(
                matches!(err, Error::ParseDevice { ref input } if input == bad),
                "{bad}"
            );
        }
        for d in [DeviceChoice::Cpu, DeviceChoice::Cuda(2), DeviceChoice::Auto] {
            assert_eq!(d.to_string().parse::<DeviceChoice>().unwrap(), d);
        }
        assert_eq!(DeviceChoice::default(), DeviceChoice::Cpu);
    }

    #[test]
    fn resolve_cpu_and_auto() {
        assert_eq!(DeviceChoice::Cpu.resolve().unwrap(), tch::Device::Cpu);
        let auto = DeviceChoice::Auto.resolve().unwrap();
        assert_eq!(auto, tch::Device::cuda_if_available());
    }

    #[test]
    fn missing_cuda_device_is_a_clear_error() {
        // No machine has 10^6 GPUs, so this errors with or without CUDA.
        let err = DeviceChoice::Cuda(1_000_000).resolve().unwrap_err();
        match err {
            Error::CudaUnavailable {
                ref requested,
                available,
            } => {
                assert_eq!(requested, "cuda:1000000");
                assert!(available < 1_000_000);
            }
            other => panic!("unexpected {other:?}"),
        }
        if !tch::Cuda::is_available() {
            assert!(matches!(
                DeviceChoice::Cuda(0).resolve(),
                Err(Error::CudaUnavailable { available: 0, .. })
            ));
            assert_eq!(DeviceChoice::Auto.resolve().unwrap(), tch::Device::Cpu);
        }
    }

    #[test]
    fn thread_settings_validate() {
        assert!(matches!(
            set_threads(Some(0)),
            Err(Error::InvalidArgument {
                name: "intra_op",
                ..
            })
        ));
        set_threads(None).unwrap();
        set_interop_threads(None).unwrap();
        assert!(set_interop_threads(Some(0)).is_err());
    }
}
