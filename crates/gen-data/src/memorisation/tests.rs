use super::*;
use crate::splitmix::SplitMix64;
use ndarray::Array2;

#[test]
fn quantile_and_mann_whitney_match_numpy_and_scipy() {
    // import numpy as np; from scipy.stats import mannwhitneyu, norm
    // a = [0.1, 0.4, 0.4, 0.9, 1.3, 2.0]; b = [0.4, 0.8, 1.1, 1.5, 1.5, 2.2, 3.0]
    // r = mannwhitneyu(a, b, alternative='two-sided', method='asymptotic', use_continuity=False)
    // r.statistic == 11.0; -norm.isf(r.pvalue / 2) == -1.4384852978909133  (U < n_a n_b / 2)
    // np.quantile(b, 0.05) == 0.52; np.quantile(b, 0.5) == 1.5
    // np.quantile([3.0, 1.0, 2.0, 10.0], 0.3) == 1.9
    let a = [0.1, 0.4, 0.4, 0.9, 1.3, 2.0];
    let b = [0.4, 0.8, 1.1, 1.5, 1.5, 2.2, 3.0];
    let z = mann_whitney_z(&a, &b).unwrap();
    assert!((z + 1.438_485_297_890_913_3).abs() < 1e-12, "{z}");
    assert!((mann_whitney_z(&b, &a).unwrap() - 1.438_485_297_890_913_3).abs() < 1e-12);
    assert!((quantile(&b, 0.05).unwrap() - 0.52).abs() < 1e-12);
    assert!((quantile(&b, 0.5).unwrap() - 1.5).abs() < 1e-12);
    assert!((quantile(&[3.0, 1.0, 2.0, 10.0], 0.3).unwrap() - 1.9).abs() < 1e-12);
    assert_eq!(quantile(&[4.0], 0.05).unwrap(), 4.0);
    assert_eq!(mann_whitney_z(&[1.0, 1.0], &[1.0]).unwrap(), 0.0);
    assert!(quantile(&[], 0.5).is_err());
    assert!(quantile(&[1.0], 1.5).is_err());
    assert!(CopyTest::new(&[f64::NAN], &[1.0], 0.05).is_err());
}

