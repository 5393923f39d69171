//! The trajectory task: data and scales, the objective, a tiny overfit through the generic
//! trainer, determinism, evaluation figures, saved-model round trip, and the plot and CSV
//! outputs. Fixtures are synthetic LASA-like shapes; no dataset is needed.

mod common;

use gen_data::lasa::{Demo, LasaShape};
use gen_models::{TrajectoryMdnConfig, TrajectorySampling};
use gen_train::learner::Verbosity;
use gen_train::tasks::Objective;
use gen_train::tasks::trajectory::{
    OverlayPanel, RESOLVED_CONFIG, TrajectoryData, TrajectoryEvalConfig, TrajectoryTaskConfig,
    build_task, evaluate_trajectories, load_trajectory_model, overlay_pixels, sample_trajectories,
    select_shapes, train_trajectories, training_data, write_overlay_png, write_report_csv,
};
use gen_train::{Dataset, TrainerConfig};
use ndarray::{Array1, Array2, array};
use tch::Device;

/// libtorch's generator is global to the process: tests that seed it run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn demo(pos: Array2<f64>) -> Demo {
    let n = pos.nrows();
    Demo {
        vel: Array2::zeros((n, 2)),
        acc: Array2::zeros((n, 2)),
        t: Array1::from_iter((0..n).map(|i| i as f64)),
        dt: 1.0,
        pos,
    }
}

/// Two LASA-like shapes ending at the origin: a straight line and a half circle, each with
/// `demos` demonstrations whose start moves a little and whose speed slows at the end.
fn shapes(demos: usize, points: usize) -> Vec<LasaShape> {
    let ease = |s: f64| 1.0 - (1.0 - s) * (1.0 - s); // progress, slowing to the target
    let line = |k: usize| {
        Array2::from_shape_fn((points, 2), |(i, c)| {
            let s = ease(i as f64 / (points - 1) as f64);
            let start = [-30.0 + k as f64, 10.0 - 0.5 * k as f64];
            start[c] * (1.0 - s)
        })
    };
    let arc = |k: usize| {
        let r = 15.0 + 0.5 * k as f64;
        Array2::from_shape_fn((points, 2), |(i, c)| {
            let a = std::f64::consts::PI * ease(i as f64 / (points - 1) as f64);
            // From (2r, 0) over the top to (0, 0).
            if c == 0 { r + r * a.cos() } else { r * a.sin() }
        })
    };
    vec![
        LasaShape {
            name: "Line".into(),
            demos: (0..demos).map(|k| demo(line(k))).collect(),
        },
        LasaShape {
            name: "Arc".into(),
            demos: (0..demos).map(|k| demo(arc(k))).collect(),
        },
    ]
}

fn tiny_config(epochs: usize) -> TrajectoryTaskConfig {
    TrajectoryTaskConfig {
        holdout: None,
        model: TrajectoryMdnConfig {
            embedding_dim: 4,
            hidden_size: 32,
            num_components: 2,
            length: 16,
            // Half the default: this model must overfit in a few hundred steps.
            offset_noise: 0.2,
            gru: gen_models::GruConfig {
                num_layers: 1,
                ..Default::default()
            },
            ..Default::default()
        },
        epoch_repeats: 8,
        trainer: TrainerConfig {
            epochs,
            batch_size: 4,
            ..TrajectoryTaskConfig::default().trainer
        },
        eval: TrajectoryEvalConfig {
            samples: 3,
            bias: 3.0,
            spread: 1.0,
            seed: 0,
        },
        ..Default::default()
    }
}

