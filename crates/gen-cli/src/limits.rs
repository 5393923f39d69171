//! The range of every numeric config key, checked once a config resolves: a size of 0, a
//! negative count, NaN or an absurd value ends in an error that names the config and the key,
//! never in a libtorch message halfway through a run.
//!
//! Rules go by the key's last name (`maxlen`, `lr`, ...), so that `optimizer.lr` and
//! `gan.optimizer_g.lr` share one; arrays (the MLP GAN's widths) take their key's rule per
//! element. A key with no rule must still be finite; `limits::tests` requires a rule for every
//! numeric key of every preset.

use anyhow::{Result, bail};
use toml::{Table, Value};

/// What values a key accepts.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// An integer in `min..=max`.
    Int { min: i64, max: i64 },
    /// A finite float in `[min, max]`; `open_min` excludes `min` itself (a step size of 0).
    Float { min: f64, max: f64, open_min: bool },
    /// Any finite float (a baseline of the monitored metric).
    Finite,
}

/// Counts and sizes: at least one.
const fn count(max: i64) -> Rule {
    Rule::Int { min: 1, max }
}
/// Ids, offsets and optional amounts: zero or more.
const fn index(max: i64) -> Rule {
    Rule::Int { min: 0, max }
}
/// A fraction or probability in `[0, max]`.
const fn unit(max: f64) -> Rule {
    Rule::Float {
        min: 0.0,
        max,
        open_min: false,
    }
}
/// A positive float up to `max`.
const fn positive(max: f64) -> Rule {
    Rule::Float {
        min: 0.0,
        max,
        open_min: true,
    }
}

/// Just under one: the largest f64 below 1, for `[0, 1)` ranges.
const BELOW_ONE: f64 = 1.0 - f64::EPSILON / 2.0;
const MILLION: i64 = 1_000_000;
const TRILLION: i64 = 1_000_000_000_000;
/// Widths of layers and embeddings: beyond 2^16 a single weight matrix outgrows any machine.
const WIDTH: i64 = 1 << 16;

/// The rules, by the key's last name.
const RULES: &[(&str, Rule)] = &[
    // The training loop.
    ("epochs", count(MILLION)),
    ("batch_size", count(1 << 20)),
    ("eval_batch_size", count(1 << 20)),
    ("bucket_factor", count(10_000)),
    ("max_steps", count(TRILLION)),
    ("checkpoint_every", count(TRILLION)),
    ("samples_every", count(MILLION)),
    ("min_steps", index(TRILLION)),
    ("validation_split", unit(BELOW_ONE)),
    ("seed", index(i64::MAX)),
    ("patience", index(MILLION)),
    ("start_from_epoch", index(MILLION)),
    ("min_delta", unit(1e6)),
    ("baseline", Rule::Finite),
    ("epoch_repeats", count(10_000)),
    ("holdout", index(MILLION)),
    // Schedules.
    ("step_size", count(TRILLION)),
    ("warmup_steps", index(TRILLION)),
    ("gamma", positive(1.0)),
    ("factor", positive(BELOW_ONE)),
    ("min_factor", unit(1.0)),
    // Optimisers and clipping.
    ("lr", positive(10.0)),
    ("beta1", unit(BELOW_ONE)),
    ("beta2", unit(BELOW_ONE)),
    ("eps", positive(1.0)),
    ("weight_decay", unit(1.0)),
    ("momentum", unit(BELOW_ONE)),
    ("dampening", unit(1.0)),
    ("max", positive(1e6)),
    // Data.
    ("num_words", count(1 << 24)),
    ("skip_top", index(1 << 24)),
    ("maxlen", count(1 << 20)),
    ("load_maxlen", count(1 << 20)),
    ("seq_len", count(1 << 20)),
    ("max_reviews", count(1 << 30)),
    ("valid_fraction", unit(BELOW_ONE)),
    ("test_fraction", unit(BELOW_ONE)),
    ("valid", count(1 << 30)),
    ("limit", count(1 << 30)),
    ("threads", count(4096)),
    // Models.
    ("vocab_size", count(1 << 24)),
    // The adaptive softmax's class boundaries (each also below vocab_size, checked by the
    // model) and its projection divisor.
    ("cutoffs", count(1 << 24)),
    ("div_value", positive(1e6)),
    ("embedding_dim", count(WIDTH)),
    ("hidden_size", count(WIDTH)),
    ("nade_hidden", count(WIDTH)),
    ("num_layers", count(64)),
    ("dropout", unit(BELOW_ONE)),
    ("num_classes", count(1 << 20)),
    ("padding_idx", index(1 << 24)),
    ("latent_dim", count(WIDTH)),
    ("channels", count(64)),
    ("in_channels", count(64)),
    ("image_size", count(4096)),
    ("ngf", count(WIDTH)),
    ("ndf", count(WIDTH)),
    ("label_dim", count(WIDTH)),
    ("g_hidden", count(WIDTH)),
    ("d_hidden", count(WIDTH)),
    ("feature_dim", count(WIDTH)),
    ("conv1_channels", count(WIDTH)),
    ("conv2_channels", count(WIDTH)),
    ("slope", unit(1.0)),
    ("init_std", positive(10.0)),
    ("num_shapes", count(MILLION)),
    ("num_components", count(1024)),
    ("length", count(MILLION)),
    ("position_scale", positive(1e6)),
    ("step_scale", positive(1e6)),
    ("offset_noise", unit(1e6)),
    ("time_warp", unit(1.0)),
    // GAN training and samples.
    ("gp_lambda", unit(1e6)),
    ("n_critic", count(100)),
    ("label_smoothing", unit(BELOW_ONE)),
    ("std", unit(1e6)),
    ("anneal_steps", count(TRILLION)),
    ("columns", count(1024)),
    ("rows", count(1024)),
    ("interp_rows", count(1024)),
    ("interp_steps", Rule::Int { min: 2, max: 1024 }),
    // Evaluation and sampling.
    ("n", count(1 << 30)),
    ("samples", count(MILLION)),
    ("bias", unit(1e3)),
    ("spread", unit(1e6)),
    ("augment_shift", index(64)),
    ("num", count(MILLION)),
    ("max_tokens", count(10 * MILLION)),
    ("temperature", positive(100.0)),
    ("top_k", count(1 << 24)),
    ("top_p", positive(1.0)),
    ("stop_token", index(1 << 24)),
    // Music: sampling and rendering.
    ("frames", count(MILLION)),
    ("opening", index(MILLION)),
    ("bpm", positive(1000.0)),
    ("sample_rate", count(1 << 20)),
    // Sound: clips, spectrograms, Griffin-Lim.
    ("valid_percent", index(100)),
    ("test_percent", index(100)),
    ("balance", unit(1.0)),
    ("clip_len", count(1 << 24)),
    ("clip_std", positive(1e3)),
    ("size", count(4096)),
    ("n_fft", count(1 << 16)),
    ("hop", count(1 << 16)),
    ("log_eps", positive(1.0)),
    ("iterations", count(100_000)),
    ("dim", count(WIDTH)),
    ("input_pool", count(64)),
    // GAN quality options.
    ("ema_decay", unit(BELOW_ONE)),
    ("translation", unit(1.0)),
    ("cutout", unit(BELOW_ONE)),
    // Several processes.
    ("init_timeout_s", positive(1e6)),
    ("timeout_s", positive(1e6)),
    ("bucket_mib", positive(1e4)),
];

