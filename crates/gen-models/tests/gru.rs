//! The GRU layer and the classifier against first principles.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test and example code may panic.

use gen_models::layers::{Gru, GruConfig};
use gen_models::{GruClassifier, GruClassifierConfig, Module, Pooling};
use tch::{Device, Kind, Tensor, nn};

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

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
    let (out, h_n) = gru.forward(&xs, None, false).unwrap();
    let vars = vs.variables();
    let mut h = Tensor::zeros([2, 4], (Kind::Float, Device::Cpu));
    for t in 0..5 {
        h = reference_step(&xs.select(1, t), &h, &vars);
        assert!(max_abs_diff(&out.select(1, t), &h) < 1e-5, "step {t}");
    }
    assert!(max_abs_diff(&h_n.select(0, 0), &h) < 1e-5);
}

#[test]
fn packed_gru_reads_only_the_real_steps() {
    tch::manual_seed(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let config = GruConfig {
        num_layers: 2,
        bidirectional: true,
        ..Default::default()
    };
    let gru = Gru::new(&vs.root(), 3, 4, &config).unwrap();
    let xs = Tensor::randn([3, 6, 3], (Kind::Float, Device::Cpu));
    let lengths = Tensor::from_slice(&[4i64, 6, 2]);
    let (out, h_n) = gru.forward_packed(&xs, &lengths, false).unwrap();
    assert_eq!(out.size(), [3, 6, 8]);
    assert_eq!(h_n.size(), [4, 3, 4]);
    for (b, len) in [4i64, 6, 2].into_iter().enumerate() {
        let b = b as i64;
        let alone = xs.narrow(0, b, 1).narrow(1, 0, len);
        let (out_alone, h_alone) = gru.forward(&alone, None, false).unwrap();
        let got = out.narrow(0, b, 1).narrow(1, 0, len);
        assert!(
            max_abs_diff(&got, &out_alone) < 1e-5,
            "outputs of sequence {b}"
        );
        assert!(
            max_abs_diff(&h_n.narrow(1, b, 1), &h_alone) < 1e-5,
            "state of sequence {b}"
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

#[test]
fn masked_recurrence_matches_libtorch_dense_and_packed() {
    for (layers, bidirectional) in [(1, false), (2, false), (1, true), (2, true)] {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let config = GruConfig {
            num_layers: layers,
            bidirectional,
            ..Default::default()
        };
        let gru = Gru::new(&vs.root(), 5, 6, &config).unwrap();
        let xs = Tensor::randn([4, 7, 5], (Kind::Float, Device::Cpu));
        // Full lengths: equal to libtorch's fused dense GRU.
        let full = Tensor::from_slice(&[7i64, 7, 7, 7]);
        let (out_d, h_d) = gru.forward(&xs, None, false).unwrap();
        let (out_m, h_m) = gru.forward_masked(&xs, &full, false).unwrap();
        assert!(
            max_abs_diff(&out_d, &out_m) < 1e-5,
            "dense outputs, {layers} layers, bi={bidirectional}"
        );
        assert!(
            max_abs_diff(&h_d, &h_m) < 1e-5,
            "dense state, {layers} layers, bi={bidirectional}"
        );
        // Ragged lengths: equal to libtorch's packed sequences.
        let ragged = Tensor::from_slice(&[7i64, 3, 1, 5]);
        let (out_p, h_p) = gru.forward_packed(&xs, &ragged, false).unwrap();
        let (out_m, h_m) = gru.forward_masked(&xs, &ragged, false).unwrap();
        assert!(
            max_abs_diff(&out_p, &out_m) < 1e-5,
            "packed outputs, {layers} layers, bi={bidirectional}"
        );
        assert!(
            max_abs_diff(&h_p, &h_m) < 1e-5,
            "packed state, {layers} layers, bi={bidirectional}"
        );
        // Gradients agree too.
        let xa = xs.copy().set_requires_grad(true);
        let xb = xs.copy().set_requires_grad(true);
        gru.forward_packed(&xa, &ragged, true)
            .unwrap()
            .0
            .sum(Kind::Float)
            .backward();
        gru.forward_masked(&xb, &ragged, true)
            .unwrap()
            .0
            .sum(Kind::Float)
            .backward();
        assert!(
            max_abs_diff(&xa.grad(), &xb.grad()) < 1e-5,
            "input gradients"
        );
    }
}

/// Back-propagates `loss`; returns every variable's gradient by name and zeroes them.
fn grads_of(vs: &nn::VarStore, loss: Tensor) -> Vec<(String, Tensor)> {
    loss.backward();
    take_grads(vs)
}

/// Every variable's gradient by name (sorted), zeroing them.
fn take_grads(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut vars: Vec<_> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let grads = vars
        .iter()
        .map(|(name, t)| (name.clone(), t.grad().copy()))
        .collect();
    for (_, t) in &mut vars {
        t.zero_grad();
    }
    grads
}

#[test]
fn token_table_path_equals_embedding_then_gru_with_all_gradients() {
    use gen_models::layers::Embedding;
    // vocab 9 <= batch * time = 28 takes the table path; vocab 40 > 28 embeds first. Both must
    // equal `Embedding::forward` followed by `forward_masked`, and the padding row 0 must get
    // no gradient on either path.
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
            let lengths = Tensor::from_slice(&[7i64, 3, 1, 5]);
            let weights = Tensor::randn([4, 7, gru.output_size()], (Kind::Float, Device::Cpu));
            let hw = Tensor::randn(
                [layers * if bidirectional { 2 } else { 1 }, 4, 6],
                (Kind::Float, Device::Cpu),
            );
            let loss = |(out, h): (Tensor, Tensor)| {
                (out * &weights).sum(Kind::Float) + (h * &hw).sum(Kind::Float)
            };
            let (out_a, h_a) = gru
                .forward_masked(&emb.forward(&tokens).unwrap(), &lengths, true)
                .unwrap();
            let reference = grads_of(&vs, loss((out_a.shallow_clone(), h_a.shallow_clone())));
            let (out_b, h_b) = gru.forward_tokens(&emb, &tokens, &lengths, true).unwrap();
            assert!(
                max_abs_diff(&out_a, &out_b) < 1e-5,
                "outputs, vocab {vocab}"
            );
            assert!(max_abs_diff(&h_a, &h_b) < 1e-5, "states, vocab {vocab}");
            let tested = grads_of(&vs, loss((out_b, h_b)));
            for ((name, a), (_, b)) in reference.iter().zip(&tested) {
                assert!(
                    max_abs_diff(a, b) < 1e-4,
                    "gradient of {name}, vocab {vocab}, {layers} layers, bi={bidirectional}"
                );
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
        let (logits_b, tape) = model.forward_taped(&tokens, &lengths).unwrap();
        assert!(max_abs_diff(&logits_a, &logits_b) < 1e-5, "logits");
        (&logits_b * &w).sum(Kind::Float).backward();
        tape.expect("a GRU over steps has tapes")
            .backward()
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
fn taped_path_needs_steps() {
    let vs = nn::VarStore::new(Device::Cpu);
    let config = GruConfig {
        bidirectional: true,
        ..Default::default()
    };
    let emb = gen_models::layers::Embedding::new(&(vs.root() / "e"), 10, 3, Some(0)).unwrap();
    let gru = Gru::new(&(vs.root() / "g"), 3, 4, &config).unwrap();
    let lengths = Tensor::from_slice(&[3i64]);
    let tokens = Tensor::from_slice(&[1i64, 2, 3]).view([1, 3]);
    assert!(
        gru.forward_tokens_taped(&emb, &tokens, &lengths)
            .unwrap()
            .is_some()
    );
    let none = Tensor::zeros([1, 0], (Kind::Int64, Device::Cpu));
    assert!(
        gru.forward_tokens_taped(&emb, &none, &lengths)
            .unwrap()
            .is_none()
    );
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
    let (out, h_n) = gru.forward(&xs, Some(&h0), false).unwrap();

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
fn stacked_taped_gru_equals_libtorch_gru_with_all_gradients() {
    // Gru::forward is libtorch's own `gru` op; the taped stack must give the same outputs,
    // final states and gradients (no dropout, so both are deterministic), for 1 to 3 layers,
    // with a batch that splits into shards.
    for layers in [1i64, 2, 3] {
        let vs = nn::VarStore::new(Device::Cpu);
        let config = GruConfig {
            num_layers: layers,
            ..GruConfig::default()
        };
        let gru = Gru::new(&(vs.root() / "gru"), 5, 7, &config).unwrap();
        let xs = Tensor::randn([6, 9, 5], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let (w_out, w_h) = (
            Tensor::randn([6, 9, 7], (Kind::Float, Device::Cpu)),
            Tensor::randn([layers, 6, 7], (Kind::Float, Device::Cpu)),
        );
        let (out_a, h_a) = gru.forward(&xs, None, true).unwrap();
        let loss_a = (&out_a * &w_out).sum(Kind::Float) + (&h_a * &w_h).sum(Kind::Float);
        let mut reference = grads_of(&vs, loss_a.shallow_clone());
        let d_xs = xs.grad().copy();
        reference.push(("xs".into(), d_xs));
        let xs_b = xs.detach().copy().set_requires_grad(true);
        let (out_b, h_b, tapes) = gru.forward_taped(&xs_b, true).unwrap().unwrap();
        assert!(
            max_abs_diff(&out_a, &out_b) < 1e-5,
            "outputs, {layers} layers"
        );
        assert!(max_abs_diff(&h_a, &h_b) < 1e-5, "states, {layers} layers");
        ((&out_b * &w_out).sum(Kind::Float) + (&h_b * &w_h).sum(Kind::Float)).backward();
        tapes.backward().unwrap();
        let mut tested = take_grads(&vs);
        tested.push(("xs".into(), xs_b.grad().copy()));
        for ((name, a), (_, b)) in reference.iter().zip(&tested) {
            assert!(
                max_abs_diff(a, b) < 1e-5,
                "gradient of {name}, {layers} layers: {}",
                max_abs_diff(a, b)
            );
            assert!(
                a.abs().max().double_value(&[]) > 0.0,
                "{name} gets a gradient"
            );
        }
    }
}
