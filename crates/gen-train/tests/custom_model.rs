//! Runs `examples/custom_model.rs` (`cargo test` only builds examples): the user's model
//! learns, and its interrupted-and-resumed run repeats a straight run bit for bit.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code may panic.

#[path = "../examples/custom_model.rs"]
#[allow(dead_code)] // The example's `main` is not called here.
mod custom_model;

use gen_train::Trainer;
use gen_train::learner::Verbosity;

#[test]
fn the_custom_model_example_learns_and_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let resumed = custom_model::train(dir.path(), Verbosity::Silent).unwrap();
    let ckpt = dir.path().join("checkpoints");
    for name in ["last", "best"] {
        assert!(gen_train::checkpoint::exists(&ckpt, name), "{name}");
    }
    let val = |s: &gen_train::TrainerState, epoch: usize| s.history[epoch].metrics["val_loss"];
    assert_eq!(resumed.history.len(), 30);
    // sin(3x) has a variance of about 0.5 on [-1, 1]; the fit must end far below it.
    assert!(val(&resumed, 29) < 0.02, "{}", val(&resumed, 29));
    assert!(val(&resumed, 29) < 0.2 * val(&resumed, 0));

    let straight_dir = tempfile::tempdir().unwrap();
    let (data, config) = custom_model::setup();
    let (_, straight) = Trainer::new(config, straight_dir.path())
        .verbosity(Verbosity::Silent)
        .fit(&mut custom_model::model().unwrap(), &data, None, false)
        .unwrap();
    assert_eq!(straight.history, resumed.history);
    // The weights and the optimiser's state too.
    let load = |dir: &std::path::Path| {
        let (tensors, _): (
            std::collections::HashMap<String, tch::Tensor>,
            gen_train::TrainerState,
        ) = gen_train::checkpoint::load(&dir.join("checkpoints"), "last").unwrap();
        tensors
    };
    let (a, b) = (load(straight_dir.path()), load(dir.path()));
    assert_eq!(a.len(), b.len());
    for (name, t) in &a {
        assert!(t.equal(&b[name]), "{name} differs");
    }
}
