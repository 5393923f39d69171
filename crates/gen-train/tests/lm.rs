//! The language-model task: windows, the objective's metrics, held-out perplexity and bits per
//! token against closed forms, and a tiny LM that learns a text through the generic loop.

mod common;

use gen_data::text::CharVocab;
use gen_models::GruConfig;
use gen_models::{
    AdaptiveSoftmaxConfig, GruLanguageModel, GruLanguageModelConfig, Module, SamplingConfig,
    generate,
};
use gen_train::learner::Verbosity;
use gen_train::optim::{AdamConfig, GradClip, OptimizerConfig};
use gen_train::tasks::lm::{
    LmBatch, LmData, LmDataConfig, encode_prompt, evaluate_lm, evaluate_lm_carried,
    unigram_bits_per_token,
};
use gen_train::tasks::{Objective, Supervised};
use gen_train::{Dataset, Outcome, Trainer, TrainerConfig};
use tch::{Device, Tensor, nn::VarStore};

/// libtorch's generator is global to the process: tests that seed it run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[allow(clippy::unwrap_used)] // a test helper, outside any #[test] function
fn to_vec(t: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(t.reshape([-1])).unwrap()
}

#[test]
fn windows_do_not_overlap_and_targets_are_shifted() {
    let ids: Vec<i64> = (0..=10).collect();
    let data = LmData::new(ids, &LmDataConfig { seq_len: 3 }, Device::Cpu).unwrap();
    // 11 tokens: floor(10 / 3) = 3 windows; target 10 is left out.
    assert_eq!(data.len(), 3);
    assert_eq!(data.num_targets(), 9);
    let b = data.batch(&[2, 0]).unwrap();
    assert_eq!(b.inputs.size(), [2, 3]);
    assert_eq!(to_vec(&b.inputs), [6, 7, 8, 0, 1, 2]);
    assert_eq!(to_vec(&b.targets), [7, 8, 9, 1, 2, 3]);
    assert_eq!(to_vec(&data.batch(&[1]).unwrap().targets), [4, 5, 6]);
    assert!(data.batch(&[3]).is_err());
    assert!(data.batch(&[usize::MAX]).is_err());
    // Exactly seq_len + 1 tokens make one window.
    let one = LmData::new(vec![5, 6, 7], &LmDataConfig { seq_len: 2 }, Device::Cpu).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(LmDataConfig::default().seq_len, 128);
}

#[test]
fn bad_streams_are_rejected() {
    let cfg = |seq_len| LmDataConfig { seq_len };
    let err = LmData::new(vec![1, 2, 3], &cfg(3), Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("needs 4 tokens"), "{err}");
    assert!(LmData::new(vec![1, 2, 3], &cfg(0), Device::Cpu).is_err());
    let err = LmData::new(vec![1, -2, 3], &cfg(1), Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("position 1"), "{err}");
}

#[allow(clippy::unwrap_used)] // a test helper, outside any #[test] function
fn lm(seed: i64, config: &GruLanguageModelConfig) -> (VarStore, GruLanguageModel) {
    tch::manual_seed(seed);
    let vs = VarStore::new(Device::Cpu);
    let model = GruLanguageModel::init(&vs.root(), config).unwrap();
    (vs, model)
}

#[test]
fn uniform_logits_give_perplexity_v_and_log2_v_bits() {
    let _s = serial();
    let vocab = 7;
    let config = GruLanguageModelConfig {
        vocab_size: vocab,
        embedding_dim: 4,
        hidden_size: 5,
        ..Default::default()
    };
    let (vs, model) = lm(0, &config);
    // Zero output layer: every logit is 0, so p = 1/V for every token.
    tch::no_grad(|| {
        let mut vars = vs.variables();
        for name in ["head.weight", "head.bias"] {
            let _ = vars.get_mut(name).unwrap().zero_();
        }
    });
    let ids: Vec<i64> = (0..50).map(|i| (i * 3) % vocab).collect();
    let data = LmData::new(ids, &LmDataConfig { seq_len: 6 }, Device::Cpu).unwrap();
    let acc = evaluate_lm(&model, &data, 3).unwrap();
    // 50 tokens: floor(49 / 6) = 8 windows of 6 targets.
    assert_eq!(acc.count, 48);
    assert!((acc.perplexity().unwrap() - 7.0).abs() < 1e-5);
    assert!((acc.bits_per_token().unwrap() - 7f64.log2()).abs() < 1e-6);
    // The objective reports the same NLL as sums over tokens.
    let (loss, metrics) = model
        .forward_loss(&data.batch(&[0, 1, 2]).unwrap(), false)
        .unwrap();
    assert!((loss.double_value(&[]) - 7f64.ln()).abs() < 1e-6);
    assert!((metrics.mean("loss").unwrap() - 7f64.ln()).abs() < 1e-6);
    assert!((metrics.mean("bpt").unwrap() - 7f64.log2()).abs() < 1e-6);
    assert!(evaluate_lm(&model, &data, 0).is_err());
}

