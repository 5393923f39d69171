//! Epoch-end callbacks: Keras's `EarlyStopping`.

use crate::monitor::{ModeSetting, Monitor};
use serde::{Deserialize, Serialize};

/// Keras's `EarlyStopping`, with the same names and defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EarlyStoppingConfig {
    /// The metric watched. Default: `val_loss`.
    pub monitor: String,
    /// The smallest change that counts as an improvement. Default: 0.0.
    pub min_delta: f64,
    /// Epochs without improvement before stopping. Default: 0.
    pub patience: usize,
    /// Direction of improvement: `auto` ([`crate::monitor::Mode::auto`]), `min` or `max`.
    /// Default: `auto`.
    pub mode: ModeSetting,
    /// A value the metric must beat before patience starts being reset. Default: none.
    pub baseline: Option<f64>,
    /// Restore the weights of the best epoch when stopping. Default: false.
    pub restore_best_weights: bool,
    /// Epochs to wait before monitoring starts. Default: 0.
    pub start_from_epoch: usize,
}

impl Default for EarlyStoppingConfig {
    fn default() -> Self {
        EarlyStoppingConfig {
            monitor: "val_loss".into(),
            min_delta: 0.0,
            patience: 0,
            mode: ModeSetting::Auto,
            baseline: None,
            restore_best_weights: false,
            start_from_epoch: 0,
        }
    }
}

/// The running state of early stopping, saved in checkpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EarlyStoppingState {
    /// Epochs since the last improvement.
    pub wait: usize,
    /// The best value so far.
    pub best: Option<f64>,
    /// The 0-based epoch of the best value.
    pub best_epoch: Option<usize>,
}

/// What early stopping decided at an epoch's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EarlyStoppingDecision {
    /// The epoch improved on the best value.
    pub improved: bool,
    /// Training should stop now.
    pub stop: bool,
}

impl EarlyStoppingConfig {
    /// The watched metric with its resolved direction.
    pub fn monitor(&self) -> Monitor {
        Monitor::new(self.monitor.clone(), self.mode.resolve(&self.monitor))
    }

    /// Keras's `on_epoch_end` for 0-based `epoch` with the monitored `value` (None when the
    /// metric is missing, which never stops training).
    pub fn on_epoch_end(
        &self,
        state: &mut EarlyStoppingState,
        epoch: usize,
        value: Option<f64>,
    ) -> EarlyStoppingDecision {
        let none = EarlyStoppingDecision {
            improved: false,
            stop: false,
        };
        let Some(value) = value else { return none };
        if epoch < self.start_from_epoch {
            return none;
        }
        let monitor = self.monitor();
        state.wait += 1;
        if monitor.improves(value, state.best, self.min_delta) {
            state.best = Some(value);
            state.best_epoch = Some(epoch);
            // Keras restarts the wait only when the baseline is beaten too, and never stops
            // on an improving epoch.
            if self.baseline.is_none() || monitor.improves(value, self.baseline, self.min_delta) {
                state.wait = 0;
            }
            return EarlyStoppingDecision {
                improved: true,
                stop: false,
            };
        }
        EarlyStoppingDecision {
            improved: false,
            stop: state.wait >= self.patience && epoch > 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(config: &EarlyStoppingConfig, values: &[f64]) -> Option<usize> {
        let mut state = EarlyStoppingState::default();
        values
            .iter()
            .enumerate()
            .find(|(e, v)| config.on_epoch_end(&mut state, *e, Some(**v)).stop)
            .map(|(e, _)| e)
    }

    #[test]
    fn matches_keras_patience_semantics() {
        // keras.callbacks.EarlyStopping(monitor="val_loss", patience=2) on val_loss
        // [1.0, 0.9, 0.95, 0.92, 0.8] stops at the end of epoch index 3 (wait hits 2).
        let cfg = EarlyStoppingConfig {
            patience: 2,
            ..Default::default()
        };
        assert_eq!(run(&cfg, &[1.0, 0.9, 0.95, 0.92, 0.8]), Some(3));
        // patience=0 stops at the first epoch (after the first) that does not improve.
        let cfg = EarlyStoppingConfig::default();
        assert_eq!(run(&cfg, &[1.0, 0.9, 0.91]), Some(2));
        // min_delta: an improvement of 0.05 < 0.1 does not count, so epoch 1 stops.
        let cfg = EarlyStoppingConfig {
            min_delta: 0.1,
            patience: 1,
            ..Default::default()
        };
        assert_eq!(run(&cfg, &[1.0, 0.95, 0.93]), Some(1));
    }

    #[test]
    fn accuracy_is_maximised_in_auto_mode() {
        let cfg = EarlyStoppingConfig {
            monitor: "val_accuracy".into(),
            patience: 1,
            ..Default::default()
        };
        assert_eq!(run(&cfg, &[0.5, 0.6, 0.7, 0.8]), None);
        assert_eq!(run(&cfg, &[0.5, 0.6, 0.55, 0.58]), Some(2));
    }

    #[test]
    fn baseline_must_be_beaten() {
        // Keras: with baseline=0.5 and patience=2, improving values above the baseline do
        // not reset `wait`, so the first non-improving epoch (index 2) stops; without a
        // baseline, wait is only 1 there.
        let with = EarlyStoppingConfig {
            baseline: Some(0.5),
            patience: 2,
            ..Default::default()
        };
        assert_eq!(run(&with, &[0.9, 0.8, 0.85]), Some(2));
        let without = EarlyStoppingConfig {
            patience: 2,
            ..Default::default()
        };
        assert_eq!(run(&without, &[0.9, 0.8, 0.85]), None);
        // Improving epochs never stop training.
        assert_eq!(run(&with, &[0.9, 0.8, 0.7, 0.6]), None);
    }
}
