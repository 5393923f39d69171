//! The adaptive softmax against PyTorch's `nn.AdaptiveLogSoftmaxWithLoss`, its laws (a
//! distribution, `nll` equal to the full path in value and gradient, `predict` equal to the
//! argmax), its config errors, and the GRU language model with it: training, carried state and
//! sampling.

use gen_models::adaptive_softmax::{AdaptiveSoftmax, AdaptiveSoftmaxConfig};
use gen_models::{
    Error, GruConfig, GruLanguageModel, GruLanguageModelConfig, Module, SamplingConfig, generate,
};
use tch::nn::OptimizerConfig;
use tch::{Device, Kind, Tensor, nn};

mod common;
use common::{max_abs_diff, read_in_two_pieces, seeded_lm as lm, serial};

#[allow(clippy::unwrap_used)] // a test helper, outside any #[test] function
fn f64s(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([-1])).unwrap()
}

#[allow(clippy::unwrap_used)] // a test helper, outside any #[test] function
fn i64s(t: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(t.reshape([-1])).unwrap()
}

fn assert_close(got: &Tensor, want: &[f64], tol: f64, what: &str) {
    let got = f64s(got);
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "{what}[{i}]: got {g}, want {w}");
    }
}

/// `fill` of the Python script below: `((arange(n) * a % m - c) / d).reshape(shape)`, exact
/// but for the division, which is correctly rounded in both.
fn fill(shape: &[i64], a: i64, m: i64, c: i64, d: f64) -> Tensor {
    let n: i64 = shape.iter().product();
    let values: Vec<f64> = (0..n).map(|i| ((i * a % m - c) as f64) / d).collect();
    Tensor::from_slice(&values).view(shape)
}

/// The layer of the Python script, in float64.
#[allow(clippy::unwrap_used)] // a test helper, outside any #[test] function
fn reference_layer() -> (nn::VarStore, AdaptiveSoftmax) {
    let mut vs = nn::VarStore::new(Device::Cpu);
    let config = AdaptiveSoftmaxConfig {
        cutoffs: vec![5, 12],
        div_value: 2.0,
    };
    let asm = AdaptiveSoftmax::new(&vs.root(), 8, 20, &config).unwrap();
    vs.double();
    let weights = [
        ("head.weight", fill(&[7, 8], 7, 11, 5, 10.0)),
        ("tail.0.0.weight", fill(&[4, 8], 5, 13, 6, 8.0)),
        ("tail.0.1.weight", fill(&[7, 4], 3, 7, 3, 4.0)),
        ("tail.1.0.weight", fill(&[2, 8], 9, 17, 8, 16.0)),
        ("tail.1.1.weight", fill(&[8, 2], 4, 9, 4, 3.0)),
    ];
    let vars = vs.variables();
    assert_eq!(vars.len(), weights.len(), "{:?}", vars.keys());
    tch::no_grad(|| {
        for (name, value) in &weights {
            let mut v = vars[*name].shallow_clone();
            assert_eq!(v.size(), value.size(), "{name}");
            v.copy_(value);
        }
    });
    (vs, asm)
}

