//! The one rule for "better": a [`Monitor`] names a metric and the direction in which it
//! improves. The `best` checkpoint, early stopping and the `ReduceOnPlateau` schedule all
//! decide through it.

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// The direction in which a monitored metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Lower is better.
    Min,
    /// Higher is better.
    Max,
}

impl Mode {
    /// Keras's `auto` for metric `name`: `Max` when the name contains `acc` or ends with
    /// `auc`, else `Min`.
    pub fn auto(name: &str) -> Self {
        if name.contains("acc") || name.ends_with("auc") {
            Mode::Max
        } else {
            Mode::Min
        }
    }
}

/// A mode as configs spell it (Keras's `mode` argument): `auto`, `min` or `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ModeSetting {
    /// [`Mode::auto`] of the monitored name (default).
    #[default]
    Auto,
    /// Lower is better.
    Min,
    /// Higher is better.
    Max,
}

impl ModeSetting {
    /// The mode for metric `name`.
    pub fn resolve(self, name: &str) -> Mode {
        match self {
            ModeSetting::Auto => Mode::auto(name),
            ModeSetting::Min => Mode::Min,
            ModeSetting::Max => Mode::Max,
        }
    }
}

/// A metric and the direction in which it improves.
///
/// In a config it is either a name, whose mode is [`Mode::auto`] (`monitor = "val_accuracy"`),
/// or a table (`monitor = { name = "val_bpt", mode = "min" }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Monitor {
    /// The metric's name in an epoch's log (`val_`-prefixed for validation metrics).
    pub name: String,
    /// The direction in which it improves.
    pub mode: Mode,
}

impl Monitor {
    /// Monitors `name` in direction `mode`.
    pub fn new(name: impl Into<String>, mode: Mode) -> Self {
        Monitor {
            name: name.into(),
            mode,
        }
    }

    /// Monitors `name` in direction [`Mode::auto`].
    pub fn auto(name: impl Into<String>) -> Self {
        let name = name.into();
        let mode = Mode::auto(&name);
        Monitor { name, mode }
    }

    /// The training loss, minimised: the fallback when a monitored metric is absent.
    pub fn loss() -> Self {
        Monitor::new("loss", Mode::Min)
    }

    /// Whether `value` improves on `reference` by more than `min_delta`, as Keras's callbacks
    /// decide: `value - |min_delta| > reference` for `max`, `value + |min_delta| < reference`
    /// for `min`. Every value improves on no reference.
    pub fn improves(&self, value: f64, reference: Option<f64>, min_delta: f64) -> bool {
        let Some(reference) = reference else {
            return true;
        };
        match self.mode {
            Mode::Max => value - min_delta.abs() > reference,
            Mode::Min => value + min_delta.abs() < reference,
        }
    }

    /// Whether `value` improves on `best` by the relative `threshold`, as PyTorch's
    /// `ReduceLROnPlateau` decides (`threshold_mode="rel"`): `value < best * (1 - threshold)`
    /// for `min`, `value > best * (1 + threshold)` for `max`. Every value improves on none.
    pub fn improves_relative(&self, value: f64, best: Option<f64>, threshold: f64) -> bool {
        best.is_none_or(|best| match self.mode {
            Mode::Min => value < best * (1.0 - threshold),
            Mode::Max => value > best * (threshold + 1.0),
        })
    }

    /// This metric's value in `log`.
    pub fn read(&self, log: &BTreeMap<String, f64>) -> Option<f64> {
        log.get(&self.name).copied()
    }

    /// This metric's value in `log`; when it is absent (e.g. `val_accuracy` without
    /// validation data), the training loss's, minimised ([`Monitor::loss`]). Returns the
    /// monitor that was read, with its own mode.
    pub fn read_or_loss(&self, log: &BTreeMap<String, f64>) -> Option<(Monitor, f64)> {
        match self.read(log) {
            Some(v) => Some((self.clone(), v)),
            None => {
                let loss = Monitor::loss();
                loss.read(log).map(|v| (loss, v))
            }
        }
    }
}

impl From<&str> for Monitor {
    /// [`Monitor::auto`].
    fn from(name: &str) -> Self {
        Monitor::auto(name)
    }
}

/// The table form of a [`Monitor`] in configs.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MonitorTable {
    name: String,
    #[serde(default)]
    mode: ModeSetting,
}

