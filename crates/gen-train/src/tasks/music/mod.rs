//! Music: a [`FrameGru`] learns Bach's chorales as piano-rolls, scored by the NLL per frame
//! (`gen_data::music::nll`) against the three baselines.
//!
//! # Data
//!
//! [`RollData`] holds piano-rolls of any length; a batch pads them with silent frames to its
//! longest roll and carries the real lengths, so only real frames are scored (the GRU is
//! causal, so padding after a roll never changes its frames' probabilities). It reports the
//! lengths, so `trainer.bucket_factor` can batch rolls of similar length together.
//!
//! # Training and evaluation
//!
//! [`FrameGru`] implements [`Objective`] (the mean NLL per real frame, trained through the
//! taped GRU), so it trains through [`super::Supervised`] and the one [`crate::Trainer`],
//! validated on the validation chorales; the `best` checkpoint is the epoch of lowest
//! `val_loss` (the validation NLL per frame). [`fit_music`] does all of it;
//! [`evaluate_nll`] scores any rolls exactly as `gen_data::music::NllPerFrame` does.
//!
//! [`FrameGru`]: gen_models::FrameGru
//! [`Objective`]: super::Objective

mod data;
mod task;

pub use data::{RollBatch, RollData};
pub use task::{
    EPOCH_ROLL_FRAMES, MusicTaskConfig, RESOLVED_CONFIG, TrainedMusic, build_task, evaluate_nll,
    fit_music, load_music_model, roll_of, write_epoch_roll,
};