/// The numbers below were printed by this script (torch 2.13.0, float64):
///
/// ```python
/// import torch
/// def fill(shape, a, m, c, d):
///     n = 1
///     for s in shape: n *= s
///     return ((torch.arange(n, dtype=torch.float64) * a % m - c) / d).reshape(shape)
///
/// asm = torch.nn.AdaptiveLogSoftmaxWithLoss(8, 20, cutoffs=[5, 12], div_value=2.0).double()
/// with torch.no_grad():
///     asm.head.weight.copy_(fill([7, 8], 7, 11, 5, 10))
///     asm.tail[0][0].weight.copy_(fill([4, 8], 5, 13, 6, 8))
///     asm.tail[0][1].weight.copy_(fill([7, 4], 3, 7, 3, 4))
///     asm.tail[1][0].weight.copy_(fill([2, 8], 9, 17, 8, 16))
///     asm.tail[1][1].weight.copy_(fill([8, 2], 4, 9, 4, 3))
/// x = fill([6, 8], 11, 19, 9, 6).requires_grad_()
/// target = torch.tensor([2, 13, 7, 0, 19, 11])
/// out = asm(x, target)
/// out.loss.backward()
/// print("output", out.output.tolist())
/// print("loss", out.loss.item())
/// print("log_prob", asm.log_prob(x).tolist())
/// print("predict", asm.predict(x).tolist())
/// print("head argmax", asm.head(x).argmax(1).tolist())  # [0, 4, 1, 5, 4, 0]
/// print("grad", x.grad.tolist())
/// ```
///
/// Row 3's head argmax is cluster 0 (entry 5), so `predict` takes both of its branches.
#[test]
fn matches_pytorch_adaptive_log_softmax_with_loss() {
    let _s = serial();
    let (_vs, asm) = reference_layer();
    let x = fill(&[6, 8], 11, 19, 9, 6.0).set_requires_grad(true);
    let target = Tensor::from_slice(&[2i64, 13, 7, 0, 19, 11]);
    let output = [
        -2.3337581083840666,
        -5.90493417229285,
        -4.7990393004519305,
        -2.5240167658262913,
        -5.0725554710265,
        -5.548594146517312,
    ];
    let nll = asm.nll(&x, &target).unwrap();
    assert_eq!(nll.kind(), Kind::Double);
    assert_close(&nll.neg(), &output, 1e-12, "output");
    let loss = nll.mean(Kind::Double);
    assert_close(&loss, &[4.363816327416492], 1e-12, "loss");

    #[rustfmt::skip]
    let log_prob = [
        -1.0504247750507334, -2.150424775050733, -2.3337581083840666, -2.5170914417174, -3.0670914417174, -6.8798384441486, -3.905880110815267, -6.218380110815267, -4.3017134441486, -4.8642134441486, -4.041296777481934, -5.260046777481934, -5.981248745241052, -2.522915411907718, -3.314582078574385, -4.106248745241052, -4.897915411907718, -2.814582078574385, -3.6062487452410514, -4.397915411907718,
        -3.9089893583306723, -3.3923226916640052, -1.9589893583306721, -1.8089893583306718, -0.7423226916640052, -4.411603096997688, -4.067853096997688, -4.015769763664354, -5.859519763664354, -3.1459780969976876, -5.135561430331021, -4.937644763664354, -3.957017505626184, -5.90493417229285, -5.509100838959517, -5.113267505626183, -4.71743417229285, -5.540350838959517, -5.144517505626184, -4.74868417229285,
        -2.2125409692224918, -0.7125409692224921, -1.7792076358891586, -1.929207635889159, -3.362540969222492, -5.522997633785264, -7.5125809671185975, -4.7990393004519305, -6.6427893004519305, -6.5907059671185975, -6.2469559671185975, -5.7209143004519305, -5.17740096769305, -6.000317634359717, -5.604484301026384, -5.20865096769305, -4.812817634359717, -6.760734301026384, -6.36490096769305, -5.969067634359717,
        -2.5240167658262913, -2.890683432492958, -2.3406834324929577, -2.1573500991596246, -1.9740167658262915, -4.421974041939573, -3.5990573752729063, -4.161557375272906, -2.2448907086062393, -4.557390708606239, -1.5834323752729063, -3.2032240419395728, -6.337345655768899, -4.254012322435566, -5.045678989102232, -5.8373456557689, -6.629012322435566, -3.1706789891022322, -3.9623456557688987, -4.754012322435566,
        -3.977628164945609, -3.360961498278942, -1.8276281649456088, -1.9442948316122755, -0.7776281649456087, -4.395346656306738, -4.124513322973405, -3.7078466563067383, -5.551596656306738, -3.202638322973405, -5.119304989640072, -4.629721656306738, -4.280888804359833, -5.2288054710265, -4.832972137693167, -4.437138804359833, -4.0413054710265, -5.864222137693167, -5.468388804359833, -5.0725554710265,
        -0.4429615013431782, -2.0096281680098445, -2.6596281680098444, -2.7596281680098445, -3.776294834676511, -5.048594146517312, -7.902760813183978, -5.616302479850645, -5.480885813183978, -7.97046914651731, -6.267344146517312, -5.548594146517312, -5.635514479771232, -4.798708924215677, -4.930653368660121, -5.062597813104565, -5.19454225754901, -5.1077367019934545, -5.239681146437899, -5.371625590882343,
    ];
    let full = asm.log_prob(&x).unwrap();
    assert_eq!(full.size(), [6, 20]);
    assert_close(&full, &log_prob, 1e-12, "log_prob");
    assert_eq!(i64s(&asm.predict(&x).unwrap()), [0, 4, 1, 10, 4, 0]);

    #[rustfmt::skip]
    let grad = [
        0.008816616361556999, -0.056477810862903065, 0.008816616361557006, 0.0729446246010647, -0.04794247635608824, 0.008816616361557006, 0.09429098419914898, -0.03562669823365983,
        0.0865553766131413, 0.02177260135391543, 0.07205427427393529, -0.054777839850293476, 0.21054827011186256, -0.07295674911812491, 0.0528954632213431, 0.08500935891095938,
        0.009441826857857612, 0.1072563996664887, -0.0508842736556402, 0.0016124529436487359, 0.08571824887080726, -0.011723914820619602, 0.06362836261684603, -0.12171621969716023,
        0.06357463280885517, -0.0560378520722693, 0.06357463280885517, -0.10506690480393617, -0.030573252801748614, 0.06357463280885516, -0.09488489358758845, 0.045926631140160754,
        -0.05538866838787371, -0.02388488362581996, -0.059166875974381035, -0.08973690886762108, 0.08680323976214144, -0.09694895183945432, -0.056927444959686734, 0.06979465742911639,
        -0.054047768033873816, 0.10429419690545476, -0.03135506349146307, 0.06031947319257465, 0.10513694321890915, -0.07549196088803306, 0.08153625360525144, -0.0777532973214014,
    ];
    loss.backward();
    assert_close(&x.grad(), &grad, 1e-12, "input gradient");
}

