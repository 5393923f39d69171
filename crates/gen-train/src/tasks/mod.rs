//! Tasks: what a [`crate::TrainStep`] does for each kind of model.
//!
//! [`Supervised`] serves every model trained by one loss and one optimiser (the classifier,
//! the language model); GANs have their own step with two optimisers. All of them run
//! through the same [`crate::Trainer`].

pub mod classifier;
pub mod gan;
pub mod image_classifier;
pub mod lm;
pub mod music;
pub mod trajectory;

use crate::checkpoint::copy_into;
use crate::metrics::Metrics;
use crate::optim::{GradClip, Optimizer, OptimizerConfig};
use crate::{EpochSamples, Result, TrainStep};
use std::collections::HashMap;
use std::path::Path;
use tch::{Tensor, nn::VarStore};

/// A model with a differentiable objective.
pub trait Objective {
    /// The batch it consumes.
    type Batch;
    /// The mean loss to minimise on `batch`, and metrics as sums and counts (`loss` included).
    fn forward_loss(&self, batch: &Self::Batch, train: bool) -> Result<(Tensor, Metrics)>;

    /// Computes the training loss on `batch` and back-propagates it into the variables'
    /// gradients; returns the metrics. Default: `forward_loss(batch, true)`, then `backward`.
    /// Models with a hand-written backward pass override it.
    fn backward_loss(&self, batch: &Self::Batch) -> Result<Metrics> {
        let (loss, metrics) = self.forward_loss(batch, true)?;
        loss.f_backward()?;
        Ok(metrics)
    }
}

/// Writes a model's samples at the end of an epoch: called with the model, the epoch
/// (1-based) and the run folder; returns the files it wrote with the seed that drew them,
/// which the trainer labels as generated ([`TrainStep::epoch_samples`]) and TensorBoard logs
/// (images, audio clips, text: see [`crate::Trainer`]'s logs). It must draw from its own
/// seeded generator, never libtorch's global one, so that samples change no training float.
pub type SampleWriter<O> = Box<dyn FnMut(&O, usize, &Path) -> Result<EpochSamples>>;

/// One model, one loss, one optimiser: forward, backward, clip, update.
pub struct Supervised<O> {
    /// The model.
    pub model: O,
    /// The model's variables.
    pub vs: VarStore,
    optimizer: Optimizer,
    clip: GradClip,
    base_lr: f64,
    samples: Option<SampleWriter<O>>,
    /// The epoch the writer last ran for, and what it wrote.
    written: Option<(usize, EpochSamples)>,
}

impl<O: Objective> Supervised<O> {
    /// Wraps `model`, whose variables live in `vs`, with an optimiser and clipping.
    pub fn new(model: O, vs: VarStore, optimizer: OptimizerConfig, clip: GradClip) -> Result<Self> {
        let base_lr = optimizer.lr();
        let optimizer = Optimizer::new(&vs, optimizer)?;
        Ok(Supervised {
            model,
            vs,
            optimizer,
            clip,
            base_lr,
            samples: None,
            written: None,
        })
    }

    /// Writes samples of the model with `samples` at the end of every epoch.
    #[must_use]
    pub fn with_epoch_samples(
        mut self,
        samples: impl FnMut(&O, usize, &Path) -> Result<EpochSamples> + 'static,
    ) -> Self {
        self.samples = Some(Box::new(samples));
        self
    }

    /// The optimiser.
    pub fn optimizer(&self) -> &Optimizer {
        &self.optimizer
    }
}

/// The variables of `vs` sorted by name, with `prefix` prepended.
pub fn named_variables(vs: &VarStore, prefix: &str) -> Vec<(String, Tensor)> {
    let mut vars: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(name, t)| (format!("{prefix}{name}"), t))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

impl<O: Objective> TrainStep for Supervised<O> {
    type Batch = O::Batch;

    fn train_step(&mut self, batch: &Self::Batch) -> Result<Metrics> {
        self.optimizer.zero_grad()?;
        let metrics = self.model.backward_loss(batch)?;
        self.optimizer.clip(self.clip)?;
        self.optimizer.step()?;
        Ok(metrics)
    }

    fn valid_step(&mut self, batch: &Self::Batch) -> Result<Metrics> {
        let (_, metrics) = self.model.forward_loss(batch, false)?;
        Ok(metrics)
    }

    fn set_lr_factor(&mut self, factor: f64) {
        self.optimizer.set_lr(self.base_lr * factor);
    }

    fn optimizers_mut(&mut self) -> Vec<&mut Optimizer> {
        vec![&mut self.optimizer]
    }

    fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let mut state = named_variables(&self.vs, "model.");
        state.extend(self.optimizer.state_tensors("optimizer.")?);
        Ok(state)
    }

    fn load_state(&mut self, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
        copy_into(&named_variables(&self.vs, "model."), tensors, path)?;
        self.optimizer
            .load_state_tensors("optimizer.", tensors, path)
    }

    fn on_epoch_end(&mut self, epoch: usize, run_dir: &Path) -> Result<()> {
        if let Some(samples) = &mut self.samples {
            self.written = Some((epoch, samples(&self.model, epoch, run_dir)?));
        }
        Ok(())
    }

    fn epoch_samples(&self, epoch: usize, _run_dir: &Path) -> Option<EpochSamples> {
        let (written, samples) = self.written.as_ref()?;
        (*written == epoch).then(|| samples.clone())
    }
}
