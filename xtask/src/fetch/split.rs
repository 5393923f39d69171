//! The seeded, stratified train/test split used by the converters.
//!
//! Reproducible by design, so the converted files have fixed checksums: the generator is
//! SplitMix64 (Steele, Lea and Flood, 2014; the seeding generator of `java.util.SplittableRandom`
//! and of xoshiro), shuffles are Fisher-Yates, and a bounded draw is the high half of a 128-bit
//! product (`(x * n) >> 64`, a bias below `n / 2^64`). The generator is `rand_xoshiro`'s
//! `SplitMix64` seeded with `seed_from_u64(seed)`, whose state starts at `seed`.

use rand_xoshiro::SplitMix64;
use rand_xoshiro::rand_core::{Rng, SeedableRng};

/// A draw in `0..n` (`n > 0`): the high 64 bits of `next_u64() * n`.
fn below(rng: &mut SplitMix64, n: usize) -> usize {
    ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize
}

/// Fisher-Yates: for `i` from the end down to 1, swap item `i` with item `below(i + 1)`.
fn shuffle<T>(rng: &mut SplitMix64, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = below(rng, i + 1);
        items.swap(i, j);
    }
}

/// The number of a class's `n` items that go to the test split: `test_percent`% of `n`,
/// rounded half up.
pub fn test_count(n: usize, test_percent: u32) -> usize {
    (n * test_percent as usize + 50) / 100
}

/// Splits item indices `0..labels.len()` into `(train, test)`, stratified by label.
///
/// One `SplitMix64` seeded with `seed` drives every step, in this order: for each label in
/// ascending order, shuffle that label's indices (taken in input order) and send the first
/// [`test_count`] of them to test and the rest to train; then shuffle train; then shuffle test.
/// So each split keeps the label proportions and neither is grouped by label.
pub fn stratified_split(labels: &[u8], test_percent: u32, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = SplitMix64::seed_from_u64(seed);
    let mut by_label: Vec<Vec<usize>> = vec![Vec::new(); 256];
    for (i, &label) in labels.iter().enumerate() {
        if let Some(class) = by_label.get_mut(usize::from(label)) {
            class.push(i);
        }
    }
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for class in by_label.iter_mut().filter(|c| !c.is_empty()) {
        shuffle(&mut rng, class);
        let n_test = test_count(class.len(), test_percent);
        let (to_test, to_train) = class.split_at(n_test.min(class.len()));
        test.extend_from_slice(to_test);
        train.extend_from_slice(to_train);
    }
    shuffle(&mut rng, &mut train);
    shuffle(&mut rng, &mut test);
    (train, test)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_reference_outputs() {
        // Python reference:
        //   M = 2**64
        //   def splitmix64(s):
        //       s = (s + 0x9E3779B97F4A7C15) % M; z = s
        //       z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % M
        //       z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % M
        //       return s, z ^ (z >> 31)
        //   s = 0
        //   for _ in range(3): s, z = splitmix64(s); print(hex(z))
        // -> 0xe220a8397b1dcdaf 0x6e789e6aa1b965f4 0x6c45d188009454f
        let mut rng = SplitMix64::seed_from_u64(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(rng.next_u64(), 0x06c4_5d18_8009_454f);
    }

    #[test]
    fn below_stays_in_range_and_shuffle_permutes() {
        let mut rng = SplitMix64::seed_from_u64(113);
        for n in 1..50 {
            assert!(below(&mut rng, n) < n);
        }
        let mut items: Vec<u32> = (0..100).collect();
        shuffle(&mut rng, &mut items);
        assert_ne!(items, (0..100).collect::<Vec<_>>());
        items.sort_unstable();
        assert_eq!(items, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn split_matches_the_python_port() {
        // The `split` of the Python cross-check in `convert.rs`'s module docs:
        //   print(split([0,0,0,1,1,1,1,2,2,2,2,2], 25, 113))
        // -> ([10, 11, 8, 2, 3, 7, 1, 5, 4], [0, 6, 9])
        let labels = [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2];
        assert_eq!(
            stratified_split(&labels, 25, 113),
            (vec![10, 11, 8, 2, 3, 7, 1, 5, 4], vec![0, 6, 9])
        );
    }

    #[test]
    fn test_count_rounds_half_up() {
        assert_eq!(test_count(12_500, 20), 2_500);
        assert_eq!(test_count(1_001, 20), 200); // 200.2
        assert_eq!(test_count(863, 20), 173); // 172.6
        assert_eq!(test_count(5, 50), 3); // 2.5
        assert_eq!(test_count(0, 20), 0);
    }

    #[test]
    fn split_is_stratified_disjoint_and_complete() {
        // Labels grouped as in the sources: 0s first, then 1s, then 2s.
        let counts = [1_001usize, 1_127, 863];
        let labels: Vec<u8> = counts
            .iter()
            .enumerate()
            .flat_map(|(l, &n)| std::iter::repeat_n(l as u8, n))
            .collect();
        let (train, test) = stratified_split(&labels, 20, 113);
        for (label, &n) in counts.iter().enumerate() {
            let in_test = test.iter().filter(|&&i| labels[i] == label as u8).count();
            let in_train = train.iter().filter(|&&i| labels[i] == label as u8).count();
            assert_eq!(in_test, test_count(n, 20));
            assert_eq!(in_train + in_test, n);
        }
        let mut all: Vec<usize> = train.iter().chain(&test).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..labels.len()).collect::<Vec<_>>());
    }

    #[test]
    fn split_is_not_grouped_by_label() {
        let labels: Vec<u8> = (0..2_000).map(|i| u8::from(i >= 1_000)).collect();
        let (train, test) = stratified_split(&labels, 20, 113);
        for part in [&train, &test] {
            // A grouped order would change label once; a shuffled one changes it often.
            let changes = part
                .windows(2)
                .filter(|w| labels[w[0]] != labels[w[1]])
                .count();
            assert!(
                changes > part.len() / 4,
                "{changes} changes in {}",
                part.len()
            );
        }
    }

    #[test]
    fn same_seed_same_split_other_seed_other_split() {
        let labels: Vec<u8> = (0..500).map(|i| (i % 7) as u8).collect();
        let a = stratified_split(&labels, 25, 113);
        assert_eq!(a, stratified_split(&labels, 25, 113));
        assert_ne!(a, stratified_split(&labels, 25, 114));
    }
}
