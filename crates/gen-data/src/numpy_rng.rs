//! numpy's legacy `np.random.RandomState`, bit for bit, for Keras-exact shuffles.
//!
//! Keras seeds its dataset shuffles with `np.random.RandomState(seed)`; reproducing the same
//! example order needs the same generator:
//! - MT19937 (Matsumoto & Nishimura), seeded from an integer by the reference `init_genrand`,
//!   which is what numpy's `_legacy_seeding` does for an int seed in `[0, 2**32 - 1]`
//!   (`mt19937_seed`);
//! - `random_sample` as numpy's 53-bit double `((a >> 5) * 2**26 + (b >> 6)) / 2**53`;
//! - bounded integers by masked rejection sampling (`random_interval`), which legacy `randint`
//!   and `shuffle` use;
//! - `shuffle` as Fisher-Yates from the end: for `i` in `n-1..=1`, swap `i` with
//!   `random_interval(i)`.
//!
//! The MT19937 core is the reference algorithm: it is a few lines, and numpy's seeding and
//! derived draws are numpy-specific anyway. Tests pin it to the MT19937 reference stream and
//! to numpy's own outputs.

use crate::{Error, Result};

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// numpy's legacy `RandomState`: MT19937 with numpy's seeding and derived draws.
///
/// `RandomState::new(113)` is `np.random.RandomState(113)`; the same calls give the same
/// numbers as numpy.
#[derive(Clone)]
pub struct RandomState {
    key: [u32; N],
    pos: usize,
}