/// A small untrained LM (vocabulary 9, seeded by `seed`) and a 101-token stream cut into 10
/// windows of 10.
#[allow(clippy::unwrap_used)] // a test helper, outside any #[test] function
fn small_lm_on_a_stream(seed: i64) -> (VarStore, GruLanguageModel, Vec<i64>, LmData) {
    let config = GruLanguageModelConfig {
        vocab_size: 9,
        embedding_dim: 4,
        hidden_size: 6,
        ..Default::default()
    };
    let (vs, model) = lm(seed, &config);
    let ids: Vec<i64> = (0..101).map(|i| (i * i + 1) % 9).collect();
    let data = LmData::new(ids.clone(), &LmDataConfig { seq_len: 10 }, Device::Cpu).unwrap();
    (vs, model, ids, data)
}

#[test]
fn carried_evaluation_equals_reading_each_run_of_windows_whole() {
    let _s = serial();
    let (_vs, model, ids, data) = small_lm_on_a_stream(2);
    // The NLL of reading tokens `[from, from + n]` as one sequence from a zero state.
    let whole = |from: usize, n: usize| {
        let x = Tensor::from_slice(&ids[from..from + n]).view([1, n as i64]);
        let y = Tensor::from_slice(&ids[from + 1..from + n + 1]).view([1, n as i64]);
        let logits = tch::no_grad(|| model.forward_t(&x, false)).unwrap();
        let mut acc = gen_core::NllAccumulator::new();
        acc.add_batch(&logits, &y, None).unwrap();
        acc.nll_sum
    };
    // One stream: the 100 targets of the 10 windows read as one sequence.
    let one = evaluate_lm_carried(&model, &data, 1).unwrap();
    assert_eq!(one.count, 100);
    assert!((one.nll_sum - whole(0, 100)).abs() < 1e-3, "{one:?}");
    // Three streams over 10 windows: runs of 4, 3 and 3 windows, each read whole.
    let three = evaluate_lm_carried(&model, &data, 3).unwrap();
    assert_eq!(three.count, 100);
    let runs = whole(0, 40) + whole(40, 30) + whole(70, 30);
    assert!((three.nll_sum - runs).abs() < 1e-3, "{three:?} vs {runs}");
    // As many streams as windows is the zero-state windowed evaluation.
    let windowed = evaluate_lm(&model, &data, 4).unwrap();
    let ten = evaluate_lm_carried(&model, &data, 64).unwrap();
    assert!((ten.nll_sum - windowed.nll_sum).abs() < 1e-3);
    // Carrying the state changes the figure: it is not the windowed one under another name.
    assert!((one.nll_sum - windowed.nll_sum).abs() > 1e-6);
    assert!(evaluate_lm_carried(&model, &data, 0).is_err());
}

#[test]
fn evaluation_sums_over_batches_exactly() {
    let _s = serial();
    let (_vs, model, _, data) = small_lm_on_a_stream(1);
    // Batch size does not change the totals (a partial last batch of 3 windows vs one batch).
    let a = evaluate_lm(&model, &data, 7).unwrap();
    let b = evaluate_lm(&model, &data, 100).unwrap();
    assert_eq!(a.count, 100);
    assert!((a.nll_sum - b.nll_sum).abs() < 1e-3, "{a:?} vs {b:?}");
    // And equals the token mean of the objective (evaluation mode) times the token count.
    let all: Vec<usize> = (0..data.len()).collect();
    let (loss, _) = model
        .forward_loss(&data.batch(&all).unwrap(), false)
        .unwrap();
    assert!((loss.double_value(&[]) * 100.0 - a.nll_sum).abs() < 1e-3);
}