fn rule(key: &str) -> Option<Rule> {
    let last = key.rsplit('.').next().unwrap_or(key);
    RULES
        .iter()
        .find(|(name, _)| *name == last)
        .map(|(_, r)| *r)
}

/// Checks every numeric value of the resolved config `table` (defaults included) against its
/// key's rule; the error names `origin` (the preset or file, with any `--set`) and the key.
pub fn check(table: &Table, origin: &str) -> Result<()> {
    let mut problems = Vec::new();
    walk(table, "", &mut problems);
    if problems.is_empty() {
        return Ok(());
    }
    bail!("invalid config ({origin}):\n  {}", problems.join("\n  "))
}

fn walk(table: &Table, prefix: &str, problems: &mut Vec<String>) {
    for (name, value) in table {
        let key = format!("{prefix}{name}");
        match value {
            Value::Table(t) => walk(t, &format!("{key}."), problems),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(problem) = check_value(&key, &format!("{key}[{i}]"), item) {
                        problems.push(problem);
                    }
                }
            }
            _ => {
                if let Some(problem) = check_value(&key, &key, value) {
                    problems.push(problem);
                }
            }
        }
    }
}

/// What is wrong with `value` at `shown` (the key, or an array element of it), by `key`'s rule.
fn check_value(key: &str, shown: &str, value: &Value) -> Option<String> {
    let number = match value {
        Value::Integer(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Table(t) => {
            let mut inner = Vec::new();
            walk(t, &format!("{shown}."), &mut inner);
            return (!inner.is_empty()).then(|| inner.join("\n  "));
        }
        _ => return None,
    };
    if !number.is_finite() {
        return Some(format!("`{shown}` = {value}: must be a finite number"));
    }
    let wrong = |want: String| Some(format!("`{shown}` = {value}: {want}"));
    match (rule(key)?, value) {
        (Rule::Int { min, max }, Value::Integer(i)) if *i < min || *i > max => {
            wrong(format!("must be an integer from {min} to {max}"))
        }
        (Rule::Int { .. }, Value::Float(_)) => wrong("must be an integer".into()),
        (Rule::Float { min, max, open_min }, _)
            if number > max || number < min || (open_min && number == min) =>
        {
            let low = if open_min { "above" } else { "at least" };
            wrong(format!("must be {low} {min} and at most {max}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config, presets, settings};

    /// Every numeric key of the resolved preset, as dotted paths.
    fn numeric_keys(table: &Table, prefix: &str, out: &mut Vec<String>) {
        for (name, value) in table {
            let key = format!("{prefix}{name}");
            match value {
                Value::Table(t) => numeric_keys(t, &format!("{key}."), out),
                Value::Integer(_) | Value::Float(_) => out.push(key),
                Value::Array(items)
                    if !items.is_empty()
                        && items
                            .iter()
                            .all(|v| matches!(v, Value::Integer(_) | Value::Float(_))) =>
                {
                    out.push(key)
                }
                _ => {}
            }
        }
    }

    #[test]
    fn every_numeric_key_of_every_preset_has_a_rule_and_refuses_nonsense() {
        let mut missing = std::collections::BTreeSet::new();
        for preset in presets::PRESETS {
            let base = preset.table().unwrap();
            let origin = format!("preset {}", preset.name);
            let (full, _) = settings::with_overrides(&base, &origin, &[], &origin).unwrap();
            let mut keys = Vec::new();
            numeric_keys(&full, "", &mut keys);
            missing.extend(keys.into_iter().filter(|k| rule(k).is_none()));
        }
        assert!(missing.is_empty(), "keys with no rule: {missing:?}");
        let mut tried = 0;
        for preset in presets::PRESETS {
            let base = preset.table().unwrap();
            let origin = format!("preset {}", preset.name);
            let (full, _) = settings::with_overrides(&base, &origin, &[], &origin).unwrap();
            let mut keys = Vec::new();
            numeric_keys(&full, "", &mut keys);
            assert!(keys.len() > 20, "{}: {keys:?}", preset.name);
            for key in &keys {
                assert!(rule(key).is_some(), "{}: `{key}` has no rule", preset.name);
                let array = is_array(&full, key);
                for raw in ["0", "-1", "nan", "inf", "1e30", "9223372036854775807"] {
                    let value = if array {
                        format!("[{raw}]")
                    } else {
                        raw.into()
                    };
                    let set = format!("{key}={value}");
                    let described = format!("{origin} with --set {set}");
                    let result = settings::with_overrides(
                        &base,
                        &origin,
                        std::slice::from_ref(&set),
                        &described,
                    );
                    tried += 1;
                    let Err(err) = result else {
                        // Accepted: only where the key's rule allows the value.
                        let ok = matches!(
                            (rule(key).unwrap(), raw),
                            (Rule::Int { min, .. }, "0") if min <= 0
                        ) || matches!(
                            (rule(key).unwrap(), raw),
                            (Rule::Float { open_min: false, min, .. }, "0") if min <= 0.0
                        ) || matches!(
                            (rule(key).unwrap(), raw),
                            (Rule::Int { max: i64::MAX, .. }, "9223372036854775807")
                        );
                        assert!(ok, "{set} accepted by {}", preset.name);
                        continue;
                    };
                    let err = format!("{err:#}");
                    let last = key.rsplit('.').next().unwrap();
                    assert!(
                        err.contains(&format!("preset {}", preset.name)) && err.contains(last),
                        "{set} on {}: the error names neither the preset nor the key:\n{err}",
                        preset.name
                    );
                }
            }
        }
        assert!(tried > 1000, "{tried}");
    }

    fn is_array(table: &Table, key: &str) -> bool {
        let mut node = table;
        let parts: Vec<&str> = key.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            match node.get(*part) {
                Some(Value::Table(t)) => node = t,
                Some(Value::Array(_)) => return i + 1 == parts.len(),
                _ => return false,
            }
        }
        false
    }

    #[test]
    fn the_cases_new_users_hit_name_the_key() {
        for (preset, set, want) in [
            ("imdb-gru", "data.maxlen=0", "`data.maxlen` = 0"),
            ("mnist-dcgan", "trainer.epochs=0", "`trainer.epochs` = 0"),
            ("imdb-gru", "optimizer.lr=nan", "`optimizer.lr` = nan"),
            ("text-char", "trainer.batch_size=-1", "batch_size"),
        ] {
            let p = presets::preset(preset).unwrap();
            let origin = format!("preset {preset}");
            let err =
                settings::with_overrides(&p.table().unwrap(), &origin, &[set.into()], &origin)
                    .unwrap_err();
            let err = format!("{err:#}");
            assert!(err.contains(want) && err.contains(&origin), "{err}");
        }
        // The resolved presets themselves pass.
        for p in presets::PRESETS {
            let config = config::resolve(&p.table().unwrap(), p.name).unwrap();
            check(&config::to_table(&config).unwrap(), p.name).unwrap();
        }
    }
}
