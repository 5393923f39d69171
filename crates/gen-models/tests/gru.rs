//! The GRU layer and the classifier against first principles and libtorch's own GRU kernels.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test and example code may panic.

use gen_models::layers::Embedding;
use gen_models::{
    Gru, GruClassifier, GruClassifierConfig, GruConfig, GruMode, GruOutput, Module, Pooling,
};
use tch::{Device, Kind, Tensor, nn};

mod common;
use common::max_abs_diff;

/// One GRU step written out from PyTorch's documented equations (torch.nn.GRU):
///   r = σ(W_ir x + b_ir + W_hr h + b_hr)
///   z = σ(W_iz x + b_iz + W_hz h + b_hz)
///   n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
///   h' = (1 − z) ⊙ n + z ⊙ h
/// with the gates stacked (r, z, n) along the rows of each weight.
fn reference_step(
    x: &Tensor,
    h: &Tensor,
    vars: &std::collections::HashMap<String, Tensor>,
) -> Tensor {
    let gi = x.linear(&vars["weight_ih_l0"], Some(&vars["bias_ih_l0"]));
    let gh = h.linear(&vars["weight_hh_l0"], Some(&vars["bias_hh_l0"]));
    let gi = gi.chunk(3, 1);
    let gh = gh.chunk(3, 1);
    let r = (&gi[0] + &gh[0]).sigmoid();
    let z = (&gi[1] + &gh[1]).sigmoid();
    let n = (&gi[2] + &r * &gh[2]).tanh();
    (1.0 - &z) * n + z * h
}

#[test]
fn gru_matches_the_documented_equations() {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let gru = Gru::new(&vs.root(), 3, 4, &GruConfig::default()).unwrap();
    let xs = Tensor::randn([2, 5, 3], (Kind::Float, Device::Cpu));
    let GruOutput {
        outputs: out,
        state: h_n,
        tapes,
    } = gru.forward(&xs, None, GruMode::Eval).unwrap();
    assert!(tapes.is_empty());
    let vars = vs.variables();
    let mut h = Tensor::zeros([2, 4], (Kind::Float, Device::Cpu));
    for t in 0..5 {
        h = reference_step(&xs.select(1, t), &h, &vars);
        assert!(max_abs_diff(&out.select(1, t), &h) < 1e-5, "step {t}");
    }
    assert!(max_abs_diff(&h_n.select(0, 0), &h) < 1e-5);
}

/// libtorch's GRU over packed sequences, the reference for ragged batches: PyTorch's
/// `nn.GRU(batch_first=True)` over `pack_padded_sequence(xs, lengths, batch_first=True,
/// enforce_sorted=False)`, unpacked with `pad_packed_sequence(.., total_length=time)`. Runs
/// libtorch's `gru_data` on the variables of the `Gru` built under `prefix` in `vs`;
/// returns the outputs `[B, T, dirs * H]` (zero past each length) and the state at each
/// sequence's last real step.
fn packed_reference(
    vs: &nn::VarStore,
    prefix: &str,
    config: &GruConfig,
    xs: &Tensor,
    lengths: &[i64],
) -> (Tensor, Tensor) {
    let vars = vs.variables();
    let dirs = if config.bidirectional { 2 } else { 1 };
    let mut params = Vec::new();
    for layer in 0..config.num_layers {
        for suffix in ["", "_reverse"].into_iter().take(dirs) {
            for name in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] {
                params.push(vars[&format!("{prefix}.{name}_l{layer}{suffix}")].shallow_clone());
            }
        }
    }
    let (batch, time) = (xs.size()[0], xs.size()[1]);
    let hidden = params[1].size()[1];
    // libtorch packs sequences sorted by decreasing length.
    let (sorted, order) = Tensor::from_slice(lengths).sort(0, true);
    let inverse = order.argsort(0, false);
    let (data, batch_sizes) = xs
        .index_select(0, &order)
        .internal_pack_padded_sequence(&sorted, true);
    let h0 = Tensor::zeros(
        [config.num_layers * dirs as i64, batch, hidden],
        (Kind::Float, Device::Cpu),
    );
    let (out, h_n) = Tensor::gru_data(
        &data,
        &batch_sizes,
        &h0,
        &params,
        true,
        config.num_layers,
        0.0,
        false,
        config.bidirectional,
    );
    let (out, _) = Tensor::internal_pad_packed_sequence(&out, &batch_sizes, true, 0.0, time);
    (out.index_select(0, &inverse), h_n.index_select(1, &inverse))
}