impl Serialize for Monitor {
    /// A name alone when its mode is [`Mode::auto`] (so existing configs read back
    /// unchanged), else a table.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.mode == Mode::auto(&self.name) {
            serializer.serialize_str(&self.name)
        } else {
            let mode = match self.mode {
                Mode::Min => ModeSetting::Min,
                Mode::Max => ModeSetting::Max,
            };
            MonitorTable {
                name: self.name.clone(),
                mode,
            }
            .serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Monitor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MonitorVisitor;

        impl<'de> Visitor<'de> for MonitorVisitor {
            type Value = Monitor;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a metric name, or a table { name = "...", mode = "min" | "max" }"#)
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<Monitor, E> {
                Ok(Monitor::auto(name))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Monitor, A::Error> {
                let table = MonitorTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let mode = table.mode.resolve(&table.name);
                Ok(Monitor::new(table.name, mode))
            }
        }

        deserializer.deserialize_any(MonitorVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn auto_maximises_accuracies_and_aucs_only() {
        assert_eq!(Monitor::auto("val_accuracy").mode, Mode::Max);
        assert_eq!(Monitor::auto("val_auc").mode, Mode::Max);
        assert_eq!(Monitor::auto("val_loss").mode, Mode::Min);
        assert_eq!(Monitor::auto("bpt").mode, Mode::Min);
    }

    #[test]
    fn improvement_follows_the_mode_and_min_delta() {
        let min = Monitor::new("val_loss", Mode::Min);
        let max = Monitor::new("val_accuracy", Mode::Max);
        assert!(min.improves(0.9, Some(1.0), 0.0) && !min.improves(1.0, Some(1.0), 0.0));
        assert!(max.improves(0.6, Some(0.5), 0.0) && !max.improves(0.4, Some(0.5), 0.0));
        // min_delta's sign does not matter, as in Keras.
        assert!(!min.improves(0.95, Some(1.0), -0.1) && min.improves(0.85, Some(1.0), 0.1));
        assert!(min.improves(f64::MAX, None, 0.0) && max.improves(f64::MIN, None, 0.0));
        // PyTorch's relative threshold: 1e-4 of the best.
        assert!(!min.improves_relative(0.99995, Some(1.0), 1e-4));
        assert!(min.improves_relative(0.999, Some(1.0), 1e-4));
        assert!(max.improves_relative(0.6, Some(0.5), 1e-4));
        assert!(!max.improves_relative(0.50001, Some(0.5), 1e-4));
    }

    /// Defect: the fallback to `loss` kept the monitor's direction, so `val_accuracy` without
    /// validation data kept the epoch with the HIGHEST loss as best.
    #[test]
    fn the_loss_fallback_minimises_whatever_the_monitor() {
        let monitor = Monitor::auto("val_accuracy");
        let (used, value) = monitor.read_or_loss(&log(&[("loss", 0.7)])).unwrap();
        assert_eq!(
            (used.name.as_str(), used.mode, value),
            ("loss", Mode::Min, 0.7)
        );
        let (used, _) = monitor
            .read_or_loss(&log(&[("loss", 0.7), ("val_accuracy", 0.8)]))
            .unwrap();
        assert_eq!(used, monitor);
        assert!(monitor.read_or_loss(&log(&[("accuracy", 0.8)])).is_none());
    }

    #[test]
    fn configs_spell_a_monitor_as_a_name_or_a_table() {
        #[derive(Debug, Serialize, Deserialize, PartialEq)]
        struct C {
            monitor: Monitor,
        }
        let c: C = toml::from_str(r#"monitor = "val_accuracy""#).unwrap();
        assert_eq!(c.monitor, Monitor::new("val_accuracy", Mode::Max));
        let c: C = toml::from_str(r#"monitor = { name = "val_bpt", mode = "max" }"#).unwrap();
        assert_eq!(c.monitor, Monitor::new("val_bpt", Mode::Max));
        let c: C = toml::from_str(r#"monitor = { name = "val_acc" }"#).unwrap();
        assert_eq!(c.monitor, Monitor::new("val_acc", Mode::Max));
        let err = toml::from_str::<C>(r#"monitor = { name = "x", direction = "max" }"#);
        assert!(err.unwrap_err().to_string().contains("direction"));
        // A name alone when the mode is its auto mode, so existing configs stay as they are.
        for monitor in [
            Monitor::auto("val_loss"),
            Monitor::new("val_loss", Mode::Max),
        ] {
            let c = C { monitor };
            let text = toml::to_string(&c).unwrap();
            assert_eq!(toml::from_str::<C>(&text).unwrap(), c, "{text}");
        }
        assert_eq!(
            toml::to_string(&C {
                monitor: Monitor::auto("val_loss")
            })
            .unwrap(),
            "monitor = \"val_loss\"\n"
        );
    }
}