impl std::fmt::Debug for RandomState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomState")
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl RandomState {
    /// `np.random.RandomState(seed)` for an integer seed (MT19937 `init_genrand`).
    pub fn new(seed: u32) -> Self {
        let mut key = [0u32; N];
        let mut s = seed;
        for (i, k) in key.iter_mut().enumerate() {
            *k = s;
            // i + 1 <= 624 always fits in u32.
            s = 1_812_433_253u32
                .wrapping_mul(s ^ (s >> 30))
                .wrapping_add(i as u32 + 1);
        }
        RandomState { key, pos: N }
    }

    /// Like [`RandomState::new`] for a wider seed type, with numpy's range check.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] (`seed`) when `seed > 2**32 - 1`; numpy raises
    /// `ValueError: Seed must be between 0 and 2**32 - 1` there.
    pub fn try_new(seed: u64) -> Result<Self> {
        let seed = u32::try_from(seed).map_err(|_| {
            Error::invalid(
                "seed",
                format!("{seed} is not between 0 and 2**32 - 1 (numpy's RandomState range)"),
            )
        })?;
        Ok(Self::new(seed))
    }

    fn twist(&mut self) {
        for i in 0..N {
            let y = (self.key[i] & UPPER_MASK) | (self.key[(i + 1) % N] & LOWER_MASK);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            self.key[i] = self.key[(i + M) % N] ^ (y >> 1) ^ mag;
        }
        self.pos = 0;
    }

    /// The next raw 32-bit output (numpy `next_uint32`; `randint(0, 2**32, dtype=np.uint32)`).
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= N {
            self.twist();
        }
        let mut y = self.key[self.pos % N];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// The next 64-bit output: two 32-bit outputs, the first in the high half (numpy
    /// `mt19937_next64`).
    pub fn next_u64(&mut self) -> u64 {
        let hi = u64::from(self.next_u32());
        let lo = u64::from(self.next_u32());
        (hi << 32) | lo
    }

    /// A float in `[0, 1)` with 53 random bits, as `RandomState.random_sample()`.
    pub fn random_sample(&mut self) -> f64 {
        let a = f64::from(self.next_u32() >> 5);
        let b = f64::from(self.next_u32() >> 6);
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// A uniform integer in `[0, max]` by masked rejection sampling (numpy's
    /// `random_interval`): draw 32 bits (64 when `max > 2**32 - 1`), keep the lowest bits
    /// under the smallest all-ones mask `>= max`, and retry while the value exceeds `max`.
    pub fn random_interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mask = u64::MAX >> max.leading_zeros();
        if max <= u64::from(u32::MAX) {
            loop {
                let v = u64::from(self.next_u32()) & mask;
                if v <= max {
                    return v;
                }
            }
        }
        loop {
            let v = self.next_u64() & mask;
            if v <= max {
                return v;
            }
        }
    }

    /// A uniform integer in `[low, high)`, as legacy `RandomState.randint(low, high)` with
    /// the default `int64` dtype (masked rejection sampling over `high - low - 1`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] (`high`) when `high <= low`, as numpy's `ValueError`.
    pub fn randint(&mut self, low: i64, high: i64) -> Result<i64> {
        if high <= low {
            return Err(Error::invalid(
                "high",
                format!("randint needs low < high, got low = {low}, high = {high}"),
            ));
        }
        // high - low - 1 is in [0, 2**64 - 2]: compute it without overflow.
        let span = high.wrapping_sub(low).wrapping_sub(1) as u64;
        let off = self.random_interval(span);
        Ok(low.wrapping_add(off as i64))
    }

    /// Shuffles `x` in place exactly as `RandomState.shuffle(x)` on a 1-D array or list:
    /// for `i` from `len - 1` down to `1`, swap `x[i]` with `x[random_interval(i)]`.
    pub fn shuffle<T>(&mut self, x: &mut [T]) {
        for i in (1..x.len()).rev() {
            // j <= i < x.len() <= usize::MAX, so the conversion back is lossless.
            let j = self.random_interval(i as u64) as usize;
            x.swap(i, j);
        }
    }

    /// `RandomState.permutation(n)`: `0..n` shuffled by [`RandomState::shuffle`].
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        self.shuffle(&mut p);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The MT19937 reference stream (mt19937ar.c, init_genrand(5489)) starts 3499211612,
    /// 581869302, 3890346734, 3586334585, 545404204. numpy agrees:
    /// `np.random.RandomState(5489).randint(0, 2**32, size=5, dtype=np.uint32).tolist()`
    /// -> [3499211612, 581869302, 3890346734, 3586334585, 545404204]  (numpy 2.4.6)
    #[test]
    fn mt19937_reference_stream() {
        let mut r = RandomState::new(5489);
        let got: Vec<u32> = (0..5).map(|_| r.next_u32()).collect();
        assert_eq!(
            got,
            [3499211612, 581869302, 3890346734, 3586334585, 545404204]
        );
    }

    /// `np.random.RandomState(2**32 - 1).randint(0, 2**32, size=2, dtype=np.uint32).tolist()`
    /// -> [419326371, 479346978]
    #[test]
    fn largest_seed() {
        let mut r = RandomState::try_new(u64::from(u32::MAX)).unwrap();
        assert_eq!([r.next_u32(), r.next_u32()], [419326371, 479346978]);
        assert!(RandomState::try_new(1 << 32).is_err());
    }

    /// `a = np.arange(10); np.random.RandomState(113).shuffle(a); a.tolist()`
    /// -> [9, 3, 6, 1, 0, 7, 4, 8, 2, 5]
    #[test]
    fn shuffle_matches_numpy_seed_113() {
        let mut a: Vec<i64> = (0..10).collect();
        RandomState::new(113).shuffle(&mut a);
        assert_eq!(a, [9, 3, 6, 1, 0, 7, 4, 8, 2, 5]);
    }

    /// `np.random.RandomState(113).permutation(25).tolist()`
    #[test]
    fn permutation_matches_numpy() {
        let p = RandomState::new(113).permutation(25);
        assert_eq!(
            p,
            [
                18, 19, 3, 8, 13, 14, 1, 6, 9, 24, 4, 17, 11, 7, 22, 21, 20, 15, 0, 16, 23, 12, 10,
                2, 5
            ]
        );
    }

    /// Two shuffles continuing one stream, as keras.datasets.imdb does:
    /// `r = np.random.RandomState(113); a = np.arange(7); r.shuffle(a); b = np.arange(5);
    ///  r.shuffle(b)` -> a = [1, 3, 0, 6, 2, 4, 5], b = [2, 3, 4, 1, 0]
    #[test]
    fn shared_stream_like_keras_imdb() {
        let mut r = RandomState::new(113);
        let mut a: Vec<usize> = (0..7).collect();
        r.shuffle(&mut a);
        let mut b: Vec<usize> = (0..5).collect();
        r.shuffle(&mut b);
        assert_eq!(a, [1, 3, 0, 6, 2, 4, 5]);
        assert_eq!(b, [2, 3, 4, 1, 0]);
    }

    /// The IMDB-sized case:
    /// `a = np.arange(25000); np.random.RandomState(113).shuffle(a)`;
    /// `a[:5].tolist(), a[-5:].tolist(), int((a * np.arange(25000)).sum() % 1000000007)`
    /// -> [7798, 13226, 18078, 793, 17499], [11010, 16236, 22690, 4828, 14501], 982156892
    #[test]
    fn imdb_sized_shuffle() {
        let p = RandomState::new(113).permutation(25_000);
        assert_eq!(p[..5], [7798, 13226, 18078, 793, 17499]);
        assert_eq!(p[p.len() - 5..], [11010, 16236, 22690, 4828, 14501]);
        let check = p
            .iter()
            .enumerate()
            .map(|(i, &v)| (i * v) as u64)
            .sum::<u64>()
            % 1_000_000_007;
        assert_eq!(check, 982156892);
    }

    /// `x = list(range(6)); np.random.RandomState(1).shuffle(x); x` -> [2, 1, 4, 0, 3, 5]
    #[test]
    fn shuffle_list_seed_1() {
        let mut x: Vec<u8> = (0..6).collect();
        RandomState::new(1).shuffle(&mut x);
        assert_eq!(x, [2, 1, 4, 0, 3, 5]);
    }

    /// `[repr(x) for x in np.random.RandomState(0).random_sample(3)]`
    /// -> 0.5488135039273248, 0.7151893663724195, 0.6027633760716439
    #[test]
    fn random_sample_matches_numpy() {
        let mut r = RandomState::new(0);
        let got: Vec<f64> = (0..3).map(|_| r.random_sample()).collect();
        assert_eq!(
            got,
            [0.5488135039273248, 0.7151893663724195, 0.6027633760716439]
        );
    }

    /// `np.random.RandomState(42).randint(0, 10, size=8).tolist()` -> [6, 3, 7, 4, 6, 9, 2, 6]
    /// `np.random.RandomState(42).randint(-5, 1000000, size=5).tolist()`
    /// -> [121953, 671150, 131927, 365833, 259173]
    /// `np.random.RandomState(7).randint(0, 2**40, size=3).tolist()`
    /// -> [752595690692, 108744157686, 291964244179]   (64-bit draws)
    #[test]
    fn randint_matches_numpy() {
        let mut r = RandomState::new(42);
        let got: Vec<i64> = (0..8).map(|_| r.randint(0, 10).unwrap()).collect();
        assert_eq!(got, [6, 3, 7, 4, 6, 9, 2, 6]);
        let mut r = RandomState::new(42);
        let got: Vec<i64> = (0..5).map(|_| r.randint(-5, 1_000_000).unwrap()).collect();
        assert_eq!(got, [121953, 671150, 131927, 365833, 259173]);
        let mut r = RandomState::new(7);
        let got: Vec<i64> = (0..3).map(|_| r.randint(0, 1 << 40).unwrap()).collect();
        assert_eq!(got, [752595690692, 108744157686, 291964244179]);
        assert!(r.randint(3, 3).is_err());
        // The full i64 range does not overflow.
        let v = r.randint(i64::MIN, i64::MAX).unwrap();
        assert!(v < i64::MAX);
    }

    proptest! {
        #[test]
        fn shuffle_is_a_deterministic_permutation(seed in any::<u32>(), n in 0usize..200) {
            let a = RandomState::new(seed).permutation(n);
            let b = RandomState::new(seed).permutation(n);
            prop_assert_eq!(&a, &b);
            let mut sorted = a.clone();
            sorted.sort_unstable();
            prop_assert_eq!(sorted, (0..n).collect::<Vec<_>>());
        }

        #[test]
        fn random_interval_in_range(seed in any::<u32>(), max in any::<u64>()) {
            let mut r = RandomState::new(seed);
            for _ in 0..8 {
                prop_assert!(r.random_interval(max) <= max);
            }
        }
    }
}