#[test]
fn token_gru_reads_only_the_real_steps() {
    // Each sequence of a ragged batch, run alone over its real steps only through libtorch's
    // dense `gru` op, gives the batched outputs and state; padding outputs are zero. With
    // autograd on (gen's recurrence under autograd) and off (the recorded recurrence).
    tch::manual_seed(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let config = GruConfig {
        num_layers: 2,
        bidirectional: true,
        ..Default::default()
    };
    let emb = Embedding::new(&(vs.root() / "emb"), 20, 3, Some(0)).unwrap();
    let gru = Gru::new(&(vs.root() / "gru"), 3, 4, &config).unwrap();
    let tokens = Tensor::randint_low(1, 20, [3, 6], (Kind::Int64, Device::Cpu));
    let lengths = Tensor::from_slice(&[4i64, 6, 2]);
    for no_grad in [false, true] {
        let run = || {
            gru.forward_tokens(&emb, &tokens, &lengths, GruMode::Eval)
                .unwrap()
        };
        let GruOutput {
            outputs: out,
            state: h_n,
            tapes,
        } = if no_grad { tch::no_grad(run) } else { run() };
        assert!(tapes.is_empty(), "evaluation leaves nothing to run by hand");
        assert_eq!(out.size(), [3, 6, 8]);
        assert_eq!(h_n.size(), [4, 3, 4]);
        for (b, len) in [4i64, 6, 2].into_iter().enumerate() {
            let b = b as i64;
            let alone = emb
                .forward(&tokens.narrow(0, b, 1).narrow(1, 0, len))
                .unwrap();
            let reference = gru.forward(&alone, None, GruMode::Eval).unwrap();
            let got = out.narrow(0, b, 1).narrow(1, 0, len);
            assert!(
                max_abs_diff(&got, &reference.outputs) < 1e-5,
                "outputs of sequence {b}, no_grad {no_grad}"
            );
            assert!(
                max_abs_diff(&h_n.narrow(1, b, 1), &reference.state) < 1e-5,
                "state of sequence {b}, no_grad {no_grad}"
            );
            if len < 6 {
                let past = out.narrow(0, b, 1).narrow(1, len, 6 - len);
                assert_eq!(
                    past.abs().max().double_value(&[]),
                    0.0,
                    "padding of {b} is zero"
                );
            }
        }
    }
}

fn classifier(pooling: Pooling, bidirectional: bool) -> (nn::VarStore, GruClassifier) {
    tch::manual_seed(2);
    let vs = nn::VarStore::new(Device::Cpu);
    let config = GruClassifierConfig {
        vocab_size: 30,
        embedding_dim: 6,
        hidden_size: 5,
        gru: GruConfig {
            bidirectional,
            ..Default::default()
        },
        pooling,
        ..Default::default()
    };
    let model = GruClassifier::init(&vs.root(), &config).unwrap();
    (vs, model)
}

#[test]
fn appended_padding_does_not_change_the_output() {
    for pooling in [Pooling::Last, Pooling::Mean, Pooling::Max] {
        for bidirectional in [false, true] {
            let (_vs, model) = classifier(pooling, bidirectional);
            let tokens = Tensor::from_slice(&[4i64, 9, 12, 0, 7, 3, 0, 0]).view([2, 4]);
            let lengths = Tensor::from_slice(&[3i64, 2]);
            let short = model.forward_t((&tokens, &lengths), false).unwrap();
            let padded = Tensor::cat(
                &[
                    tokens.shallow_clone(),
                    Tensor::zeros([2, 100], (Kind::Int64, Device::Cpu)),
                ],
                1,
            );
            let long = model.forward_t((&padded, &lengths), false).unwrap();
            assert!(
                max_abs_diff(&short, &long) < 1e-6,
                "{pooling:?} bidirectional={bidirectional}"
            );
        }
    }
}

#[test]
fn classifier_rejects_bad_shapes_and_configs() {
    let (_vs, model) = classifier(Pooling::Last, false);
    let flat = Tensor::from_slice(&[1i64, 2, 3]);
    let err = model
        .forward_t((&flat, &Tensor::from_slice(&[3i64])), false)
        .unwrap_err();
    assert!(err.to_string().contains("[batch, time]"), "{err}");
    let tokens = Tensor::from_slice(&[1i64, 2, 3, 4]).view([2, 2]);
    let err = model
        .forward_t((&tokens, &Tensor::from_slice(&[2i64])), false)
        .unwrap_err();
    assert!(err.to_string().contains("lengths"), "{err}");
    let vs = nn::VarStore::new(Device::Cpu);
    let bad = GruClassifierConfig {
        num_classes: 1,
        ..Default::default()
    };
    let err = GruClassifier::init(&vs.root(), &bad).unwrap_err();
    assert!(err.to_string().contains("num_classes"), "{err}");
}

#[test]
fn padding_embedding_is_zero_and_gets_no_gradient() {
    let (vs, model) = classifier(Pooling::Last, false);
    let weight = &vs.variables()["embedding.weight"];
    assert_eq!(weight.get(0).abs().sum(Kind::Float).double_value(&[]), 0.0);
    let tokens = Tensor::from_slice(&[0i64, 5, 0, 6]).view([2, 2]);
    let lengths = Tensor::from_slice(&[2i64, 2]);
    let loss = model
        .forward_t((&tokens, &lengths), true)
        .unwrap()
        .sum(Kind::Float);
    loss.backward();
    let grad = weight.grad();
    assert_eq!(grad.get(0).abs().sum(Kind::Float).double_value(&[]), 0.0);
    assert!(grad.get(5).abs().sum(Kind::Float).double_value(&[]) > 0.0);
}

/// Back-propagates `loss`; returns every variable's gradient by name and zeroes them.
fn grads_of(vs: &nn::VarStore, loss: Tensor) -> Vec<(String, Tensor)> {
    loss.backward();
    take_grads(vs)
}

/// Every variable's gradient by name (sorted; zeros where none reached it), zeroing them.
fn take_grads(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut vars: Vec<_> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let grads = vars
        .iter()
        .map(|(name, t)| {
            let g = t.grad();
            (
                name.clone(),
                if g.defined() {
                    g.copy()
                } else {
                    t.zeros_like()
                },
            )
        })
        .collect();
    for (_, t) in &mut vars {
        t.zero_grad();
    }
    grads
}

#[test]
fn token_gru_under_autograd_equals_libtorch_dense_and_packed_with_all_gradients() {
    // vocab 9 <= batch * time = 28 takes the table path; vocab 40 > 28 embeds first. Both must
    // equal `Embedding::forward` followed by libtorch's `gru` op (full lengths) or its packed
    // sequences (ragged lengths), gradients included, and the padding row 0 must get no
    // gradient on either path.
    for vocab in [9i64, 40] {
        for (layers, bidirectional) in [(1, false), (2, false), (1, true), (2, true)] {
            tch::manual_seed(11);
            let vs = nn::VarStore::new(Device::Cpu);
            let emb = Embedding::new(&(vs.root() / "emb"), vocab, 5, Some(0)).unwrap();
            let config = GruConfig {
                num_layers: layers,
                bidirectional,
                ..Default::default()
            };
            let gru = Gru::new(&(vs.root() / "gru"), 5, 6, &config).unwrap();
            let tokens = Tensor::randint_low(0, vocab, [4, 7], (Kind::Int64, Device::Cpu));
            let weights = Tensor::randn([4, 7, gru.output_size()], (Kind::Float, Device::Cpu));
            let hw = Tensor::randn(
                [layers * if bidirectional { 2 } else { 1 }, 4, 6],
                (Kind::Float, Device::Cpu),
            );
            let loss = |out: &Tensor, h: &Tensor| {
                (out * &weights).sum(Kind::Float) + (h * &hw).sum(Kind::Float)
            };
            for ragged in [false, true] {
                let lengths: &[i64] = if ragged { &[7, 3, 1, 5] } else { &[7; 4] };
                let what =
                    format!("vocab {vocab}, {layers} layers, bi {bidirectional}, ragged {ragged}");
                let (out_a, h_a) = if ragged {
                    packed_reference(&vs, "gru", &config, &emb.forward(&tokens).unwrap(), lengths)
                } else {
                    let dense = gru
                        .forward(&emb.forward(&tokens).unwrap(), None, GruMode::Train)
                        .unwrap();
                    (dense.outputs, dense.state)
                };
                let reference = grads_of(&vs, loss(&out_a, &h_a));
                let out_b = gru
                    .forward_tokens(&emb, &tokens, &Tensor::from_slice(lengths), GruMode::Train)
                    .unwrap();
                assert!(
                    out_b.tapes.is_empty(),
                    "autograd leaves nothing to run by hand"
                );
                assert!(
                    max_abs_diff(&out_a, &out_b.outputs) < 1e-5,
                    "outputs, {what}"
                );
                assert!(max_abs_diff(&h_a, &out_b.state) < 1e-5, "states, {what}");
                let tested = grads_of(&vs, loss(&out_b.outputs, &out_b.state));
                for ((name, a), (_, b)) in reference.iter().zip(&tested) {
                    assert!(max_abs_diff(a, b) < 1e-4, "gradient of {name}, {what}");
                    assert!(
                        a.abs().max().double_value(&[]) > 0.0,
                        "{name} gets a gradient"
                    );
                }
                let emb_grad = &tested.iter().find(|(n, _)| n == "emb.weight").unwrap().1;
                assert_eq!(
                    emb_grad.get(0).abs().sum(Kind::Float).double_value(&[]),
                    0.0
                );
            }
        }
    }
}

#[test]
fn hand_written_backward_equals_autograd() {
    // The classifier's taped training pass (manual backpropagation through time), and its
    // no-grad inference, against the autograd path, for every pooling, full and ragged
    // lengths, both the table path (vocab 12 <= 4 * 7 tokens) and the embed-first path
    // (vocab 50), 1-3 layers and both directions: the logits and every variable's gradient
    // agree.
    for (vocab, pooling, ragged, layers, bidirectional) in [
        (12i64, Pooling::Last, true, 1, false),
        (12, Pooling::Last, false, 1, false),
        (12, Pooling::Mean, true, 1, false),
        (50, Pooling::Max, true, 1, false),
        (50, Pooling::Last, true, 1, false),
        (12, Pooling::Last, true, 2, false),
        (12, Pooling::Max, true, 3, false),
        (50, Pooling::Mean, true, 2, false),
        (12, Pooling::Last, true, 1, true),
        (12, Pooling::Mean, false, 2, true),
        (50, Pooling::Last, true, 2, true),
        (12, Pooling::Max, true, 3, true),
    ] {
        tch::manual_seed(5);
        let vs = nn::VarStore::new(Device::Cpu);
        let config = GruClassifierConfig {
            vocab_size: vocab,
            embedding_dim: 5,
            hidden_size: 6,
            num_classes: 3,
            pooling,
            gru: GruConfig {
                num_layers: layers,
                bidirectional,
                ..GruConfig::default()
            },
            ..GruClassifierConfig::default()
        };
        let model = GruClassifier::init(&vs.root(), &config).unwrap();
        let tokens = Tensor::randint_low(0, vocab, [4, 7], (Kind::Int64, Device::Cpu));
        let lengths = if ragged {
            Tensor::from_slice(&[7i64, 2, 1, 5])
        } else {
            Tensor::from_slice(&[7i64, 7, 7, 7])
        };
        let w = Tensor::randn([4, 3], (Kind::Float, Device::Cpu));
        // Inference without autograd runs the same recorded recurrence.
        let eval_graph = model.forward_t((&tokens, &lengths), false).unwrap();
        let eval_fast = tch::no_grad(|| model.forward_t((&tokens, &lengths), false).unwrap());
        assert!(
            max_abs_diff(&eval_graph, &eval_fast) < 1e-5,
            "no-grad logits"
        );
        let logits_a = model.forward_t((&tokens, &lengths), true).unwrap();
        let reference = grads_of(&vs, (&logits_a * &w).sum(Kind::Float));
        let (logits_b, tapes) = model.forward_taped(&tokens, &lengths).unwrap();
        assert!(max_abs_diff(&logits_a, &logits_b) < 1e-5, "logits");
        assert!(!tapes.is_empty(), "the taped pass runs by hand");
        tapes
            .backward_after(&(&logits_b * &w).sum(Kind::Float))
            .unwrap();
        let tested = take_grads(&vs);
        for ((name, a), (_, b)) in reference.iter().zip(&tested) {
            assert!(
                max_abs_diff(a, b) < 1e-5,
                "gradient of {name} ({vocab}, {pooling:?}, ragged {ragged}, {layers} layers, bi {bidirectional}): {}",
                max_abs_diff(a, b)
            );
            assert!(
                a.abs().max().double_value(&[]) > 0.0,
                "{name} gets a gradient ({layers} layers, bi {bidirectional})"
            );
        }
    }
}

#[test]
fn token_gru_needs_a_step() {
    let vs = nn::VarStore::new(Device::Cpu);
    let config = GruConfig {
        bidirectional: true,
        ..Default::default()
    };
    let emb = Embedding::new(&(vs.root() / "e"), 10, 3, Some(0)).unwrap();
    let gru = Gru::new(&(vs.root() / "g"), 3, 4, &config).unwrap();
    let lengths = Tensor::from_slice(&[3i64]);
    let tokens = Tensor::from_slice(&[1i64, 2, 3]).view([1, 3]);
    let taped = gru
        .forward_tokens(&emb, &tokens, &lengths, GruMode::Taped)
        .unwrap();
    assert!(!taped.tapes.is_empty());
    let none = Tensor::zeros([1, 0], (Kind::Int64, Device::Cpu));
    for mode in [GruMode::Eval, GruMode::Train, GruMode::Taped] {
        let err = gru.forward_tokens(&emb, &none, &lengths, mode).unwrap_err();
        assert!(err.to_string().contains("gru tokens"), "{err}");
    }
}

#[test]
fn stepper_matches_the_whole_sequence_run() {
    // Two layers, from a non-zero state: stepping token by token through the stepper (layer
    // 0's projection gathered from its input table) gives the outputs and final state of
    // one `forward` over the whole sequence.
    tch::manual_seed(4);
    let vs = nn::VarStore::new(Device::Cpu);
    let config = GruConfig {
        num_layers: 2,
        ..GruConfig::default()
    };
    let gru = Gru::new(&vs.root(), 3, 5, &config).unwrap();
    let table_inputs = Tensor::randn([7, 3], (Kind::Float, Device::Cpu));
    let tokens = Tensor::from_slice(&[3i64, 0, 6, 6, 2, 1, 5, 4]).view([2, 4]);
    let xs = table_inputs
        .index_select(0, &tokens.view([-1]))
        .view([2, 4, 3]);
    let h0 = Tensor::randn([2, 2, 5], (Kind::Float, Device::Cpu));
    let GruOutput {
        outputs: out,
        state: h_n,
        ..
    } = gru.forward(&xs, Some(&h0), GruMode::Eval).unwrap();

    let stepper = gru.stepper().unwrap();
    let table = stepper.input_table(&table_inputs).unwrap();
    assert_eq!(table.size(), [7, 15]);
    let mut state: Vec<Tensor> = h0.unbind(0);
    for t in 0..4 {
        let gi = table.index_select(0, &tokens.select(1, t));
        let top = stepper.step(&gi, &mut state).unwrap();
        assert!(max_abs_diff(&top, &out.select(1, t)) < 1e-5, "step {t}");
    }
    assert!(max_abs_diff(&Tensor::stack(&state, 0), &h_n) < 1e-5);
    // The state must have one tensor per layer.
    let gi = table.index_select(0, &tokens.select(1, 0));
    assert!(stepper.step(&gi, &mut state[..1]).is_err());
    // A bidirectional GRU cannot step.
    let bi = GruConfig {
        bidirectional: true,
        ..GruConfig::default()
    };
    let vs2 = nn::VarStore::new(Device::Cpu);
    assert!(Gru::new(&vs2.root(), 3, 5, &bi).unwrap().stepper().is_err());
}

#[test]
fn stepper_in_double_precision_runs_libtorch_kernels() {
    // Off the CPU-f32 fused kernel, each step is libtorch's GRU cell: in f64 it must match
    // libtorch's `gru` op over the whole sequence to f64 rounding.
    tch::manual_seed(6);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let config = GruConfig {
        num_layers: 2,
        ..GruConfig::default()
    };
    let gru = Gru::new(&vs.root(), 3, 5, &config).unwrap();
    vs.double();
    let xs = Tensor::randn([2, 4, 3], (Kind::Double, Device::Cpu));
    let h0 = Tensor::randn([2, 2, 5], (Kind::Double, Device::Cpu));
    let whole = gru.forward(&xs, Some(&h0), GruMode::Eval).unwrap();
    let stepper = gru.stepper().unwrap();
    let mut state: Vec<Tensor> = h0.unbind(0);
    for t in 0..4 {
        let gi = stepper.input_table(&xs.select(1, t)).unwrap();
        let top = stepper.step(&gi, &mut state).unwrap();
        assert_eq!(top.kind(), Kind::Double);
        assert!(
            max_abs_diff(&top, &whole.outputs.select(1, t)) < 1e-12,
            "step {t}"
        );
    }
    assert!(max_abs_diff(&Tensor::stack(&state, 0), &whole.state) < 1e-12);
}

#[test]
fn stacked_taped_gru_equals_libtorch_gru_with_all_gradients() {
    // The taped stack must give the outputs, final states and gradients of libtorch's own
    // `gru` op (no dropout, so both are deterministic), for 1 to 3 layers and both
    // directions, with a batch that splits into shards.
    for (layers, bidirectional) in [(1i64, false), (2, false), (3, false), (1, true), (2, true)] {
        let what = format!("{layers} layers, bi {bidirectional}");
        let vs = nn::VarStore::new(Device::Cpu);
        let config = GruConfig {
            num_layers: layers,
            bidirectional,
            ..GruConfig::default()
        };
        let gru = Gru::new(&(vs.root() / "gru"), 5, 7, &config).unwrap();
        let dirs = if bidirectional { 2 } else { 1 };
        let xs = Tensor::randn([6, 9, 5], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let (w_out, w_h) = (
            Tensor::randn([6, 9, 7 * dirs], (Kind::Float, Device::Cpu)),
            Tensor::randn([layers * dirs, 6, 7], (Kind::Float, Device::Cpu)),
        );
        let a = gru.forward(&xs, None, GruMode::Train).unwrap();
        assert!(a.tapes.is_empty());
        let loss_a = (&a.outputs * &w_out).sum(Kind::Float) + (&a.state * &w_h).sum(Kind::Float);
        let mut reference = grads_of(&vs, loss_a.shallow_clone());
        let d_xs = xs.grad().copy();
        reference.push(("xs".into(), d_xs));
        let xs_b = xs.detach().copy().set_requires_grad(true);
        let b = gru.forward(&xs_b, None, GruMode::Taped).unwrap();
        assert!(!b.tapes.is_empty(), "{what}: the fast path");
        assert!(
            max_abs_diff(&a.outputs, &b.outputs) < 1e-5,
            "outputs, {what}"
        );
        assert!(max_abs_diff(&a.state, &b.state) < 1e-5, "states, {what}");
        let loss_b = (&b.outputs * &w_out).sum(Kind::Float) + (&b.state * &w_h).sum(Kind::Float);
        b.tapes.backward_after(&loss_b).unwrap();
        let mut tested = take_grads(&vs);
        tested.push(("xs".into(), xs_b.grad().copy()));
        for ((name, a), (_, b)) in reference.iter().zip(&tested) {
            assert!(
                max_abs_diff(a, b) < 1e-5,
                "gradient of {name}, {what}: {}",
                max_abs_diff(a, b)
            );
            assert!(
                a.abs().max().double_value(&[]) > 0.0,
                "{name} gets a gradient"
            );
        }
    }
}

#[test]
fn taped_mode_off_cpu_f32_falls_back_to_autograd() {
    // The fused kernels take f32 on the CPU; a GRU in another kind (here f64, as bf16 or a
    // CUDA device would) runs `Taped` under autograd: no tapes, and the outputs and gradients
    // of `Train`, with `backward_after` reducing to the loss's backward.
    tch::manual_seed(8);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let emb = Embedding::new(&(vs.root() / "emb"), 9, 3, Some(0)).unwrap();
    let config = GruConfig {
        num_layers: 2,
        bidirectional: true,
        ..GruConfig::default()
    };
    let gru = Gru::new(&(vs.root() / "gru"), 3, 4, &config).unwrap();
    vs.double();
    let tokens = Tensor::randint_low(0, 9, [3, 5], (Kind::Int64, Device::Cpu));
    let lengths = Tensor::from_slice(&[5i64, 2, 4]);
    let xs = Tensor::randn([3, 5, 3], (Kind::Double, Device::Cpu));
    let passes: [(&str, &dyn Fn(GruMode) -> GruOutput); 2] = [
        ("tokens", &|mode| {
            gru.forward_tokens(&emb, &tokens, &lengths, mode).unwrap()
        }),
        ("features", &|mode| gru.forward(&xs, None, mode).unwrap()),
    ];
    for (what, pass) in passes {
        let a = pass(GruMode::Train);
        let reference = grads_of(&vs, a.outputs.sum(Kind::Double) + a.state.sum(Kind::Double));
        let b = pass(GruMode::Taped);
        assert!(b.tapes.is_empty(), "{what}: no tapes off CPU f32");
        assert_eq!(b.outputs.kind(), Kind::Double);
        assert!(
            max_abs_diff(&a.outputs, &b.outputs) < 1e-12,
            "{what} outputs"
        );
        let loss = b.outputs.sum(Kind::Double) + b.state.sum(Kind::Double);
        b.tapes.backward_after(&loss).unwrap();
        for ((name, ga), (_, gb)) in reference.iter().zip(&take_grads(&vs)) {
            assert!(max_abs_diff(ga, gb) < 1e-12, "{what}: gradient of {name}");
        }
    }
    // Inference without autograd takes the same path.
    let eval = gru
        .forward_tokens(&emb, &tokens, &lengths, GruMode::Eval)
        .unwrap();
    let fast = tch::no_grad(|| {
        gru.forward_tokens(&emb, &tokens, &lengths, GruMode::Eval)
            .unwrap()
    });
    assert!(max_abs_diff(&eval.outputs, &fast.outputs) < 1e-12);
}
