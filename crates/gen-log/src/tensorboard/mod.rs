//! TensorBoard event files: what `tensorboard --logdir runs` reads.
//!
//! A run's `tb/` folder holds one or more event files. Each is a sequence of TFRecord records
//! ([`record`]: length, masked CRC-32C of the length, data, masked CRC-32C of the data) around
//! `Event` protobufs ([`proto`]): first a `file_version` `"brain.Event:2"`, then summaries:
//! `simple_value` scalars, PNG images, WAV audio, text as string tensors for the text plugin,
//! and the hyperparameters for the hparams plugin.
//!
//! [`TbWriter`] writes them; [`TbRun`] and [`read_event_file`] read them back, verifying every
//! checksum. A resumed run writes a new file in the same folder ([`TbWriter::resume`]), which
//! TensorBoard merges with the earlier ones, showing the resumed run's values for the steps it
//! logged again.
//!
//! ```
//! # fn main() -> anyhow::Result<()> {
//! use gen_log::tensorboard::{TbRun, TbWriter};
//!
//! # let tmp = tempfile::tempdir()?;
//! # let run_dir = tmp.path();
//! let mut tb = TbWriter::create(run_dir.join("tb"))?;
//! tb.scalar("loss/train", 100, 0.25)?;
//! tb.text_verbatim("samples", 100, "the quick brown fox")?;
//! tb.flush()?;
//!
//! let logged = TbRun::read(run_dir.join("tb"))?;
//! assert_eq!(logged.scalars["loss/train"], [(100, 0.25)]);
//! assert_eq!(logged.text["samples"], [(100, "    the quick brown fox\n".to_owned())]);
//! # Ok(())
//! # }
//! ```

mod hparams;
mod media;
pub mod proto;
mod reader;
pub mod record;
mod writer;

pub use hparams::{HParam, flatten_json};
pub use reader::{LoggedAudio, LoggedImage, TbRun, event_files, read_event_file};
pub use writer::{DEFAULT_FLUSH_INTERVAL, FILE_VERSION, HPARAMS_TAG, TbWriter};
