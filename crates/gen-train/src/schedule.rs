//! Learning-rate schedules: a factor on each optimiser's base learning rate.

use crate::monitor::Monitor;
use serde::{Deserialize, Serialize};

/// How the learning rate changes over training. In TOML: `kind = "cosine"` plus fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LrSchedule {
    /// The base learning rate throughout (default).
    #[default]
    Constant,
    /// Multiply by `gamma` every `step_size` optimiser steps (PyTorch's `StepLR`, per step).
    Step {
        /// Steps between decays.
        step_size: u64,
        /// Decay factor. Default: 0.1.
        #[serde(default = "default_gamma")]
        gamma: f64,
    },
    /// Linear warm-up from 0 over `warmup_steps`, then cosine decay to `min_factor` at the
    /// end of training.
    Cosine {
        /// Warm-up steps. Default: 0.
        #[serde(default)]
        warmup_steps: u64,
        /// The final factor. Default: 0.0.
        #[serde(default)]
        min_factor: f64,
    },
    /// Multiply by `factor` when the trainer's monitored metric has not improved, in its
    /// [`Monitor`]'s direction, for `patience` epochs (PyTorch's `ReduceLROnPlateau`, with
    /// its default relative threshold 1e-4).
    ReduceOnPlateau {
        /// Decay factor. Default: 0.1.
        #[serde(default = "default_gamma")]
        factor: f64,
        /// Epochs without improvement before a decay. Default: 10.
        #[serde(default = "default_patience")]
        patience: usize,
        /// The smallest factor. Default: 0.0.
        #[serde(default)]
        min_factor: f64,
    },
}

fn default_gamma() -> f64 {
    0.1
}

fn default_patience() -> usize {
    10
}

/// The mutable part of a schedule, saved in checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ScheduleState {
    /// The plateau factor so far (1 until a decay).
    pub plateau_factor: Option<f64>,
    /// The best monitored value so far.
    pub best: Option<f64>,
    /// Epochs since it improved.
    pub bad_epochs: usize,
}

impl LrSchedule {
    /// The factor on the base learning rate for optimiser step `step` (0-based) of
    /// `total_steps`.
    pub fn factor(&self, state: &ScheduleState, step: u64, total_steps: u64) -> f64 {
        match *self {
            LrSchedule::Constant => 1.0,
            LrSchedule::Step { step_size, gamma } => {
                let n = step.checked_div(step_size).unwrap_or(0);
                gamma.powi(i32::try_from(n).unwrap_or(i32::MAX))
            }
            LrSchedule::Cosine {
                warmup_steps,
                min_factor,
            } => {
                if step < warmup_steps {
                    return (step + 1) as f64 / warmup_steps as f64;
                }
                let span = total_steps.saturating_sub(warmup_steps).max(1) as f64;
                let progress = ((step - warmup_steps) as f64 / span).min(1.0);
                min_factor
                    + (1.0 - min_factor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            LrSchedule::ReduceOnPlateau { .. } => state.plateau_factor.unwrap_or(1.0),
        }
    }

    /// Feeds an epoch's `value` of `monitor` to plateau schedules.
    pub fn on_epoch_end(&self, state: &mut ScheduleState, monitor: &Monitor, value: f64) {
        if let LrSchedule::ReduceOnPlateau {
            factor,
            patience,
            min_factor,
        } = *self
        {
            // PyTorch's default threshold: relative 1e-4.
            if monitor.improves_relative(value, state.best, 1e-4) {
                state.best = Some(value);
                state.bad_epochs = 0;
            } else {
                state.bad_epochs += 1;
                if state.bad_epochs > patience {
                    let f = state.plateau_factor.unwrap_or(1.0) * factor;
                    state.plateau_factor = Some(f.max(min_factor));
                    state.bad_epochs = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_and_cosine_factors() {
        let s = ScheduleState::default();
        let step = LrSchedule::Step {
            step_size: 10,
            gamma: 0.5,
        };
        assert_eq!(step.factor(&s, 9, 100), 1.0);
        assert_eq!(step.factor(&s, 10, 100), 0.5);
        assert_eq!(step.factor(&s, 25, 100), 0.25);
        let cos = LrSchedule::Cosine {
            warmup_steps: 10,
            min_factor: 0.0,
        };
        assert!((cos.factor(&s, 0, 110) - 0.1).abs() < 1e-12);
        assert!((cos.factor(&s, 9, 110) - 1.0).abs() < 1e-12);
        assert!((cos.factor(&s, 10, 110) - 1.0).abs() < 1e-12);
        // Halfway through the decay, cos(pi/2) = 0 gives 0.5.
        assert!((cos.factor(&s, 60, 110) - 0.5).abs() < 1e-12);
        assert!(cos.factor(&s, 110, 110).abs() < 1e-12);
    }

    #[test]
    fn plateau_decays_after_patience_epochs_without_improvement() {
        // torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1):
        // losses 1.0, 0.9, 0.95, 0.95 -> the lr halves after the 4th epoch.
        let sched = LrSchedule::ReduceOnPlateau {
            factor: 0.5,
            patience: 1,
            min_factor: 0.0,
        };
        let mut st = ScheduleState::default();
        let val_loss = Monitor::auto("val_loss");
        for (v, expect) in [(1.0, 1.0), (0.9, 1.0), (0.95, 1.0), (0.95, 0.5)] {
            sched.on_epoch_end(&mut st, &val_loss, v);
            assert_eq!(sched.factor(&st, 0, 1), expect, "after {v}");
        }
    }

    /// Defect: the plateau always minimised, so a rising accuracy counted as a plateau.
    #[test]
    fn plateau_maximises_a_maximised_monitor() {
        // torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=1)
        // stepped with accuracies 0.5, 0.6, 0.7, 0.7, 0.7: the lr halves after the 5th epoch
        // only (num_bad_epochs reaches 2 > patience there). Mode "min" would halve it after
        // the 3rd.
        let sched = LrSchedule::ReduceOnPlateau {
            factor: 0.5,
            patience: 1,
            min_factor: 0.0,
        };
        let mut st = ScheduleState::default();
        let val_accuracy = Monitor::auto("val_accuracy");
        let expected = [(0.5, 1.0), (0.6, 1.0), (0.7, 1.0), (0.7, 1.0), (0.7, 0.5)];
        for (v, expect) in expected {
            sched.on_epoch_end(&mut st, &val_accuracy, v);
            assert_eq!(sched.factor(&st, 0, 1), expect, "after {v}");
        }
    }
}