#[test]
fn variables_have_pytorch_names_shapes_and_init() {
    let _s = serial();
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let config = AdaptiveSoftmaxConfig {
        cutoffs: vec![100, 300],
        ..Default::default()
    };
    let asm = AdaptiveSoftmax::new(&vs.root(), 64, 1000, &config).unwrap();
    assert_eq!((asm.n_classes(), asm.shortlist_size()), (1000, 100));
    let vars = vs.variables();
    // div_value 4: the clusters project to 64 / 4 = 16 and 64 / 16 = 4 features.
    let expected = [
        ("head.weight", [102, 64]),
        ("tail.0.0.weight", [16, 64]),
        ("tail.0.1.weight", [200, 16]),
        ("tail.1.0.weight", [4, 64]),
        ("tail.1.1.weight", [700, 4]),
    ];
    assert_eq!(vars.len(), expected.len(), "{:?}", vars.keys());
    for (name, shape) in expected {
        let v = &vars[name];
        assert_eq!(v.size(), shape, "{name}");
        // nn.Linear's kaiming_uniform(a = sqrt 5): U(±1/sqrt(fan_in)), and it fills the range.
        let bound = 1.0 / (shape[1] as f64).sqrt();
        let largest = v.abs().max().double_value(&[]);
        assert!(
            largest <= bound && largest > 0.9 * bound,
            "{name}: {largest} vs {bound}"
        );
    }
}

/// A layer with three clusters, one of which no target below falls in.
#[allow(clippy::unwrap_used)] // a test helper, outside any #[test] function
fn random_layer(seed: i64, kind: Kind) -> (nn::VarStore, AdaptiveSoftmax, Tensor, Tensor) {
    tch::manual_seed(seed);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let config = AdaptiveSoftmaxConfig {
        cutoffs: vec![4, 9, 15],
        div_value: 2.0,
    };
    let asm = AdaptiveSoftmax::new(&vs.root(), 12, 24, &config).unwrap();
    vs.set_kind(kind);
    // Large enough that some rows' head argmax is a cluster.
    let input = Tensor::randn([40, 12], (kind, Device::Cpu)) * 3.0;
    let target: Vec<i64> = (0..40)
        .map(|i| [0, 3, 4, 8, 15, 23, 2, 19][i % 8])
        .collect();
    (vs, asm, input, Tensor::from_slice(&target))
}

#[test]
fn log_prob_is_a_distribution_and_nll_is_its_gather() {
    let _s = serial();
    let (_vs, asm, input, target) = random_layer(1, Kind::Float);
    let log_prob = asm.log_prob(&input).unwrap();
    assert_eq!(log_prob.size(), [40, 24]);
    let sums = log_prob.exp().sum_dim_intlist(1, false, Kind::Double);
    assert!(max_abs_diff(&sums, &Tensor::ones([40], (Kind::Double, Device::Cpu))) < 1e-5);
    let nll = asm.nll(&input, &target).unwrap();
    let picked = log_prob
        .gather(1, &target.unsqueeze(1), false)
        .squeeze_dim(1);
    assert_eq!(nll.size(), [40]);
    assert!(max_abs_diff(&nll, &picked.neg()) < 1e-5);
    // No target in cluster 1 (classes 9..15): it is skipped, and the rest still agree.
    let (nll2, predicted) = asm.nll_and_predict(&input, &target).unwrap();
    assert!(max_abs_diff(&nll2, &nll) == 0.0);
    assert_eq!(i64s(&predicted), i64s(&asm.predict(&input).unwrap()));
}

