//! The GRU language model and its sampler: shapes, weight tying, carried state, and the laws
//! of greedy, temperature, top-k and top-p sampling.

use gen_models::GruConfig;
use gen_models::sampling::{sample_from_logits, top_k_filter, top_p_filter};
use gen_models::{
    Error, GruLanguageModel, GruLanguageModelConfig, Module, SamplingConfig, generate, sampler_rng,
};
use tch::{Device, Kind, Tensor, nn};

mod common;
use common::{max_abs_diff, read_in_two_pieces, seeded_lm as model, serial};

fn small_config(vocab: i64) -> GruLanguageModelConfig {
    GruLanguageModelConfig {
        vocab_size: vocab,
        embedding_dim: 8,
        hidden_size: 12,
        ..Default::default()
    }
}

fn ids(values: &[i64], batch: i64) -> Tensor {
    Tensor::from_slice(values).view([batch, -1])
}

#[test]
fn default_config_is_documented_and_strict() {
    let c = GruLanguageModelConfig::default();
    assert_eq!(
        (
            c.vocab_size,
            c.embedding_dim,
            c.hidden_size,
            c.dropout,
            c.tie_weights
        ),
        (256, 128, 256, 0.2, false)
    );
    assert_eq!(
        c.gru,
        GruConfig {
            num_layers: 2,
            dropout: 0.2,
            bidirectional: false
        }
    );
    let parsed: GruLanguageModelConfig =
        serde_json::from_str(r#"{"vocab_size": 90, "tie_weights": true}"#).unwrap();
    assert_eq!(parsed.vocab_size, 90);
    assert!(parsed.tie_weights);
    assert_eq!(parsed.hidden_size, 256);
    assert!(serde_json::from_str::<GruLanguageModelConfig>(r#"{"vocab": 90}"#).is_err());
    assert_eq!(SamplingConfig::default().max_tokens, 200);
    assert_eq!(SamplingConfig::default().temperature, 1.0);
    assert!(serde_json::from_str::<SamplingConfig>(r#"{"topk": 3}"#).is_err());
}

#[test]
fn shapes_of_logits_and_state() {
    let _s = serial();
    let (_vs, m) = model(0, &small_config(20));
    let x = ids(&(0..14).map(|i| i % 20).collect::<Vec<_>>(), 2);
    let (logits, h) = m.forward_with_state(&x, None, true).unwrap();
    assert_eq!(logits.size(), [2, 7, 20]);
    assert_eq!(logits.kind(), Kind::Float);
    assert_eq!(h.size(), [2, 2, 12]);
    assert_eq!(m.forward_t(&x, false).unwrap().size(), [2, 7, 20]);
    assert_eq!(m.zero_state(5).unwrap().size(), [2, 5, 12]);
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let _s = serial();
    let (_vs, m) = model(0, &small_config(20));
    let shape_err = |r: gen_models::Result<(Tensor, Tensor)>| match r {
        Err(Error::Shape { what, .. }) => what,
        other => panic!("expected a shape error, got {other:?}"),
    };
    // Rank 1, float ids, out-of-range and negative ids, a state of the wrong shape.
    assert_eq!(
        shape_err(m.forward_with_state(&Tensor::from_slice(&[1i64, 2]), None, false)),
        "language model token ids"
    );
    let float = Tensor::from_slice(&[1.0f32, 2.0]).view([1, 2]);
    assert_eq!(
        shape_err(m.forward_with_state(&float, None, false)),
        "language model token ids"
    );
    let err = m
        .forward_with_state(&ids(&[1, 20], 1), None, false)
        .unwrap_err();
    assert!(err.to_string().contains("found id 20"), "{err}");
    let err = m
        .forward_with_state(&ids(&[-1, 2], 1), None, false)
        .unwrap_err();
    assert!(err.to_string().contains("found id -1"), "{err}");
    let h = Tensor::zeros([1, 1, 12], (Kind::Float, Device::Cpu));
    assert_eq!(
        shape_err(m.forward_with_state(&ids(&[1, 2], 1), Some(&h), false)),
        "language model state h0"
    );
}

#[test]
fn invalid_configs_name_their_field() {
    let field = |config: GruLanguageModelConfig| {
        let vs = nn::VarStore::new(Device::Cpu);
        match GruLanguageModel::init(&vs.root(), &config) {
            Err(Error::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        }
    };
    assert_eq!(
        field(GruLanguageModelConfig {
            tie_weights: true,
            ..small_config(10)
        }),
        "tie_weights"
    );
    let mut bidirectional = small_config(10);
    bidirectional.gru.bidirectional = true;
    assert_eq!(field(bidirectional), "gru.bidirectional");
    assert_eq!(
        field(GruLanguageModelConfig {
            dropout: 1.0,
            ..small_config(10)
        }),
        "dropout"
    );
    assert_eq!(field(small_config(0)), "vocab_size");
}

#[test]
fn tied_weights_share_one_tensor() {
    let _s = serial();
    let config = GruLanguageModelConfig {
        vocab_size: 10,
        embedding_dim: 6,
        hidden_size: 6,
        tie_weights: true,
        ..Default::default()
    };
    let (vs, m) = model(1, &config);
    assert_eq!(
        m.output_weight().unwrap().data_ptr(),
        m.embedding_weight().data_ptr()
    );
    assert_eq!(m.output_weight().unwrap().size(), [10, 6]);
    // Stored once: no `head.weight` variable, so checkpoints hold the matrix once.
    let vars = vs.variables();
    assert!(vars.contains_key("embedding.weight") && vars.contains_key("head.bias"));
    assert!(!vars.contains_key("head.weight"), "{:?}", vars.keys());
    // Writing the embedding writes the output layer.
    tch::no_grad(|| {
        let _ = vs.variables()["embedding.weight"].get(3).fill_(0.25);
    });
    assert!(
        m.output_weight()
            .unwrap()
            .get(3)
            .eq(0.25)
            .all()
            .int64_value(&[])
            == 1
    );
    // Gradients from both uses reach the one variable: the output layer alone gives a gradient
    // to every row, the embedding lookup only to the rows read.
    let x = ids(&[1, 2, 3], 1);
    m.forward_t(&x, false).unwrap().sum(Kind::Float).backward();
    let grad = vs.variables()["embedding.weight"].grad();
    assert!(
        grad.abs()
            .sum_dim_intlist(1, false, Kind::Float)
            .gt(0.0)
            .all()
            .int64_value(&[])
            == 1
    );

    let untied = GruLanguageModelConfig {
        tie_weights: false,
        ..config
    };
    let (vs, m) = model(1, &untied);
    assert_ne!(
        m.output_weight().unwrap().data_ptr(),
        m.embedding_weight().data_ptr()
    );
    assert!(vs.variables().contains_key("head.weight"));
}

#[test]
fn carried_state_equals_one_pass() {
    let _s = serial();
    let (_vs, m) = model(2, &small_config(30));
    let seq: Vec<i64> = (0..2 * 11).map(|i| (i * 7 + 3) % 30).collect();
    let x = ids(&seq, 2);
    let (whole, h_whole) = m.forward_with_state(&x, None, false).unwrap();
    let (pieces, h_pieces) = read_in_two_pieces(&m, &x, 4);
    assert!(max_abs_diff(&pieces, &whole) < 1e-5);
    assert!(max_abs_diff(&h_pieces, &h_whole) < 1e-5);
    // Without the state the second half differs: the test can fail.
    let (b0, _) = m
        .forward_with_state(&x.narrow(1, 4, 7), None, false)
        .unwrap();
    assert!(max_abs_diff(&b0, &whole.narrow(1, 4, 7)) > 1e-3);
}

#[allow(clippy::unwrap_used)] // a test helper, outside any #[test] function
fn sample(m: &GruLanguageModel, prompt: &[i64], n: usize, cfg: &SamplingConfig) -> Vec<Vec<i64>> {
    generate(m, prompt, n, cfg, |_, _| {}).unwrap()
}

/// A model whose next-token distributions are peaked and vary (weights scaled by 3).
#[allow(clippy::unwrap_used)] // a test helper, outside any #[test] function
fn peaked_model(seed: i64, vocab: i64) -> (nn::VarStore, GruLanguageModel) {
    let (vs, m) = model(seed, &small_config(vocab));
    tch::no_grad(|| {
        for (_, mut v) in vs.variables() {
            let _ = v.f_mul_(&Tensor::from(3.0)).unwrap();
        }
    });
    (vs, m)
}

#[test]
fn greedy_is_the_argmax_of_each_step() {
    let _s = serial();
    let (_vs, m) = peaked_model(3, 25);
    let cfg = SamplingConfig {
        max_tokens: 30,
        greedy: true,
        ..Default::default()
    };
    let prompt = [4i64, 9, 1];
    let got = sample(&m, &prompt, 2, &cfg);
    assert_eq!(got[0], got[1], "greedy samples are all the same");
    // Recompute from scratch: each token is the argmax of the model over prompt + previous.
    let mut seq = prompt.to_vec();
    for &token in &got[0] {
        let logits = m.forward_t(&ids(&seq, 1), false).unwrap();
        let best = logits.get(0).get(-1).argmax(0, false).int64_value(&[]);
        assert_eq!(token, best);
        seq.push(token);
    }
    assert_eq!(got[0].len(), 30);
}

#[test]
fn zero_temperature_and_top_k_one_equal_greedy() {
    let _s = serial();
    let (_vs, m) = peaked_model(4, 25);
    let prompt = [7i64, 2];
    let greedy = sample(
        &m,
        &prompt,
        3,
        &SamplingConfig {
            max_tokens: 60,
            greedy: true,
            ..Default::default()
        },
    );
    for seed in 0..3 {
        let cold = SamplingConfig {
            max_tokens: 60,
            temperature: 1e-6,
            seed,
            ..Default::default()
        };
        assert_eq!(
            sample(&m, &prompt, 3, &cold),
            greedy,
            "temperature 1e-6, seed {seed}"
        );
        let zero = SamplingConfig {
            temperature: 0.0,
            ..cold.clone()
        };
        assert_eq!(sample(&m, &prompt, 3, &zero), greedy);
        let top1 = SamplingConfig {
            max_tokens: 60,
            top_k: Some(1),
            seed,
            ..Default::default()
        };
        assert_eq!(
            sample(&m, &prompt, 3, &top1),
            greedy,
            "top_k 1, seed {seed}"
        );
        let tiny_p = SamplingConfig {
            max_tokens: 60,
            top_p: Some(1e-9),
            seed,
            ..Default::default()
        };
        assert_eq!(
            sample(&m, &prompt, 3, &tiny_p),
            greedy,
            "top_p 1e-9, seed {seed}"
        );
    }
    // Plain sampling is not greedy here (the check can fail).
    let warm = sample(
        &m,
        &prompt,
        3,
        &SamplingConfig {
            max_tokens: 60,
            ..Default::default()
        },
    );
    assert_ne!(warm, greedy);
}

#[test]
fn same_seed_same_text_other_seed_other_text() {
    let _s = serial();
    let (_vs, m) = model(5, &small_config(40));
    let cfg = SamplingConfig {
        max_tokens: 100,
        seed: 11,
        ..Default::default()
    };
    let a = sample(&m, &[1, 2, 3], 4, &cfg);
    // libtorch's generator does not matter.
    tch::manual_seed(12345);
    let b = sample(&m, &[1, 2, 3], 4, &cfg);
    assert_eq!(a, b);
    let c = sample(
        &m,
        &[1, 2, 3],
        4,
        &SamplingConfig {
            seed: 12,
            ..cfg.clone()
        },
    );
    assert_ne!(a, c);
    for s in &c {
        assert_ne!(s, &a[0]);
    }
    // Samples of one call differ from each other.
    assert_ne!(a[0], a[1]);
    assert!(
        a.iter()
            .all(|s| s.len() == 100 && s.iter().all(|t| (0..40).contains(t)))
    );
}

#[test]
fn stop_token_ends_a_sample_and_the_callback_streams_every_token() {
    let _s = serial();
    let (_vs, m) = model(6, &small_config(6));
    let free = SamplingConfig {
        max_tokens: 80,
        seed: 3,
        ..Default::default()
    };
    let unstopped = sample(&m, &[0], 5, &free);
    let stop = 2i64;
    let cfg = SamplingConfig {
        stop_token: Some(stop),
        ..free
    };
    let mut streamed: Vec<Vec<i64>> = vec![Vec::new(); 5];
    let mut order = Vec::new();
    let got = generate(&m, &[0], 5, &cfg, |i, t| {
        streamed[i].push(t);
        order.push(i);
    })
    .unwrap();
    assert_eq!(
        streamed, got,
        "the callback sees exactly the returned tokens, in order"
    );
    assert_eq!(order.len(), got.iter().map(Vec::len).sum::<usize>());
    let mut ended = 0;
    for (with_stop, without) in got.iter().zip(&unstopped) {
        // Each sample is the unstopped one cut right after its first stop token.
        match without.iter().position(|&t| t == stop) {
            Some(p) => {
                assert_eq!(with_stop, &without[..=p]);
                ended += 1;
            }
            None => assert_eq!(with_stop, without),
        }
    }
    assert!(
        ended >= 3,
        "the stop token should occur in most of 5 samples of 80 tokens"
    );
    // Tokens stream step by step: sample 0's first token comes before any second token.
    assert_eq!(&order[..5], &[0, 1, 2, 3, 4]);
}

#[test]
fn generate_rejects_bad_arguments() {
    let _s = serial();
    let (_vs, m) = model(0, &small_config(10));
    let cfg = SamplingConfig::default();
    let field = |r: gen_models::Result<Vec<Vec<i64>>>| match r {
        Err(Error::Config { field, .. }) => field,
        other => panic!("expected a config error, got {other:?}"),
    };
    assert_eq!(field(generate(&m, &[], 1, &cfg, |_, _| {})), "prompt");
    assert_eq!(field(generate(&m, &[1, 10], 1, &cfg, |_, _| {})), "prompt");
    assert_eq!(field(generate(&m, &[1], 0, &cfg, |_, _| {})), "num_samples");
    let bad = SamplingConfig {
        temperature: -1.0,
        ..Default::default()
    };
    assert_eq!(
        field(generate(&m, &[1], 1, &bad, |_, _| {})),
        "sampling.temperature"
    );
    let bad = SamplingConfig {
        top_p: Some(0.0),
        ..Default::default()
    };
    assert_eq!(
        field(generate(&m, &[1], 1, &bad, |_, _| {})),
        "sampling.top_p"
    );
    let bad = SamplingConfig {
        top_k: Some(0),
        ..Default::default()
    };
    assert_eq!(
        field(generate(&m, &[1], 1, &bad, |_, _| {})),
        "sampling.top_k"
    );
    let none = SamplingConfig {
        max_tokens: 0,
        ..Default::default()
    };
    assert_eq!(
        generate(&m, &[1], 2, &none, |_, _| {}).unwrap(),
        vec![Vec::<i64>::new(); 2]
    );
}

#[test]
fn top_p_keeps_the_smallest_set_reaching_p() {
    let probs = [0.5, 0.3, 0.15, 0.05];
    assert_eq!(top_p_filter(&probs, 0.4), [0]);
    assert_eq!(top_p_filter(&probs, 0.5), [0]); // 0.5 reaches 0.5 exactly
    assert_eq!(top_p_filter(&probs, 0.7), [0, 1]);
    assert_eq!(top_p_filter(&probs, 0.8), [0, 1]); // 0.5 + 0.3 reaches 0.8 (despite rounding)
    assert_eq!(top_p_filter(&probs, 0.81), [0, 1, 2]);
    assert_eq!(top_p_filter(&probs, 0.95), [0, 1, 2]);
    assert_eq!(top_p_filter(&probs, 0.96), [0, 1, 2, 3]);
    assert_eq!(top_p_filter(&probs, 1.0), [0, 1, 2, 3]);
    assert_eq!(top_p_filter(&probs, 1e-9), [0], "at least one token");
    // Order does not matter, and unnormalised weights are read relative to their sum.
    assert_eq!(top_p_filter(&[0.15, 0.05, 0.5, 0.3], 0.7), [2, 3]);
    assert_eq!(top_p_filter(&[3.0, 10.0, 6.0, 1.0], 0.7), [1, 2]);
    assert!(top_p_filter(&[], 0.5).is_empty());
}

#[test]
fn top_k_keeps_the_k_largest() {
    let w = [0.1, 0.4, 0.2, 0.4, 0.3];
    assert_eq!(top_k_filter(&w, 1), [1]); // ties: lower id first
    assert_eq!(top_k_filter(&w, 3), [1, 3, 4]);
    assert_eq!(top_k_filter(&w, 9), [1, 3, 4, 2, 0]);
}

/// Draws `n` tokens from `logits` and returns the frequency of each.
#[allow(clippy::unwrap_used)] // a test helper, outside any #[test] function
fn frequencies(logits: &[f64], cfg: &SamplingConfig, n: usize) -> Vec<f64> {
    let mut rng = sampler_rng(cfg.seed, 0);
    let mut counts = vec![0usize; logits.len()];
    for _ in 0..n {
        counts[sample_from_logits(logits, cfg, &mut rng).unwrap()] += 1;
    }
    counts.into_iter().map(|c| c as f64 / n as f64).collect()
}

fn softmax(logits: &[f64], t: f64) -> Vec<f64> {
    let e: Vec<f64> = logits.iter().map(|l| (l / t).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

/// Frequencies of 200 000 draws are within 5 standard errors of the target probabilities.
fn assert_close(freq: &[f64], expected: &[f64]) {
    let n = 200_000.0;
    for (i, (f, p)) in freq.iter().zip(expected).enumerate() {
        let se = (p * (1.0 - p) / n).sqrt().max(1e-9);
        assert!(
            (f - p).abs() <= 5.0 * se,
            "token {i}: frequency {f} vs {p}; {freq:?}"
        );
    }
}

#[test]
fn draws_follow_the_filtered_softmax() {
    // p = [1, 2, 3, 4] / 10 at temperature 1.
    let logits: Vec<f64> = [1.0f64, 2.0, 3.0, 4.0].iter().map(|x| x.ln()).collect();
    let base = SamplingConfig {
        seed: 9,
        ..Default::default()
    };
    assert_close(&frequencies(&logits, &base, 200_000), &[0.1, 0.2, 0.3, 0.4]);
    // Temperature 2 takes square roots of the probabilities before renormalising.
    let hot = SamplingConfig {
        temperature: 2.0,
        ..base.clone()
    };
    assert_close(&frequencies(&logits, &hot, 200_000), &softmax(&logits, 2.0));
    // top_k 2 renormalises the two largest: 3/7 and 4/7.
    let k2 = SamplingConfig {
        top_k: Some(2),
        ..base.clone()
    };
    assert_close(
        &frequencies(&logits, &k2, 200_000),
        &[0.0, 0.0, 3.0 / 7.0, 4.0 / 7.0],
    );
    // top_p 0.65: 0.4 + 0.3 = 0.7 is the smallest mass reaching it.
    let p = SamplingConfig {
        top_p: Some(0.65),
        ..base.clone()
    };
    assert_close(
        &frequencies(&logits, &p, 200_000),
        &[0.0, 0.0, 3.0 / 7.0, 4.0 / 7.0],
    );
    // top_k 3 then top_p 0.5 of the renormalised [2, 3, 4] / 9: 4/9 < 0.5 <= 7/9.
    let kp = SamplingConfig {
        top_k: Some(3),
        top_p: Some(0.5),
        ..base
    };
    assert_close(
        &frequencies(&logits, &kp, 200_000),
        &[0.0, 0.0, 3.0 / 7.0, 4.0 / 7.0],
    );
    // -inf forbids a token; NaN is an error.
    let masked = [0.0, f64::NEG_INFINITY, 0.0];
    let f = frequencies(&masked, &SamplingConfig::default(), 10_000);
    assert_eq!(f[1], 0.0);
    let mut rng = sampler_rng(0, 0);
    assert!(sample_from_logits(&[0.0, f64::NAN], &SamplingConfig::default(), &mut rng).is_err());
    assert!(
        sample_from_logits(
            &[f64::NEG_INFINITY; 2],
            &SamplingConfig::default(),
            &mut rng
        )
        .is_err()
    );
    assert!(sample_from_logits(&[], &SamplingConfig::default(), &mut rng).is_err());
}
