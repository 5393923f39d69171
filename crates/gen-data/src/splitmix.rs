//! The seeded generator behind every shuffle of gen-data: SplitMix64 (Steele, Lea & Flood,
//! "Fast splittable pseudorandom number generators", OOPSLA 2014), with independent streams per
//! purpose and epoch, unbiased bounded integers and Fisher–Yates shuffles.
//!
//! The generator itself is `rand_xoshiro`'s, which follows Vigna's reference `splitmix64.c`;
//! this module adds what gen's reproducibility rests on, all in 64-bit integer arithmetic, so
//! the same seed gives the same numbers on every platform and every build:
//! [`SplitMix64::stream`], [`SplitMix64::below`] (Lemire's multiply-and-reject) and
//! [`SplitMix64::shuffle`]. These are not numpy's streams; see [`crate::numpy_rng`] for those.

use rand_xoshiro::rand_core::{Rng, SeedableRng};

/// The state increment (2^64 / golden ratio).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 generator: a 64-bit state advanced by the golden-ratio increment
/// `0x9E3779B97F4A7C15`, each output being the state passed through [`SplitMix64::mix`].
///
/// Small, fast, passes BigCrush, and identical on every platform. Not cryptographic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMix64(rand_xoshiro::SplitMix64);

impl SplitMix64 {
    /// A generator whose state starts at `seed` (the reference C code's `x = seed`).
    pub fn new(seed: u64) -> Self {
        Self(rand_xoshiro::SplitMix64::seed_from_u64(seed))
    }

    /// The generator for one purpose and epoch of a seed: its state is
    /// `mix(mix(seed ^ purpose) + epoch)` (wrapping add). Different purposes or epochs give
    /// unrelated streams; the same arguments always give the same stream.
    pub fn stream(seed: u64, purpose: u64, epoch: u64) -> Self {
        Self::new(Self::mix(Self::mix(seed ^ purpose).wrapping_add(epoch)))
    }

    /// SplitMix64's output function (a bijection on `u64`; the MurmurHash3 finaliser
    /// variant "Mix13" by David Stafford). It is the generator's next output from the state
    /// just before `z`, so the one implementation is the generator's.
    pub fn mix(z: u64) -> u64 {
        Self::new(z.wrapping_sub(GAMMA)).next_u64()
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A uniform integer in `0..bound`, without modulo bias (Lemire 2019, "Fast random integer
    /// generation in an interval"). Returns 0 when `bound` is 0.
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        let mut product = u128::from(self.next_u64()) * u128::from(bound);
        if (product as u64) < bound {
            // 2^64 mod bound: low parts below it would make some results more likely.
            let threshold = bound.wrapping_neg() % bound;
            while (product as u64) < threshold {
                product = u128::from(self.next_u64()) * u128::from(bound);
            }
        }
        (product >> 64) as u64
    }

    /// Shuffles `items` in place with Fisher–Yates: for `i` from `len - 1` down to 1, swap
    /// item `i` with item `below(i + 1)`.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            // `below(i + 1) <= i`, so the conversion back to usize is lossless.
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// A uniformly random permutation of `0..n`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut items: Vec<usize> = (0..n).collect();
        self.shuffle(&mut items);
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_reference_outputs() {
        // Reference outputs of the published C code (Vigna, prng.di.unimi.it/splitmix64.c),
        // also the Rosetta Code "Pseudo-random numbers/Splitmix64" task values for seed
        // 1234567. Cross-checked with this Python:
        //   M = (1 << 64) - 1
        //   def sm(s):
        //       while True:
        //           s = (s + 0x9E3779B97F4A7C15) & M; z = s
        //           z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
        //           z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
        //           yield z ^ (z >> 31)
        let mut rng = SplitMix64::new(1_234_567);
        let got: Vec<u64> = (0..5).map(|_| rng.next_u64()).collect();
        assert_eq!(
            got,
            [
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423,
                4_593_380_528_125_082_431,
                16_408_922_859_458_223_821,
            ]
        );
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn below_is_in_range_and_roughly_uniform() {
        let mut rng = SplitMix64::new(7);
        let mut counts = [0usize; 6];
        for _ in 0..60_000 {
            let v = rng.below(6) as usize;
            counts[v] += 1;
        }
        // Expected 10_000 each; 5 standard deviations is about 456.
        for c in counts {
            assert!((9_500..=10_500).contains(&c), "{counts:?}");
        }
        assert_eq!(rng.below(0), 0);
        assert_eq!(rng.below(1), 0);
        // A bound just above 2^63 has a large rejection zone; results must stay below it.
        let big = (1u64 << 63) + 12_345;
        for _ in 0..1_000 {
            assert!(rng.below(big) < big);
        }
    }

    #[test]
    fn shuffle_is_uniform_over_permutations_of_three() {
        let mut rng = SplitMix64::new(11);
        let mut counts = std::collections::BTreeMap::new();
        for _ in 0..60_000 {
            *counts.entry(rng.permutation(3)).or_insert(0usize) += 1;
        }
        assert_eq!(counts.len(), 6);
        for (perm, c) in &counts {
            assert!((9_500..=10_500).contains(c), "{perm:?}: {c}");
        }
    }

    /// A plain Python port of SplitMix64, `stream`, Lemire's `below` and Fisher–Yates, to pin
    /// the streams that batches, k-folds and checkpoints' resumed epochs depend on:
    ///
    /// ```text
    /// M = (1 << 64) - 1; G = 0x9E3779B97F4A7C15
    /// def mix(z):
    ///     z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    ///     z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    ///     return z ^ (z >> 31)
    /// class SM:
    ///     def __init__(s, seed): s.s = seed
    ///     def next(s): s.s = (s.s + G) & M; return mix(s.s)
    ///     def below(s, b):
    ///         p = s.next() * b
    ///         if (p & M) < b:
    ///             t = ((1 << 64) - b) % b
    ///             while (p & M) < t: p = s.next() * b
    ///         return p >> 64
    ///     def perm(s, n):
    ///         it = list(range(n))
    ///         for i in range(n - 1, 0, -1):
    ///             j = s.below(i + 1); it[i], it[j] = it[j], it[i]
    ///         return it
    /// for z in [0, 1, M, 0x0123456789ABCDEF]: print(hex(mix(z)))
    /// print(SM(mix((mix(42 ^ 0x62617463685F6570) + 3) & M)).perm(12))
    /// ```
    #[test]
    fn mix_and_streams_match_a_python_port() {
        assert_eq!(SplitMix64::mix(0), 0);
        assert_eq!(SplitMix64::mix(1), 0x5692_161d_100b_05e5);
        assert_eq!(SplitMix64::mix(u64::MAX), 0xb4d0_55fc_f2cb_bd7b);
        assert_eq!(
            SplitMix64::mix(0x0123_4567_89AB_CDEF),
            0xb2c0_58e4_ebb5_112c
        );
        assert_eq!(
            SplitMix64::stream(42, 0x6261_7463_685f_6570, 3).permutation(12),
            [3, 1, 9, 6, 4, 11, 10, 7, 5, 0, 8, 2]
        );
    }
}
