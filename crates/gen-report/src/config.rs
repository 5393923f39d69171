//! The runs' configs flattened to dotted keys, and the keys whose values differ.

use std::collections::{BTreeMap, BTreeSet};

/// `table` as `key.sub = value` pairs (arrays stay whole, as TOML writes them).
pub fn flatten(table: &toml::Table) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    flatten_into("", table, &mut out);
    out
}

fn flatten_into(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, String>) {
    for (key, value) in table {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => flatten_into(&name, inner, out),
            toml::Value::String(s) => {
                out.insert(name, s.clone());
            }
            other => {
                out.insert(name, other.to_string());
            }
        }
    }
}

/// The keys whose values are not the same in every config (a key missing from a config
/// counts as a difference), with each config's value.
pub fn differences(configs: &[BTreeMap<String, String>]) -> Vec<(String, Vec<Option<String>>)> {
    let keys: BTreeSet<&String> = configs.iter().flat_map(|c| c.keys()).collect();
    keys.into_iter()
        .filter_map(|key| {
            let values: Vec<Option<String>> = configs.iter().map(|c| c.get(key).cloned()).collect();
            let same = values.windows(2).all(|w| w[0] == w[1]);
            (!same).then(|| (key.clone(), values))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_changed_and_missing_keys_only() {
        let a: toml::Table =
            toml::from_str("seed = 1\n[optimizer]\nlr = 0.001\nname = 'adam'\n").unwrap();
        let b: toml::Table = toml::from_str("seed = 1\n[optimizer]\nlr = 0.003\n").unwrap();
        let diff = differences(&[flatten(&a), flatten(&b)]);
        assert_eq!(
            diff,
            [
                (
                    "optimizer.lr".to_owned(),
                    vec![Some("0.001".to_owned()), Some("0.003".to_owned())]
                ),
                (
                    "optimizer.name".to_owned(),
                    vec![Some("adam".to_owned()), None]
                ),
            ]
        );
        assert!(differences(&[flatten(&a)]).is_empty());
    }
}
