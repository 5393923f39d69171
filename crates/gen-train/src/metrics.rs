//! Metric accumulators: sums and counts, so that averages are per sample or per token and
//! padding never counts.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Named running sums with their counts. A step reports e.g. `loss` as (mean loss × samples,
/// samples) and `accuracy` as (correct, samples); merging and [`Metrics::mean`] then give exact
/// per-sample (or per-token) averages over an epoch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    sums: BTreeMap<String, (f64, f64)>,
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `sum` over `count` items to metric `name`.
    pub fn add(&mut self, name: &str, sum: f64, count: f64) -> &mut Self {
        let entry = self.sums.entry(name.to_string()).or_insert((0.0, 0.0));
        entry.0 += sum;
        entry.1 += count;
        self
    }

    /// Adds every metric of `other`.
    pub fn merge(&mut self, other: &Metrics) {
        for (name, (sum, count)) in &other.sums {
            self.add(name, *sum, *count);
        }
    }

    /// The average of `name`: its sum over its count.
    pub fn mean(&self, name: &str) -> Option<f64> {
        self.sums
            .get(name)
            .filter(|(_, c)| *c > 0.0)
            .map(|(s, c)| s / c)
    }

    /// Whether metric `name` was added (even with a zero count).
    pub fn contains(&self, name: &str) -> bool {
        self.sums.contains_key(name)
    }

    /// Every average, by name.
    pub fn means(&self) -> BTreeMap<String, f64> {
        self.sums
            .keys()
            .filter_map(|k| self.mean(k).map(|m| (k.clone(), m)))
            .collect()
    }

    /// Whether no metric was added.
    pub fn is_empty(&self) -> bool {
        self.sums.is_empty()
    }

    /// Every metric as (name, sum, count), by name.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&str, f64, f64)> {
        self.sums.iter().map(|(k, &(s, c))| (k.as_str(), s, c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_are_weighted_by_counts() {
        let mut a = Metrics::new();
        a.add("loss", 2.0 * 10.0, 10.0); // batch of 10 with mean loss 2
        let mut b = Metrics::new();
        b.add("loss", 5.0 * 2.0, 2.0); // partial batch of 2 with mean loss 5
        a.merge(&b);
        // (20 + 10) / 12, not (2 + 5) / 2.
        assert!((a.mean("loss").unwrap() - 2.5).abs() < 1e-12);
        assert_eq!(a.mean("missing"), None);
    }
}