#[test]
fn defaults_are_documented() {
    let c = TrajectoryTaskConfig::default();
    assert_eq!(c.holdout, Some(0));
    assert_eq!((c.trainer.epochs, c.trainer.batch_size), (200, 60));
    assert_eq!(c.optimizer.lr(), 5e-3);
    assert_eq!(c.grad_clip, gen_train::GradClip::Norm(1.0));
    assert_eq!(c.epoch_repeats, 4);
    assert_eq!((c.eval.samples, c.eval.bias, c.eval.seed), (8, 1.0, 0));
    assert!(c.shapes.is_empty());
    let parsed: TrajectoryTaskConfig =
        serde_json::from_str(r#"{"holdout": 3, "eval": {"samples": 4}}"#).unwrap();
    assert_eq!(
        (parsed.holdout, parsed.eval.samples, parsed.eval.bias),
        (Some(3), 4, 1.0)
    );
    assert!(serde_json::from_str::<TrajectoryTaskConfig>(r#"{"hold_out": 3}"#).is_err());
}

#[test]
fn data_batches_and_scales() {
    // One trajectory (3, 4) -> (0, 0), resampled to 3 points: (3, 4), (1.5, 2), (0, 0).
    let t = array![[3.0, 4.0], [0.0, 0.0]];
    let data = TrajectoryData::new(&[(1, t.view())], 3, Device::Cpu).unwrap();
    assert_eq!(
        data.trajectories()[0],
        array![[3.0, 4.0], [1.5, 2.0], [0.0, 0.0]]
    );
    let (pos, step) = data.scales();
    // Positions: (9 + 16 + 2.25 + 4 + 0 + 0) / 6 = 31.25 / 6; steps: two of (-1.5, -2),
    // (2.25 + 4) * 2 / 4 = 3.125.
    assert!((pos - (31.25f64 / 6.0).sqrt()).abs() < 1e-12, "{pos}");
    assert!((step - 3.125f64.sqrt()).abs() < 1e-12, "{step}");
    let batch = data.batch(&[0, 0]).unwrap();
    assert_eq!(batch.shapes.size(), [2]);
    assert_eq!(batch.points.size(), [2, 3, 2]);
    assert_eq!(batch.points.double_value(&[1, 1, 1]), 2.0);
    assert!(data.batch(&[1]).is_err());
    // Repeats: three passes over the one trajectory per epoch.
    let repeated = data.clone().with_repeats(3);
    assert_eq!(repeated.len(), 3);
    assert_eq!(
        repeated
            .batch(&[2])
            .unwrap()
            .points
            .double_value(&[0, 1, 1]),
        2.0
    );
    assert!(repeated.batch(&[3]).is_err());
    assert!(TrajectoryData::new(&[(-1, t.view())], 3, Device::Cpu).is_err());
    assert!(TrajectoryData::new(&[(0, t.view())], 1, Device::Cpu).is_err());

    let all = shapes(3, 40);
    let selected = select_shapes(&all, &[]).unwrap();
    assert_eq!(selected[0].name, "Arc"); // sorted by name
    let selected = select_shapes(&all, &["Line".to_string()]).unwrap();
    assert_eq!(selected.len(), 1);
    assert!(select_shapes(&all, &["Nope".to_string()]).is_err());
    let refs: Vec<&LasaShape> = all.iter().collect();
    let data = training_data(&refs, Some(1), 10, Device::Cpu).unwrap();
    assert_eq!(data.len(), 4);
    assert_eq!(data.shape_ids(), [0, 0, 1, 1]);
    // Demo 1 of the line is left out: the training demos are 0 and 2.
    assert_eq!(data.trajectories()[1][[0, 0]], -28.0);
    assert!(training_data(&refs, Some(3), 10, Device::Cpu).is_err());
    let one = shapes(1, 10);
    let one_refs: Vec<&LasaShape> = one.iter().collect();
    assert!(training_data(&one_refs, Some(0), 10, Device::Cpu).is_err());
}

/// One demo per shape, trained by the generic trainer: the NLL falls far, and biased
/// samples from the demo's start retrace it and reach the target.
#[test]
fn tiny_overfit_reproduces_the_demos() {
    let _s = serial();
    gen_core::set_threads(Some(1)).unwrap();
    let all = shapes(1, 60);
    let dir = tempfile::tempdir().unwrap();
    let config = tiny_config(200);
    let trained = train_trajectories(&all, &config, dir.path(), Verbosity::Silent, None).unwrap();
    let history = &trained.state.history;
    let first = history[0].metrics["loss"];
    let last = history.last().unwrap().metrics["loss"];
    assert!(last < first - 4.0, "NLL {first} -> {last}");
    assert_eq!(trained.config.shapes, ["Arc", "Line"]);
    assert!(trained.config.model.position_scale > 1.0);
    let model = &trained.task.model;
    for (id, shape) in select_shapes(&all, &trained.config.shapes)
        .unwrap()
        .iter()
        .enumerate()
    {
        let demo = gen_data::trajectory::resample(shape.demos[0].pos.view(), 16).unwrap();
        let sampling = TrajectorySampling {
            seed: 1,
            bias: 3.0,
            spread: 1.0,
            start: Some([demo[[0, 0]], demo[[0, 1]]]),
            length: None,
        };
        for s in sample_trajectories(model, id as i64, 2, &sampling).unwrap() {
            let per_point = gen_data::trajectory::dtw(s.view(), demo.view()).unwrap() / 16.0;
            let end = gen_data::trajectory::endpoint_error(s.view(), &[0.0, 0.0]).unwrap();
            // The shapes span about 30 units.
            // The shapes span 30 units; an untrained model is checked below.
            assert!(per_point < 3.0, "{}: DTW per point {per_point}", shape.name);
            assert!(end < 1.5, "{}: endpoint error {end}", shape.name);
            let fresh = build_task(&trained.config, Device::Cpu).unwrap();
            let untrained = &sample_trajectories(&fresh.model, id as i64, 1, &sampling).unwrap()[0];
            let before = gen_data::trajectory::dtw(untrained.view(), demo.view()).unwrap() / 16.0;
            assert!(
                before > 3.0 * per_point,
                "{}: untrained {before}, trained {per_point}",
                shape.name
            );
        }
    }
    // The saved model samples exactly what the trained one does.
    assert!(dir.path().join(RESOLVED_CONFIG).is_file());
    let (loaded, loaded_config) = load_trajectory_model(dir.path(), Device::Cpu).unwrap();
    assert_eq!(loaded_config, trained.config);
    let sampling = TrajectorySampling {
        seed: 9,
        ..Default::default()
    };
    assert_eq!(
        sample_trajectories(&loaded.model, 1, 2, &sampling).unwrap(),
        sample_trajectories(model, 1, 2, &sampling).unwrap()
    );
}

/// The same seed gives the same training run and the same evaluation; figures are finite,
/// samples differ, and the outputs are written.
#[test]
fn training_and_evaluation_are_deterministic() {
    let _s = serial();
    gen_core::set_threads(Some(1)).unwrap();
    let all = shapes(3, 40);
    let mut config = tiny_config(6);
    config.holdout = Some(2);
    let run = |dir: &std::path::Path| {
        train_trajectories(&all, &config, dir, Verbosity::Silent, None).unwrap()
    };
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (run(d1.path()), run(d2.path()));
    assert_eq!(a.state.history, b.state.history);
    let refs = select_shapes(&all, &a.config.shapes).unwrap();
    let ra = evaluate_trajectories(&a.task.model, &refs, 2, &a.config.eval).unwrap();
    let rb = evaluate_trajectories(&b.task.model, &refs, 2, &b.config.eval).unwrap();
    assert_eq!(ra.shapes, rb.shapes);
    assert_eq!(ra.shapes.len(), 2);
    for s in &ra.shapes {
        for v in [
            s.dtw,
            s.dtw_free,
            s.nearest,
            s.baseline,
            s.endpoint,
            s.diversity,
            s.heldout_nll,
        ] {
            assert!(v.is_finite(), "{s:?}");
        }
        assert!(s.diversity > 0.0, "{s:?}");
        assert!(s.dtw_best <= s.dtw && s.dtw_best.is_finite(), "{s:?}");
        assert!(s.baseline > 0.0, "{s:?}");
    }
    // The baseline by hand for the line: the mean of demos 0 and 1 starts at (-29.5, 9.75).
    let line = &ra.trajectories[1];
    assert_eq!(line.mean.row(0).to_vec(), [-29.5, 9.75]);
    assert_eq!(line.samples.len(), 3);
    assert_eq!(line.samples[0].row(0), line.heldout.row(0));
    let summary = ra.summary();
    assert_eq!(summary.shapes, 2);
    let mean_dtw = (ra.shapes[0].dtw + ra.shapes[1].dtw) / 2.0;
    assert!((summary.mean_dtw - mean_dtw).abs() < 1e-12);
    assert_eq!(
        summary.max_endpoint,
        ra.shapes[0].endpoint.max(ra.shapes[1].endpoint)
    );
    assert!(summary.beat_baseline_best >= summary.beat_baseline);
    // The samples' own DTWs, recomputed from the returned trajectories.
    let arc = &ra.trajectories[0];
    let dtws: Vec<f64> = arc
        .samples
        .iter()
        .map(|s| gen_data::trajectory::dtw(s.view(), arc.heldout.view()).unwrap() / 16.0)
        .collect();
    assert!((ra.shapes[0].dtw - dtws.iter().sum::<f64>() / 3.0).abs() < 1e-12);
    assert_eq!(
        ra.shapes[0].dtw_best,
        dtws.iter().copied().fold(f64::INFINITY, f64::min)
    );
    let baseline = gen_data::trajectory::dtw(arc.mean.view(), arc.heldout.view()).unwrap() / 16.0;
    assert_eq!(ra.shapes[0].baseline, baseline);
    assert!(ra.table().contains("Line") && ra.table().contains("baseline"));
    assert!(evaluate_trajectories(&a.task.model, &refs, 5, &a.config.eval).is_err());

    let csv_path = d1.path().join("points.csv");
    write_report_csv(&csv_path, &ra).unwrap();
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert!(csv.starts_with("shape,kind,index,step,x,y\n"));
    // 2 shapes x (1 held-out + 2 train + 1 mean + 3 + 3 samples) x 16 points + header.
    assert_eq!(csv.lines().count(), 2 * 10 * 16 + 1);
    let png = d1.path().join("plots/overlay.png");
    let panels: Vec<OverlayPanel> = (0..2)
        .filter_map(|i| OverlayPanel::from_report(&ra, i))
        .collect();
    write_overlay_png(&png, &panels, 2, 64).unwrap();
    let decoded = image::open(&png).unwrap().to_rgb8();
    assert_eq!(decoded.dimensions(), (128, 64));
    let (bytes, _, _) = overlay_pixels(&panels, 2, 64).unwrap();
    assert_eq!(decoded.into_raw(), bytes);
}

#[test]
fn objective_reports_the_nll_as_loss() {
    let _s = serial();
    let config = TrajectoryMdnConfig {
        num_shapes: 2,
        hidden_size: 8,
        length: 5,
        ..Default::default()
    };
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let model =
        <gen_models::TrajectoryMdn as gen_models::Module>::init(&vs.root(), &config).unwrap();
    let t = array![[3.0, 4.0], [1.0, 1.0], [0.0, 0.0]];
    let data = TrajectoryData::new(&[(0, t.view()), (1, t.view())], 5, Device::Cpu).unwrap();
    let batch = data.batch(&[0, 1]).unwrap();
    let (loss, metrics) = model.forward_loss(&batch, false).unwrap();
    let nll = model
        .nll(&batch.shapes, &batch.points, false)
        .unwrap()
        .double_value(&[]);
    assert_eq!(loss.double_value(&[]), nll);
    assert!((metrics.mean("loss").unwrap() - nll).abs() < 1e-12);
}

#[test]
fn taped_training_pass_equals_autograd() {
    // backward_loss runs the 2-layer GRU through its hand-written backward passes; without
    // augmentation or dropout it must give the loss and every gradient of forward_loss +
    // backward (libtorch's `gru` op under autograd).
    let _s = serial();
    tch::manual_seed(3);
    let config = TrajectoryMdnConfig {
        num_shapes: 3,
        embedding_dim: 4,
        hidden_size: 8,
        num_components: 2,
        length: 12,
        offset_noise: 0.0,
        time_warp: 0.0,
        ..TrajectoryMdnConfig::default()
    };
    assert_eq!(config.gru.num_layers, 2);
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let model =
        <gen_models::TrajectoryMdn as gen_models::Module>::init(&vs.root(), &config).unwrap();
    let all = shapes(3, 40);
    let refs: Vec<&LasaShape> = all.iter().collect();
    let data = training_data(&refs, None, 12, Device::Cpu).unwrap();
    let batch = data.batch(&[0, 2, 3, 5]).unwrap();
    common::assert_backward_loss_equals_autograd(&model, &vs, &batch, |name| name.contains("gru"));
}
