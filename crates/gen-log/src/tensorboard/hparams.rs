//! Hyperparameters for TensorBoard's HParams dashboard, flattened from a run's config.

use std::collections::BTreeMap;

/// One hyperparameter's value.
#[derive(Debug, Clone, PartialEq)]
pub enum HParam {
    /// A number.
    Number(f64),
    /// A string.
    Text(String),
    /// A boolean.
    Bool(bool),
}

/// Flattens a config (as JSON, e.g. `serde_json::to_value(&config)`) into hyperparameters named
/// by their dotted paths: `{"optim": {"lr": 0.001}}` gives `optim.lr = 0.001`. Arrays become
/// their JSON text, `null`s are left out, and a scalar at the top level is named `value`.
pub fn flatten_json(config: &serde_json::Value) -> BTreeMap<String, HParam> {
    let mut out = BTreeMap::new();
    flatten_into(&mut out, String::new(), config);
    out
}

fn flatten_into(out: &mut BTreeMap<String, HParam>, path: String, value: &serde_json::Value) {
    use serde_json::Value;
    let name = || {
        if path.is_empty() {
            "value".to_owned()
        } else {
            path.clone()
        }
    };
    match value {
        Value::Null => {}
        Value::Bool(b) => {
            out.insert(name(), HParam::Bool(*b));
        }
        Value::Number(n) => {
            // serde_json numbers are always representable as f64 (large integers rounded).
            out.insert(name(), HParam::Number(n.as_f64().unwrap_or(f64::NAN)));
        }
        Value::String(s) => {
            out.insert(name(), HParam::Text(s.clone()));
        }
        Value::Array(_) => {
            out.insert(name(), HParam::Text(value.to_string()));
        }
        Value::Object(map) => {
            for (key, value) in map {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                flatten_into(out, child, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_configs_flatten_to_dotted_names() {
        let config = serde_json::json!({
            "preset": "mnist-gan",
            "trainer": {"epochs": 3, "seed": 42, "amp": false, "clip": null},
            "optim": {"lr": 2e-4, "betas": [0.5, 0.999]},
        });
        let got = flatten_json(&config);
        let want: BTreeMap<String, HParam> = [
            ("optim.betas", HParam::Text("[0.5,0.999]".into())),
            ("optim.lr", HParam::Number(2e-4)),
            ("preset", HParam::Text("mnist-gan".into())),
            ("trainer.amp", HParam::Bool(false)),
            ("trainer.epochs", HParam::Number(3.0)),
            ("trainer.seed", HParam::Number(42.0)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(got, want);
        assert_eq!(
            flatten_json(&serde_json::json!(1.5)),
            BTreeMap::from([("value".to_owned(), HParam::Number(1.5))])
        );
    }
}