/// Gaussian points: a training set, a held-out set from the same distribution, and two
/// "generators": one that returns training points with a little noise (a memorising model),
/// one that returns fresh draws (a model that generalises).
fn sets(seed: u64) -> (Array2<f64>, Array2<f64>, Array2<f64>, Array2<f64>) {
    let mut rng = SplitMix64::new(seed);
    let d = 8;
    // Uniform in [-1, 1) from the top 53 bits.
    let mut draw = |n: usize| {
        Array2::from_shape_fn((n, d), |_| {
            (rng.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
    };
    let train = draw(400);
    let heldout = draw(200);
    let fresh = draw(200);
    let noise = draw(200);
    let copies = Array2::from_shape_fn((200, d), |(i, j)| {
        train[[(i * 7) % 400, j]] + 0.01 * noise[[i, j]]
    });
    (train, heldout, fresh, copies)
}

fn nearest(q: &Array2<f64>, r: &Array2<f64>) -> Vec<f64> {
    nearest_euclidean(q.view(), r.view())
        .unwrap()
        .into_iter()
        .map(|(d, _)| d)
        .collect()
}

#[test]
fn a_memorising_generator_is_flagged_and_fresh_samples_are_not() {
    for seed in 0..5 {
        let (train, heldout, fresh, copies) = sets(seed);
        let base = nearest(&heldout, &train);
        let copied = CopyTest::new(&nearest(&copies, &train), &base, DEFAULT_QUANTILE).unwrap();
        assert!(copied.copying, "seed {seed}: {copied:?}");
        assert!(copied.fraction_below > 0.9, "{copied:?}");
        assert!(copied.mann_whitney_z < -10.0, "{copied:?}");
        let honest = CopyTest::new(&nearest(&fresh, &train), &base, DEFAULT_QUANTILE).unwrap();
        assert!(!honest.copying, "seed {seed}: {honest:?}");
        assert!(honest.mann_whitney_z.abs() < 3.5, "{honest:?}");
    }
}

#[test]
fn a_generator_that_copies_a_quarter_of_the_time_is_flagged() {
    let (train, heldout, fresh, copies) = sets(11);
    let mut mixed = fresh.clone();
    for i in 0..50 {
        mixed.row_mut(i).assign(&copies.row(i));
    }
    let base = nearest(&heldout, &train);
    let t = CopyTest::new(&nearest(&mixed, &train), &base, DEFAULT_QUANTILE).unwrap();
    assert!(t.copying, "{t:?}");
}

#[test]
fn nearest_dtw_finds_the_copied_demo() {
    let line = |slope: f64| {
        Array2::from_shape_fn((20, 2), |(i, j)| {
            i as f64 * if j == 0 { 1.0 } else { slope }
        })
    };
    let demos = [line(0.0), line(1.0), line(2.0)];
    let refs: Vec<_> = demos.iter().map(|d| d.view()).collect();
    let query = line(1.0);
    let got = nearest_dtw(&[query.view()], &refs).unwrap();
    assert_eq!(got, vec![(0.0, 1)]);
    assert!(nearest_dtw(&[query.view()], &[]).is_err());
}

#[test]
fn nearest_euclidean_closed_form() {
    let refs = ndarray::array![[0.0, 0.0], [3.0, 4.0]];
    let q = ndarray::array![[3.0, 4.5], [-1.0, 0.0]];
    assert_eq!(
        nearest_euclidean(q.view(), refs.view()).unwrap(),
        vec![(0.5, 1), (1.0, 0)]
    );
    assert!(nearest_euclidean(q.view(), ndarray::Array2::<f64>::zeros((0, 2)).view()).is_err());
}

mod rolls {
    use crate::memorisation::DEFAULT_QUANTILE;
    use crate::memorisation::rolls::*;
    use crate::music::PianoRoll;
    use crate::splitmix::SplitMix64;

    /// A chorale-like roll: four voices on the chords I, ii, iii, IV, V, vi of C major in
    /// close position over a bass, each chord held 1 or 2 quarter-note frames, `frames` long.
    fn chorale(rng: &mut SplitMix64, frames: usize) -> PianoRoll {
        // (bass, tenor, alto, soprano) MIDI notes.
        const CHORDS: [[u8; 4]; 6] = [
            [48, 55, 64, 72],
            [50, 57, 65, 74],
            [52, 59, 67, 76],
            [53, 60, 69, 77],
            [43, 59, 62, 67],
            [45, 57, 64, 72],
        ];
        let mut roll = PianoRoll::silent(frames);
        let mut t = 0;
        while t < frames {
            let chord = CHORDS[(rng.next_u64() % 6) as usize];
            // The soprano sometimes moves an octave or a step: more variety per window.
            let lift = [0u8, 0, 2, 12][(rng.next_u64() % 4) as usize];
            let hold = 1 + (rng.next_u64() % 2) as usize;
            for dt in 0..hold.min(frames - t) {
                for (v, &key) in chord.iter().enumerate() {
                    let key = if v == 3 { key + lift } else { key };
                    roll.set(t + dt, key).unwrap();
                }
            }
            t += hold;
        }
        roll
    }

    fn chorales(seed: u64, n: usize, frames: usize) -> Vec<PianoRoll> {
        let mut rng = SplitMix64::new(seed);
        (0..n).map(|_| chorale(&mut rng, frames)).collect()
    }

    #[test]
    fn hamming_distances_count_differing_cells_at_any_offset() {
        // A 16-frame window with C4 held throughout, found at frame 5 of a longer roll.
        let window = PianoRoll::from_cells(16, (0..16).map(|t| (t, 60))).unwrap();
        let host = PianoRoll::from_cells(30, (5..21).map(|t| (t, 60))).unwrap();
        let mut near = window.clone();
        near.set(3, 64).unwrap(); // one extra cell
        near.set(9, 67).unwrap(); // and another
        let refs = RollWindows::new([&host], 16, 1).unwrap();
        assert_eq!(refs.len(), 15);
        assert_eq!(refs.origin(5), Some((0, 5)));
        let q = RollWindows::new([&window, &near], 16, 16).unwrap();
        assert_eq!(nearest_hamming(&q, &refs).unwrap(), vec![(0, 5), (2, 5)]);
        // Shifted by one frame, the held note loses one frame and a silent one stays silent.
        let one_off = RollWindows::new([&window], 16, 1).unwrap();
        let shifted = PianoRoll::from_cells(16, (1..16).map(|t| (t, 60))).unwrap();
        let s = RollWindows::new([&shifted], 16, 16).unwrap();
        assert_eq!(nearest_hamming(&s, &one_off).unwrap(), vec![(1, 0)]);
        // Windows never straddle rolls, and a short tail is dropped.
        let w = RollWindows::new([&host, &window], 16, 16).unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(w.origin(1), Some((1, 0)));
        assert!(RollWindows::new([&host], 0, 1).is_err());
        let empty = RollWindows::new([&PianoRoll::silent(15)], 16, 1).unwrap();
        assert!(nearest_hamming(&q, &empty).is_err());
    }

    /// A "model" that replays training chorales is flagged; one whose chorales are fresh draws
    /// from the training distribution is not. The replays start at frame 5, off the 16-frame
    /// grid, so only a search at every training frame finds them.
    #[test]
    fn a_model_that_replays_training_chorales_is_flagged_and_a_fresh_one_is_not() {
        for seed in 0..4 {
            let train = chorales(100 + seed, 60, 56);
            let heldout = chorales(200 + seed, 30, 48);
            let fresh = chorales(300 + seed, 30, 64);
            let replay: Vec<PianoRoll> = train
                .iter()
                .take(20)
                .map(|r| PianoRoll::new(r.view().slice(ndarray::s![5.., ..]).to_owned()).unwrap())
                .collect();
            let a = audit_rolls(&train, &heldout, &replay, DEFAULT_QUANTILE, 4).unwrap();
            assert!(a.copying, "seed {seed}: {a:?}");
            assert_eq!(a.test.fraction_below, 1.0);
            assert!(a.test.threshold > 0.0, "{a:?}");
            assert!(a.test.mann_whitney_z < -5.0, "{a:?}");
            assert_eq!(a.train_windows, 60 * (56 - 15));
            assert_eq!(a.test.n_generated, 20 * 3); // 51 frames: 3 windows each
            assert_eq!(a.test.n_heldout, 30 * 3);
            let p = &a.closest[0];
            assert_eq!(
                (p.distance, p.train, p.train_start),
                (0, p.generated, p.generated_start + 5)
            );
            let b = audit_rolls(&train, &heldout, &fresh, DEFAULT_QUANTILE, 4).unwrap();
            assert!(!b.copying, "seed {seed}: {b:?}");
            assert!(b.test.mann_whitney_z.abs() < 3.5, "{b:?}");
            // A model that replays a quarter of the time is flagged too.
            let mut mixed = fresh.clone();
            mixed.truncate(22);
            mixed.extend(replay.iter().take(8).cloned());
            let m = audit_rolls(&train, &heldout, &mixed, DEFAULT_QUANTILE, 4).unwrap();
            assert!(m.copying, "seed {seed}: {m:?}");
        }
    }

    /// The 16-frame window of `p` in its training roll.
    fn window(train: &[PianoRoll], p: &RollPair) -> PianoRoll {
        let cells = train[p.train].view();
        PianoRoll::new(
            cells
                .slice(ndarray::s![p.train_start..p.train_start + 16, ..])
                .to_owned(),
        )
        .unwrap()
    }

    #[test]
    fn closest_pairs_draw_side_by_side_and_short_rolls_are_refused() {
        let train = chorales(1, 4, 32);
        let a = audit_rolls(&train, &train, &train, DEFAULT_QUANTILE, 3).unwrap();
        let img = pairs_image(&train, &train, &a.closest).unwrap();
        // Two 16-frame windows and a 4-frame gap at 4 px per frame; three rows 6 px apart, of
        // the keys that sound (at most 43 to 89: bass G2 to soprano F6) and two each side.
        let keys = |r: &PianoRoll| r.key_range().unwrap();
        let lo = a
            .closest
            .iter()
            .map(|p| keys(&window(&train, p)).0)
            .min()
            .unwrap();
        let hi = a
            .closest
            .iter()
            .map(|p| keys(&window(&train, p)).1)
            .max()
            .unwrap();
        let rows = u32::from(hi - lo) + 1 + 4;
        assert!(rows <= 89 - 43 + 1 + 4);
        assert_eq!(img.dimensions(), (36 * 4, 3 * rows * 2 + 2 * 6));
        // Identical windows draw identical halves.
        for y in 0..img.height() {
            for x in 0..16 * 4 {
                assert_eq!(
                    img.get_pixel(x, y),
                    img.get_pixel(x + 20 * 4, y),
                    "({x}, {y})"
                );
            }
        }
        assert!(pairs_image(&train, &train, &[]).is_err());
        let short = vec![PianoRoll::silent(15)];
        let err = audit_rolls(&train, &train, &short, DEFAULT_QUANTILE, 3).unwrap_err();
        assert!(err.to_string().contains("generated rolls"), "{err}");
    }
}