#[test]
fn taped_training_pass_equals_autograd() {
    // backward_loss runs the stacked GRU through its hand-written backward passes; without
    // dropout it must give the loss, metrics and every gradient of forward_loss + backward
    // (libtorch's own `gru` op under autograd).
    let _s = serial();
    let config = GruLanguageModelConfig {
        vocab_size: 11,
        embedding_dim: 4,
        hidden_size: 6,
        dropout: 0.0,
        gru: GruConfig {
            num_layers: 2,
            ..GruConfig::default()
        },
        ..Default::default()
    };
    let (vs, model) = lm(2, &config);
    let ids: Vec<i64> = (0..200).map(|i| (i * 7 + i / 3) % 11).collect();
    let data = LmData::new(ids, &LmDataConfig { seq_len: 8 }, Device::Cpu).unwrap();
    let batch = data.batch(&[0, 3, 5, 7, 9]).unwrap();
    common::assert_backward_loss_equals_autograd(&model, &vs, &batch, |_| true);
}

#[test]
fn adaptive_softmax_objective_reports_the_full_softmax_figures() {
    // With `adaptive`, the objective scores targets through the adaptive softmax's `nll` and
    // `predict`; its figures must be those of the full log-probabilities (`forward_t`), and its
    // taped training pass must equal autograd.
    let _s = serial();
    let config = GruLanguageModelConfig {
        vocab_size: 11,
        embedding_dim: 4,
        hidden_size: 8,
        dropout: 0.0,
        gru: GruConfig {
            num_layers: 2,
            ..GruConfig::default()
        },
        adaptive: Some(AdaptiveSoftmaxConfig {
            cutoffs: vec![3, 7],
            div_value: 2.0,
        }),
        ..Default::default()
    };
    let (vs, model) = lm(3, &config);
    tch::no_grad(|| {
        for (_, mut v) in vs.variables() {
            let _ = v.f_mul_(&Tensor::from(3.0)).unwrap();
        }
    });
    let ids: Vec<i64> = (0..200).map(|i| (i * 7 + i / 3) % 11).collect();
    let data = LmData::new(ids, &LmDataConfig { seq_len: 8 }, Device::Cpu).unwrap();
    let batch = data.batch(&[0, 3, 5, 7, 9]).unwrap();
    // Half the targets replaced by the model's own argmax, so the accuracy is not 0.
    let log_probs = model.forward_t(&batch.inputs, false).unwrap();
    let argmax = log_probs.argmax(-1, false);
    let half = Tensor::from_slice(&[true, false]).repeat([5, 4]);
    let batch = LmBatch {
        inputs: batch.inputs,
        targets: argmax.where_self(&half, &batch.targets),
    };
    let nll = -log_probs
        .gather(2, &batch.targets.unsqueeze(2), false)
        .sum(tch::Kind::Double)
        .double_value(&[]);
    let correct = to_vec(&argmax.eq_tensor(&batch.targets))
        .iter()
        .sum::<i64>() as f64;
    assert!((20.0..40.0).contains(&correct), "{correct}");
    let (loss, metrics) = model.forward_loss(&batch, false).unwrap();
    assert!(
        (loss.double_value(&[]) * 40.0 - nll).abs() < 1e-4,
        "{loss} vs {nll}"
    );
    assert!((metrics.mean("loss").unwrap() * 40.0 - nll).abs() < 1e-4);
    let bpt = nll / std::f64::consts::LN_2 / 40.0;
    assert!((metrics.mean("bpt").unwrap() - bpt).abs() < 1e-6);
    assert_eq!(metrics.mean("accuracy").unwrap(), correct / 40.0);
    common::assert_backward_loss_equals_autograd(&model, &vs, &batch, |_| true);

    // Training never computes the full log-probabilities: a cluster without targets (classes
    // 7..11) is never evaluated, so its layers get no gradient at all (not even zeros).
    let (vs, model) = lm(3, &config);
    let short = LmBatch {
        targets: batch.inputs.remainder(7),
        inputs: batch.inputs,
    };
    model.backward_loss(&short).unwrap();
    let vars = vs.variables();
    assert!(vars["adaptive.tail.0.0.weight"].grad().defined());
    assert!(!vars["adaptive.tail.1.0.weight"].grad().defined());
    assert!(!vars["adaptive.tail.1.1.weight"].grad().defined());
}

#[test]
fn unigram_baseline_matches_its_closed_form() {
    // Counts in train [0, 0, 1] with V = 3 and add-one: p = (3, 2, 1) / 6.
    let bits = unigram_bits_per_token(&[0, 0, 1], &[0, 2], 3).unwrap();
    let expected = -((3.0f64 / 6.0).log2() + (1.0f64 / 6.0).log2()) / 2.0;
    assert!((bits - expected).abs() < 1e-12);
    // A uniform train set gives log2 V.
    let bits = unigram_bits_per_token(&[0, 1, 2, 3], &[3, 1], 4).unwrap();
    assert!((bits - 2.0).abs() < 1e-12);
    assert!(unigram_bits_per_token(&[0, 4], &[0], 4).is_err());
    assert!(unigram_bits_per_token(&[0], &[-1], 4).is_err());
    assert!(unigram_bits_per_token(&[0], &[], 4).is_err());
    assert!(unigram_bits_per_token(&[0], &[0], 0).is_err());
}