#[test]
fn predict_is_the_argmax_of_log_prob() {
    let _s = serial();
    for seed in 0..4 {
        let (_vs, asm, input, _) = random_layer(seed, Kind::Double);
        let argmax = asm.log_prob(&input).unwrap().argmax(1, false);
        let predicted = i64s(&asm.predict(&input).unwrap());
        assert_eq!(predicted, i64s(&argmax), "seed {seed}");
        // Both kinds of row occur, so both of predict's branches ran.
        assert!(predicted.iter().any(|&p| p < 4) && predicted.iter().any(|&p| p >= 4));
    }
}

#[test]
fn nll_gradients_equal_the_full_paths() {
    let _s = serial();
    let (vs, asm, input, target) = random_layer(2, Kind::Double);
    let grads = |full: bool| {
        for (_, mut v) in vs.variables() {
            v.zero_grad();
        }
        let x = input.copy().set_requires_grad(true);
        let loss = if full {
            asm.log_prob(&x)
                .unwrap()
                .gather(1, &target.unsqueeze(1), false)
                .neg()
                .sum(Kind::Double)
        } else {
            asm.nll(&x, &target).unwrap().sum(Kind::Double)
        };
        loss.backward();
        let vars = vs.variables();
        let mut names: Vec<&String> = vars.keys().collect();
        names.sort();
        let mut all = vec![("input".to_string(), x.grad())];
        for name in names {
            let (v, g) = (&vars[name], vars[name].grad());
            // A variable the pass never read has no gradient: zero.
            let g = if g.defined() {
                g.copy()
            } else {
                v.zeros_like()
            };
            all.push((name.clone(), g));
        }
        all
    };
    let (cheap, full) = (grads(false), grads(true));
    assert_eq!(cheap.len(), 8);
    for ((name, a), (_, b)) in cheap.iter().zip(&full) {
        assert!(max_abs_diff(a, b) < 1e-12, "{name}");
        // Cluster 1 (classes 9..15) has no target: its layers get no gradient either way.
        let unused = name.starts_with("tail.1.");
        assert_eq!(b.abs().max().double_value(&[]) == 0.0, unused, "{name}");
    }
}

