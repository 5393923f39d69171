//! The spectrogram front end: the STFT against numpy/scipy, the inverse, Griffin-Lim on a real
//! drum clip, and the per-bin normalisation.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test]

use gen_core::spectrogram::{
    BinNorm, GriffinLimConfig, SpectrogramConfig, SpectrogramImages, Stft, StftConfig, griffin_lim,
    spectral_convergence,
};
use proptest::prelude::*;
use tch::{Device, Kind, Tensor};

/// `sin(2 pi 1000 n / 16000) exp(-n / 4000) + 0.25 cos(2 pi 3125 n / 16000)`, n < 16384.
fn test_signal() -> Tensor {
    let x: Vec<f32> = (0..16_384)
        .map(|n| {
            let t = n as f64;
            ((std::f64::consts::TAU * 1000.0 * t / 16_000.0).sin() * (-t / 4000.0).exp()
                + 0.25 * (std::f64::consts::TAU * 3125.0 * t / 16_000.0).cos()) as f32
        })
        .collect();
    Tensor::from_slice(&x).view([1, -1])
}

/// The committed real clip: a tom from the CC0 Audiophob kit at 16 kHz
/// (`tests/fixtures/spectrogram/make_fixtures.py`).
fn tom() -> Tensor {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/spectrogram/tom_16k.wav"
    );
    let mut reader = hound::WavReader::open(path).unwrap();
    let x: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32768.0)
        .collect();
    assert_eq!(x.len(), 16_384);
    Tensor::from_slice(&x).view([1, -1])
}

#[test]
fn log_magnitude_matches_numpy() {
    // make_fixtures.py's `log_magnitude` (numpy 2.4.6, scipy 1.17.1):
    //   w = scipy.signal.get_window("hann", 256)    # periodic, as torch.hann_window
    //   xp = np.pad(x, 128, mode="reflect")
    //   S = np.stack([np.fft.rfft(xp[t*128:t*128+256] * w) for t in range(129)], axis=1)
    //   L = np.log(np.abs(S) + 1e-6)
    // on test_signal() gives shape (129, 129) and these entries (bin, frame). Entries near the
    // float32 noise floor (log |S| < -10) are not compared.
    let stft = Stft::new(&StftConfig::default(), Device::Cpu).unwrap();
    let l = stft.log_magnitude(&test_signal()).unwrap();
    assert_eq!(l.size(), [1, 129, 129]);
    for (f, t, want) in [
        (0, 0, 1.618793),
        (16, 0, 0.189240),
        (16, 10, 3.838950),
        (50, 64, 2.772589),
        (50, 128, 1.679587),
    ] {
        let got = l.double_value(&[0, f, t]);
        assert!((got - want).abs() < 1e-3, "({f}, {t}): {got} vs {want}");
    }
}

#[test]
fn inverse_recovers_the_signal() {
    let stft = Stft::new(&StftConfig::default(), Device::Cpu).unwrap();
    let x = Tensor::cat(&[test_signal(), tom()], 0);
    let back = stft.inverse(&stft.forward(&x).unwrap(), 16_384).unwrap();
    let err = (back - &x).abs().max().double_value(&[]);
    assert!(err < 1e-5, "max error {err}");
}

#[test]
fn griffin_lim_recovers_a_real_clips_spectrogram() {
    // The tom's magnitudes, phase thrown away, then 100 iterations of fast Griffin-Lim from a
    // zero-phase start. The reference is torchaudio's algorithm in float64 numpy,
    // `tests/fixtures/spectrogram/griffin_lim_reference.py`: spectral convergence
    // 0.2556159508281958 after 100 iterations, 0.8482893724763073 after none. (A percussive
    // clip keeps a fair share of its phase error; 300 iterations give 0.2557.)
    let stft = Stft::new(&StftConfig::default(), Device::Cpu).unwrap();
    let x = tom();
    let mag = stft.magnitude(&x).unwrap();
    let config = GriffinLimConfig::default();
    let wave = griffin_lim(&stft, &mag, 16_384, &config).unwrap();
    assert_eq!(wave.size(), [1, 16_384]);
    let sc = spectral_convergence(&stft, &mag, &wave).unwrap();
    eprintln!("spectral convergence after 100 iterations: {sc}");
    assert!(
        (sc - 0.255_615_950_828_195_8).abs() < 1e-4,
        "spectral convergence {sc}"
    );
    // More iterations do better than none (the zero-phase start).
    let none = GriffinLimConfig {
        iterations: 0,
        ..config
    };
    let start = griffin_lim(&stft, &mag, 16_384, &none).unwrap();
    let sc0 = spectral_convergence(&stft, &mag, &start).unwrap();
    assert!(
        (sc0 - 0.848_289_372_476_307_3).abs() < 1e-4,
        "{sc0} at the start"
    );
    assert!(sc < sc0 / 3.0, "{sc} vs {sc0} at the start");
    // Deterministic.
    let again = griffin_lim(&stft, &mag, 16_384, &config).unwrap();
    assert!(again.equal(&wave));
}

#[test]
fn shapes_are_checked() {
    let stft = Stft::new(&StftConfig::default(), Device::Cpu).unwrap();
    assert!(
        stft.forward(&Tensor::zeros([16_384], (Kind::Float, Device::Cpu)))
            .is_err()
    );
    let mag = Tensor::ones([1, 129, 100], (Kind::Float, Device::Cpu));
    assert!(griffin_lim(&stft, &mag, 16_384, &GriffinLimConfig::default()).is_err());
    assert!(
        Stft::new(
            &StftConfig {
                n_fft: 255,
                ..StftConfig::default()
            },
            Device::Cpu
        )
        .is_err()
    );
    assert!(
        Stft::new(
            &StftConfig {
                hop: 0,
                ..StftConfig::default()
            },
            Device::Cpu
        )
        .is_err()
    );
}

#[test]
fn images_of_clips_are_128_square_in_range_and_invert() {
    let config = SpectrogramConfig::default();
    let clips = Tensor::cat(&[test_signal(), tom()], 0);
    let front = SpectrogramImages::fit(&config, &clips, Device::Cpu).unwrap();
    let images = front.images(&clips).unwrap();
    assert_eq!(images.size(), [2, 1, 128, 128]);
    assert!(images.abs().max().double_value(&[]) <= 1.0);
    // Back to audio: the tom's own image comes back close to its magnitudes (the dropped
    // Nyquist bin and last frame aside).
    let tom_image = images.narrow(0, 1, 1);
    let wave = front.clips(&tom_image).unwrap();
    assert_eq!(wave.size(), [1, 16_384]);
    let target = front.magnitudes(&tom_image).unwrap();
    let sc = spectral_convergence(front.stft(), &target, &wave).unwrap();
    assert!(sc < 0.15, "spectral convergence {sc}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    /// Inside the clip, denormalize inverts normalize.
    #[test]
    fn denormalize_inverts_normalize(seed in 0i64..1000, clip in 1.0f64..5.0) {
        tch::manual_seed(seed);
        let x = Tensor::randn([3, 8, 5], (Kind::Float, Device::Cpu)) * 2.0 + 1.0;
        let norm = BinNorm::fit(&x, clip).unwrap();
        let y = norm.normalize(&x).unwrap();
        prop_assert!(y.abs().max().double_value(&[]) <= 1.0 + 1e-6);
        let back = norm.denormalize(&y).unwrap();
        // Entries that were not clipped come back.
        let inside = y.abs().lt(1.0 - 1e-6);
        let err = (back - &x).abs().masked_select(&inside).max().double_value(&[]);
        prop_assert!(err < 1e-4, "error {}", err);
    }
}