#[test]
fn tiny_lm_learns_a_text_and_writes_it_back() {
    let _s = serial();
    let text = "hello world. ".repeat(40);
    let vocab = CharVocab::from_text(&text);
    let ids: Vec<i64> = vocab
        .encode(&text)
        .unwrap()
        .into_iter()
        .map(|i| i as i64)
        .collect();
    // seq_len 20 is prime to the period 13, so windows start at every phase of the text.
    let data = LmData::new(ids.clone(), &LmDataConfig { seq_len: 20 }, Device::Cpu).unwrap();
    let config = GruLanguageModelConfig {
        vocab_size: vocab.len() as i64,
        embedding_dim: 16,
        hidden_size: 48,
        gru: GruConfig {
            num_layers: 1,
            ..Default::default()
        },
        dropout: 0.0,
        tie_weights: false,
        adaptive: None,
    };
    let (vs, model) = lm(0, &config);
    let untrained = evaluate_lm(&model, &data, 32).unwrap().mean_nll().unwrap();
    let opt = OptimizerConfig::Adam(AdamConfig {
        lr: 0.01,
        ..Default::default()
    });
    let mut task = Supervised::new(model, vs, opt, GradClip::Norm(1.0)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let trainer_config = TrainerConfig {
        epochs: 35,
        batch_size: 8,
        seed: 1,
        ..Default::default()
    };
    let trainer = Trainer::new(trainer_config, dir.path()).verbosity(Verbosity::Silent);
    let (outcome, state) = trainer.fit(&mut task, &data, Some(&data), false).unwrap();
    assert_eq!(outcome, Outcome::Completed);
    let last = &state.history.last().unwrap().metrics;
    eprintln!("untrained NLL {untrained:.4}; after training {last:?}");
    // Only the first target of a window is ambiguous (one character of context), so the floor
    // is about 0.47 nats / 20 tokens = 0.023 nats per token.
    assert!(last["val_loss"] < 0.1, "{last:?}");
    assert!(untrained > 1.5, "untrained NLL {untrained}"); // ln 9 = 2.2 at chance
    assert!(last["val_accuracy"] > 0.95, "{last:?}");
    assert!((last["val_bpt"] - last["val_loss"] / std::f64::consts::LN_2).abs() < 1e-9);
    let held = evaluate_lm(&task.model, &data, 32).unwrap();
    assert!((held.mean_nll().unwrap() - last["val_loss"]).abs() < 1e-4);

    let prompt = encode_prompt(&vocab, "hel").unwrap();
    let cfg = SamplingConfig {
        max_tokens: 40,
        greedy: true,
        ..Default::default()
    };
    let out = generate(&task.model, &prompt, 2, &cfg, |_, _| {}).unwrap();
    let written: Vec<usize> = out[0].iter().map(|&t| t as usize).collect();
    let written = vocab.decode(&written).unwrap();
    assert_eq!(written, text[3..43]);
    // Sampling at a low temperature writes the same text.
    let cool = SamplingConfig {
        max_tokens: 40,
        temperature: 0.3,
        seed: 5,
        ..Default::default()
    };
    let out = generate(&task.model, &prompt, 1, &cool, |_, _| {}).unwrap();
    let written: Vec<usize> = out[0].iter().map(|&t| t as usize).collect();
    assert_eq!(vocab.decode(&written).unwrap(), text[3..43]);
}

#[test]
fn prompts_encode_with_a_space_fallback() {
    let vocab = CharVocab::from_text("hello world");
    let space = vocab.id(' ').unwrap() as i64;
    let h = vocab.id('h').unwrap() as i64;
    assert_eq!(encode_prompt(&vocab, "h?h").unwrap(), [h, space, h]);
    // Without a space the fallback is id 0.
    let no_space = CharVocab::from_text("ab");
    assert_eq!(encode_prompt(&no_space, "bz").unwrap(), [1, 0]);
    assert!(matches!(
        encode_prompt(&vocab, ""),
        Err(gen_train::Error::Config { .. })
    ));
}