#[test]
fn bad_configs_and_inputs_are_errors() {
    let _s = serial();
    let field = |cutoffs: Vec<i64>, div_value: f64| {
        let vs = nn::VarStore::new(Device::Cpu);
        let config = AdaptiveSoftmaxConfig { cutoffs, div_value };
        match AdaptiveSoftmax::new(&vs.root(), 8, 20, &config) {
            Err(Error::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        }
    };
    assert_eq!(field(vec![], 4.0), "adaptive.cutoffs");
    assert_eq!(field(vec![5, 5], 4.0), "adaptive.cutoffs");
    assert_eq!(field(vec![12, 5], 4.0), "adaptive.cutoffs");
    assert_eq!(field(vec![0, 5], 4.0), "adaptive.cutoffs");
    assert_eq!(field(vec![5, 20], 4.0), "adaptive.cutoffs");
    // 8 / 4^2 < 1: the second cluster would have no features.
    assert_eq!(field(vec![5, 12], 4.0), "adaptive.div_value");
    assert_eq!(field(vec![5], 0.0), "adaptive.div_value");
    assert_eq!(field(vec![5], f64::NAN), "adaptive.div_value");

    let defaults = AdaptiveSoftmaxConfig::default();
    assert!(defaults.cutoffs.is_empty());
    assert_eq!(defaults.div_value, 4.0);
    let parsed: AdaptiveSoftmaxConfig = serde_json::from_str(r#"{"cutoffs": [3]}"#).unwrap();
    assert_eq!((parsed.cutoffs, parsed.div_value), (vec![3], 4.0));
    assert!(serde_json::from_str::<AdaptiveSoftmaxConfig>(r#"{"cutoff": [3]}"#).is_err());

    let (_vs, asm) = reference_layer();
    let x = Tensor::zeros([3, 8], (Kind::Double, Device::Cpu));
    let shape_err = |r: gen_models::Result<Tensor>| match r {
        Err(Error::Shape { what, expected, .. }) => format!("{what}: {expected}"),
        other => panic!("expected a shape error, got {other:?}"),
    };
    let err = shape_err(asm.nll(&x, &Tensor::from_slice(&[0i64, 20, 1])));
    assert!(err.contains("found 20"), "{err}");
    let err = shape_err(asm.nll(&x, &Tensor::from_slice(&[0i64, -1, 1])));
    assert!(err.contains("found -1"), "{err}");
    assert!(shape_err(asm.nll(&x, &Tensor::from_slice(&[0i64, 1]))).contains("target"));
    assert!(shape_err(asm.nll(&x, &Tensor::from_slice(&[0.0f64, 1.0, 2.0]))).contains("int64"));
    let narrow = Tensor::zeros([3, 7], (Kind::Double, Device::Cpu));
    assert!(shape_err(asm.log_prob(&narrow)).contains("input"));
    assert!(shape_err(asm.predict(&x.view([24]))).contains("input"));
}

fn lm_config(vocab: i64, cutoffs: Vec<i64>) -> GruLanguageModelConfig {
    GruLanguageModelConfig {
        vocab_size: vocab,
        embedding_dim: 8,
        hidden_size: 16,
        dropout: 0.0,
        gru: GruConfig {
            num_layers: 2,
            dropout: 0.0,
            bidirectional: false,
        },
        adaptive: Some(AdaptiveSoftmaxConfig {
            cutoffs,
            div_value: 2.0,
        }),
        ..Default::default()
    }
}

#[test]
fn language_model_config_with_adaptive() {
    let _s = serial();
    let field = |config: GruLanguageModelConfig| {
        let vs = nn::VarStore::new(Device::Cpu);
        match GruLanguageModel::init(&vs.root(), &config) {
            Err(Error::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        }
    };
    let tied = GruLanguageModelConfig {
        embedding_dim: 16,
        tie_weights: true,
        ..lm_config(30, vec![10])
    };
    assert_eq!(field(tied), "tie_weights");
    assert_eq!(field(lm_config(30, vec![10, 30])), "adaptive.cutoffs");
    assert_eq!(field(lm_config(30, vec![])), "adaptive.cutoffs");

    // The variables: the adaptive layer's instead of `head.*`.
    let (vs, m) = lm(0, &lm_config(30, vec![10, 20]));
    let mut names: Vec<String> = vs.variables().into_keys().collect();
    names.retain(|n| !n.starts_with("gru.") && n != "embedding.weight");
    names.sort();
    let want = [
        "adaptive.head.weight",
        "adaptive.tail.0.0.weight",
        "adaptive.tail.0.1.weight",
        "adaptive.tail.1.0.weight",
        "adaptive.tail.1.1.weight",
    ];
    assert_eq!(names, want);
    assert!(m.output_weight().is_none() && m.output_bias().is_none());
    assert_eq!(m.adaptive_softmax().map(|a| a.n_classes()), Some(30));

    // Absent from a config file means none, and none is not written back (saved configs of
    // models without it stay as they were).
    let plain: GruLanguageModelConfig = serde_json::from_str(r#"{"vocab_size": 9}"#).unwrap();
    assert_eq!(plain.adaptive, None);
    assert!(!serde_json::to_string(&plain).unwrap().contains("adaptive"));
    let parsed: GruLanguageModelConfig =
        serde_json::from_str(r#"{"adaptive": {"cutoffs": [2, 5], "div_value": 2.0}}"#).unwrap();
    assert_eq!(parsed.adaptive, lm_config(9, vec![2, 5]).adaptive);
}

#[test]
fn language_model_logits_are_log_probs_and_carry_state() {
    let _s = serial();
    let (_vs, m) = lm(1, &lm_config(30, vec![6, 15]));
    let seq: Vec<i64> = (0..2 * 11).map(|i| (i * 7 + 3) % 30).collect();
    let x = Tensor::from_slice(&seq).view([2, 11]);
    let (whole, h_whole) = m.forward_with_state(&x, None, false).unwrap();
    assert_eq!(whole.size(), [2, 11, 30]);
    let sums = whole.exp().sum_dim_intlist(2, false, Kind::Double);
    assert!(max_abs_diff(&sums, &Tensor::ones([2, 11], (Kind::Double, Device::Cpu))) < 1e-5);
    let (pieces, h_pieces) = read_in_two_pieces(&m, &x, 4);
    assert!(max_abs_diff(&pieces, &whole) < 1e-5);
    assert!(max_abs_diff(&h_pieces, &h_whole) < 1e-5);
    // The taped training pass gives the same log-probabilities, and its features are what
    // the adaptive softmax reads.
    let (taped, _tapes) = m.forward_taped(&x).unwrap();
    assert!(max_abs_diff(&taped, &whole) < 1e-5);
    let features = m.features(&x, false).unwrap();
    assert_eq!(features.size(), [2, 11, 16]);
    let asm = m.adaptive_softmax().unwrap();
    let from_features = asm.log_prob(&features.reshape([-1, 16])).unwrap();
    assert!(max_abs_diff(&from_features.view([2, 11, 30]), &whole) < 1e-6);
}

#[test]
fn language_model_with_adaptive_softmax_learns_a_repeated_sequence() {
    let _s = serial();
    let (vs, m) = lm(2, &lm_config(40, vec![8, 20]));
    // A period-10 sequence over ids from all three parts of the vocabulary.
    let period = [0i64, 5, 9, 13, 21, 39, 2, 17, 30, 7];
    let ids: Vec<i64> = (0..4 * 13).map(|i| period[i % 10]).collect();
    let window = Tensor::from_slice(&ids).view([4, 13]);
    let (inputs, targets) = (window.narrow(1, 0, 12), window.narrow(1, 1, 12));
    let mut opt = nn::Adam::default().build(&vs, 0.02).unwrap();
    let mut losses = Vec::new();
    for _ in 0..120 {
        opt.zero_grad();
        let (features, tapes) = m.features_taped(&inputs).unwrap();
        let asm = m.adaptive_softmax().unwrap();
        let loss = asm
            .nll(&features.reshape([-1, 16]), &targets.reshape([-1]))
            .unwrap()
            .mean(Kind::Float);
        losses.push(loss.double_value(&[]));
        tapes.backward_after(&loss).unwrap();
        opt.step();
    }
    let (first, last) = (losses[0], losses[losses.len() - 1]);
    assert!(first > 3.0 && last < 0.1, "loss {first} -> {last}");

    // Greedy sampling goes on with the sequence, through the decoder's adaptive output layer.
    let greedy = SamplingConfig {
        max_tokens: 15,
        greedy: true,
        ..Default::default()
    };
    let got = generate(&m, &period[..4], 2, &greedy, |_, _| {}).unwrap();
    let want: Vec<i64> = (4..19).map(|i| period[i % 10]).collect();
    assert_eq!(got, [want.clone(), want]);
    // Sampling at temperature 1 runs too, and stays in the vocabulary.
    let warm = SamplingConfig {
        max_tokens: 30,
        seed: 3,
        ..Default::default()
    };
    let texts = generate(&m, &[1, 2], 3, &warm, |_, _| {}).unwrap();
    assert!(
        texts
            .iter()
            .all(|t| t.len() == 30 && t.iter().all(|id| (0..40).contains(id)))
    );
}

#[test]
fn greedy_decoding_is_the_argmax_of_each_step() {
    let _s = serial();
    let (vs, m) = lm(3, &lm_config(25, vec![5, 12]));
    // Peaked, varied distributions, the head's shortlist rows shrunk so that tail classes
    // win too.
    tch::no_grad(|| {
        for (name, mut v) in vs.variables() {
            let scale = if name.starts_with("adaptive.tail") {
                6.0
            } else {
                3.0
            };
            let _ = v.f_mul_(&Tensor::from(scale)).unwrap();
        }
        let _ = vs.variables()["adaptive.head.weight"]
            .narrow(0, 0, 5)
            .f_mul_(&Tensor::from(0.3))
            .unwrap();
    });
    let cfg = SamplingConfig {
        max_tokens: 20,
        greedy: true,
        ..Default::default()
    };
    let prompt = [4i64, 9, 1];
    let got = generate(&m, &prompt, 1, &cfg, |_, _| {}).unwrap();
    let mut seq = prompt.to_vec();
    for &token in &got[0] {
        let logits = m
            .forward_t(&Tensor::from_slice(&seq).view([1, -1]), false)
            .unwrap();
        assert_eq!(
            token,
            logits.get(0).get(-1).argmax(0, false).int64_value(&[])
        );
        seq.push(token);
    }
    assert!(
        got[0].iter().any(|&t| t >= 5) && got[0].iter().any(|&t| t < 5),
        "both the shortlist and the tail are decoded: {:?}",
        got[0]
    );
}
