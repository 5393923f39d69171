//! Behaviour generation: a [`TrajectoryMdn`] learns the LASA handwriting motions, and is
//! measured against held-out demonstrations.
//!
//! # Data
//!
//! Every demonstration is resampled to the model's `length` points ([`resample`], uniform in
//! time). [`TrajectoryData`] holds `(shape id, points)` pairs; [`TrajectoryMdn`] implements
//! [`Objective`] (its per-point NLL), so it trains through [`super::Supervised`] and the one
//! [`crate::Trainer`]. [`train_trajectories`] does all of it: split, scales, model, loop.
//!
//! # Evaluation ([`evaluate_trajectories`])
//!
//! Leave-one-out: with `holdout = k`, demo `k` of every shape is left out of training (one
//! model for all shapes; running `k = 0..7` gives the full leave-one-out). For each shape, with
//! `h` the held-out demo and `T` the length, and every DTW divided by `T` (so it reads as a
//! mean distance per point, in data units):
//!
//! - `dtw`: mean [`dtw`] from `h` to samples that start at `h`'s first point (the robot task:
//!   move from a new start to the target the way the demonstrations do);
//! - `dtw_best`: the smallest of those DTWs (best of `samples`, as minADE in trajectory
//!   forecasting): whether the model can produce the unseen demo, not whether an average
//!   sample matches it;
//! - `dtw_free`: the mean DTW for samples whose start the model draws itself;
//! - `nearest`: mean DTW from each free sample to the nearest of all the shape's demos;
//! - `baseline`: DTW from `h` to the mean of the training demos, replayed as is (the
//!   mean-demo baseline; it does not know `h`'s start);
//! - `endpoint`: the largest distance of any sample's last point from the target `(0, 0)`;
//! - `diversity`: [`mean_pairwise_dtw`] among the samples that start at `h` (zero for copies);
//! - `heldout_nll`: the model's per-point NLL of `h`.
//!
//! [`TrajectoryMdn`]: gen_models::TrajectoryMdn
//! [`Objective`]: super::Objective
//! [`resample`]: gen_data::trajectory::resample
//! [`dtw`]: gen_data::trajectory::dtw
//! [`mean_pairwise_dtw`]: gen_data::trajectory::mean_pairwise_dtw

mod data;
mod plot;
mod report;
mod task;

pub use data::{TrajectoryBatch, TrajectoryData, select_shapes, training_data};
pub use plot::{OverlayPanel, overlay_pixels, write_overlay_png};
pub use report::{
    ShapeReport, ShapeTrajectories, TrajectoryEvalConfig, TrajectoryReport, TrajectorySummary,
    evaluate_trajectories, write_report_csv,
};
pub use task::{
    RESOLVED_CONFIG, TrainedTrajectories, TrajectoryTaskConfig, build_task, fit_trajectories,
    load_trajectory_model, sample_trajectories, train_trajectories,
};
