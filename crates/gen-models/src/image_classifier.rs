//! `ImageClassifier`: a small CNN whose penultimate activations serve as the feature space of a
//! Fréchet distance for image GANs, where Inception weights are not at hand (the usual practice
//! on MNIST-like data).
//!
//! ```text
//! [N, C, S, S] -> conv 3x3 (pad 1) -> [batch norm] -> ReLU -> max-pool 2
//!              -> conv 3x3 (pad 1) -> [batch norm] -> ReLU -> max-pool 2 -> flatten -> dropout
//!              -> linear -> ReLU  (the FEATURES, [N, feature_dim])
//!              -> dropout -> linear (the class logits, [N, num_classes])
//! ```
//!
//! With `input_pool` above 1 the input is first average-pooled by that factor (e.g. 128x128
//! spectrograms to 64x64), which divides the cost by its square.
//!
//! Batch norm (optional, off by default) uses batch statistics in training and its running
//! averages in evaluation, so features of a sample never depend on the rest of its batch.
//! Pooling after each convolution keeps the cost at about 4 M multiply-adds per 28x28 image
//! (with the default widths), so training on 60k images takes minutes on two CPU cores.

use crate::error::ensure_config;
use crate::layers::Linear;
use crate::{Error, Module, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor, nn};

/// Configuration of an [`ImageClassifier`]. Defaults fit 1x28x28 MNIST-like images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageClassifierConfig {
    /// Input channels. Default: 1.
    pub in_channels: i64,
    /// Height and width of the (square) input images; at least 4 after `input_pool`.
    /// Default: 28.
    pub image_size: i64,
    /// Average-pool the input by this factor (kernel and stride) before the first
    /// convolution; it must divide `image_size`. Default: 1 (no pooling).
    pub input_pool: i64,
    /// Output channels of the first convolution. Default: 32.
    pub conv1_channels: i64,
    /// Output channels of the second convolution. Default: 64.
    pub conv2_channels: i64,
    /// Size of the penultimate layer, the feature vector. Default: 128.
    pub feature_dim: i64,
    /// Batch normalisation after each convolution (PyTorch's `BatchNorm2d`: momentum 0.1,
    /// eps 1e-5). Default: false (it did not raise MNIST accuracy and costs time).
    pub batch_norm: bool,
    /// Dropout on the flattened convolution output and on the features, during training only.
    /// Default: 0.25.
    pub dropout: f64,
    /// Number of classes. Default: 10.
    pub num_classes: i64,
}

impl Default for ImageClassifierConfig {
    fn default() -> Self {
        ImageClassifierConfig {
            in_channels: 1,
            image_size: 28,
            input_pool: 1,
            conv1_channels: 32,
            conv2_channels: 64,
            feature_dim: 128,
            batch_norm: false,
            dropout: 0.25,
            num_classes: 10,
        }
    }
}

/// A 2-D convolution with a square kernel, stride 1 and "same" zero padding, initialised like
/// PyTorch's `nn.Conv2d` (weight and bias uniform in `±1/sqrt(in * k * k)`).
#[derive(Debug)]
struct Conv2d {
    weight: Tensor,
    bias: Tensor,
    padding: i64,
}

impl Conv2d {
    fn new(vs: &nn::Path<'_>, input: i64, output: i64, kernel: i64) -> Result<Self> {
        let bound = 1.0 / ((input * kernel * kernel) as f64).sqrt();
        Ok(Conv2d {
            weight: vs.f_uniform("weight", &[output, input, kernel, kernel], -bound, bound)?,
            bias: vs.f_uniform("bias", &[output], -bound, bound)?,
            padding: kernel / 2,
        })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        Ok(xs.f_conv2d(
            &self.weight,
            Some(&self.bias),
            [1, 1],
            [self.padding, self.padding],
            [1, 1],
            1,
        )?)
    }
}

/// PyTorch's `BatchNorm2d` over the channels of `[N, C, H, W]`: `weight` 1, `bias` 0,
/// `running_mean` 0 and `running_var` 1 at the start; the running statistics are variables that
/// are saved but not trained.
#[derive(Debug)]
struct BatchNorm2d {
    weight: Tensor,
    bias: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
}

impl BatchNorm2d {
    fn new(vs: &nn::Path<'_>, channels: i64) -> Result<Self> {
        Ok(BatchNorm2d {
            weight: vs.f_ones("weight", &[channels])?,
            bias: vs.f_zeros("bias", &[channels])?,
            running_mean: vs.f_zeros_no_train("running_mean", &[channels])?,
            running_var: vs.f_ones_no_train("running_var", &[channels])?,
        })
    }

    fn forward(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ok(xs.f_batch_norm(
            Some(&self.weight),
            Some(&self.bias),
            Some(&self.running_mean),
            Some(&self.running_var),
            train,
            0.1,
            1e-5,
            false,
        )?)
    }
}

/// A convolution, optionally followed by batch norm, then ReLU and 2x2 max-pooling.
#[derive(Debug)]
struct ConvBlock {
    conv: Conv2d,
    norm: Option<BatchNorm2d>,
}

impl ConvBlock {
    fn new(
        vs: &nn::Path<'_>,
        conv: &str,
        norm: &str,
        input: i64,
        output: i64,
        batch_norm: bool,
    ) -> Result<Self> {
        Ok(ConvBlock {
            conv: Conv2d::new(&(vs / conv), input, output, 3)?,
            norm: if batch_norm {
                Some(BatchNorm2d::new(&(vs / norm), output)?)
            } else {
                None
            },
        })
    }

    fn forward(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let mut xs = self.conv.forward(xs)?;
        if let Some(norm) = &self.norm {
            xs = norm.forward(&xs, train)?;
        }
        Ok(xs
            .f_relu()?
            .f_max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)?)
    }
}

/// The CNN of the module docs: class logits from `forward_t`, penultimate features from
/// [`ImageClassifier::features`].
#[derive(Debug)]
pub struct ImageClassifier {
    block1: ConvBlock,
    block2: ConvBlock,
    fc: Linear,
    head: Linear,
    config: ImageClassifierConfig,
}

impl ImageClassifier {
    /// The configuration the model was built with.
    pub fn config(&self) -> &ImageClassifierConfig {
        &self.config
    }

    /// The device the model's variables live on.
    pub fn device(&self) -> Device {
        self.head.weight.device()
    }

    /// Runs the model once and returns both the features `[N, feature_dim]` (after the ReLU)
    /// and the class logits `[N, num_classes]`; `train` enables dropout.
    pub fn forward_with_features_t(
        &self,
        images: &Tensor,
        train: bool,
    ) -> Result<(Tensor, Tensor)> {
        let c = &self.config;
        let size = images.size();
        let expected = [c.in_channels, c.image_size, c.image_size];
        if size.len() != 4 || size.get(1..) != Some(&expected[..]) {
            return Err(Error::Shape {
                what: "image classifier input",
                expected: format!(
                    "[batch, {}, {}, {}]",
                    c.in_channels, c.image_size, c.image_size
                ),
                got: size,
            });
        }
        if !images.f_is_floating_point()? {
            return Err(Error::Shape {
                what: "image classifier input",
                expected: format!("a floating-point tensor, not {:?}", images.f_kind()?),
                got: size,
            });
        }
        let mut xs = images.f_to_kind(Kind::Float)?;
        if c.input_pool > 1 {
            let k = [c.input_pool, c.input_pool];
            xs = xs.f_avg_pool2d(k, k, [0, 0], false, true, None::<i64>)?;
        }
        let xs = self.block1.forward(&xs, train)?;
        let xs = self.block2.forward(&xs, train)?;
        let xs = xs.f_flatten(1, -1)?.f_dropout(c.dropout, train)?;
        let features = self.fc.forward(&xs)?.f_relu()?;
        let logits = self.head.forward(&features.f_dropout(c.dropout, train)?)?;
        Ok((features, logits))
    }

    /// The penultimate activations `[N, feature_dim]` in evaluation mode (no dropout).
    pub fn features(&self, images: &Tensor) -> Result<Tensor> {
        Ok(self.forward_with_features_t(images, false)?.0)
    }
}

impl Module for ImageClassifier {
    type Config = ImageClassifierConfig;
    /// Images `[batch, in_channels, image_size, image_size]`, floating point, in `[-1, 1]`.
    type Input<'a> = &'a Tensor;

    fn init(vs: &nn::Path<'_>, config: &Self::Config) -> Result<Self> {
        let c = config;
        ensure_config(c.in_channels >= 1, "in_channels", || {
            format!("must be at least 1, got {}", c.in_channels)
        })?;
        ensure_config(
            c.input_pool >= 1 && c.image_size % c.input_pool == 0,
            "input_pool",
            || {
                format!(
                    "must be at least 1 and divide image_size {}, got {}",
                    c.image_size, c.input_pool
                )
            },
        )?;
        ensure_config(c.image_size / c.input_pool >= 4, "image_size", || {
            format!(
                "must be at least 4 after input_pool (two 2x2 poolings), got {} / {}",
                c.image_size, c.input_pool
            )
        })?;
        ensure_config(c.conv1_channels >= 1, "conv1_channels", || {
            format!("must be at least 1, got {}", c.conv1_channels)
        })?;
        ensure_config(c.conv2_channels >= 1, "conv2_channels", || {
            format!("must be at least 1, got {}", c.conv2_channels)
        })?;
        ensure_config(c.num_classes >= 2, "num_classes", || {
            format!("must be at least 2, got {}", c.num_classes)
        })?;
        ensure_config((0.0..1.0).contains(&c.dropout), "dropout", || {
            format!("must be in [0, 1), got {}", c.dropout)
        })?;
        let pooled = c.image_size / c.input_pool / 4;
        let block1 = ConvBlock::new(
            vs,
            "conv1",
            "bn1",
            c.in_channels,
            c.conv1_channels,
            c.batch_norm,
        )?;
        let block2 = ConvBlock::new(
            vs,
            "conv2",
            "bn2",
            c.conv1_channels,
            c.conv2_channels,
            c.batch_norm,
        )?;
        let fc = Linear::new(
            &(vs / "fc"),
            c.conv2_channels * pooled * pooled,
            c.feature_dim,
        )?;
        let head = Linear::new(&(vs / "head"), c.feature_dim, c.num_classes)?;
        Ok(ImageClassifier {
            block1,
            block2,
            fc,
            head,
            config: c.clone(),
        })
    }

    fn forward_t(&self, images: Self::Input<'_>, train: bool) -> Result<Tensor> {
        Ok(self.forward_with_features_t(images, train)?.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_parameter_names() {
        let vs = nn::VarStore::new(Device::Cpu);
        let config = ImageClassifierConfig {
            batch_norm: true,
            ..Default::default()
        };
        let model = ImageClassifier::init(&vs.root(), &config).unwrap();
        let x = Tensor::zeros([3, 1, 28, 28], (Kind::Float, Device::Cpu));
        let (f, l) = model.forward_with_features_t(&x, false).unwrap();
        assert_eq!(f.size(), [3, 128]);
        assert_eq!(l.size(), [3, 10]);
        assert_eq!(model.forward_t(&x, true).unwrap().size(), [3, 10]);
        // Features are ReLU outputs.
        assert!(f.min().double_value(&[]) >= 0.0);
        let mut names: Vec<String> = vs.variables().into_keys().collect();
        names.sort();
        assert_eq!(
            names,
            [
                "bn1.bias",
                "bn1.running_mean",
                "bn1.running_var",
                "bn1.weight",
                "bn2.bias",
                "bn2.running_mean",
                "bn2.running_var",
                "bn2.weight",
                "conv1.bias",
                "conv1.weight",
                "conv2.bias",
                "conv2.weight",
                "fc.bias",
                "fc.weight",
                "head.bias",
                "head.weight"
            ]
        );
        // 64 channels of 7x7 after two poolings feed the 128-unit layer.
        assert_eq!(vs.variables()["fc.weight"].size(), [128, 64 * 7 * 7]);
        // Running statistics are saved but not trained.
        assert!(!vs.variables()["bn1.running_mean"].requires_grad());
        assert!(vs.variables()["bn1.weight"].requires_grad());
        assert_eq!(vs.trainable_variables().len(), 12);
    }

    #[test]
    fn batch_norm_uses_running_statistics_in_evaluation() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let config = ImageClassifierConfig {
            batch_norm: true,
            ..Default::default()
        };
        let model = ImageClassifier::init(&vs.root(), &config).unwrap();
        let x = Tensor::rand([6, 1, 28, 28], (Kind::Float, Device::Cpu)) * 2.0 - 1.0;
        // In evaluation a sample's output does not depend on its batch.
        let all = model.forward_t(&x, false).unwrap();
        let first = model.forward_t(&x.narrow(0, 0, 2), false).unwrap();
        assert!(all.narrow(0, 0, 2).allclose(&first, 1e-5, 1e-6, false));
        // A training pass moves the running mean 10% of the way to the batch mean, per channel:
        // conv1's output mean, since the running mean starts at 0.
        let before = vs.variables()["bn1.running_mean"].copy();
        assert_eq!(before.abs().sum(Kind::Float).double_value(&[]), 0.0);
        let _ = model.forward_t(&x, true).unwrap();
        let vars = vs.variables();
        let conv = x.conv2d(
            &vars["conv1.weight"],
            Some(&vars["conv1.bias"]),
            [1, 1],
            [1, 1],
            [1, 1],
            1,
        );
        let batch_mean = conv.mean_dim([0i64, 2, 3].as_slice(), false, Kind::Float);
        assert!(vars["bn1.running_mean"].allclose(&(batch_mean * 0.1), 1e-5, 1e-6, false));
    }

    #[test]
    fn odd_sizes_and_bad_inputs() {
        let vs = nn::VarStore::new(Device::Cpu);
        let config = ImageClassifierConfig {
            in_channels: 3,
            image_size: 10,
            feature_dim: 16,
            num_classes: 4,
            ..Default::default()
        };
        let model = ImageClassifier::init(&vs.root(), &config).unwrap();
        let x = Tensor::zeros([2, 3, 10, 10], (Kind::Float, Device::Cpu));
        assert_eq!(model.forward_t(&x, false).unwrap().size(), [2, 4]);
        // 10 -> 5 -> 2 after two floor poolings; no batch-norm variables.
        assert_eq!(vs.variables()["fc.weight"].size(), [16, 64 * 2 * 2]);
        assert_eq!(vs.variables().len(), 8);
        for bad in [
            Tensor::zeros([2, 1, 10, 10], (Kind::Float, Device::Cpu)),
            Tensor::zeros([3, 10, 10], (Kind::Float, Device::Cpu)),
            Tensor::zeros([2, 3, 10, 10], (Kind::Int64, Device::Cpu)),
        ] {
            let err = model.forward_t(&bad, false).unwrap_err();
            assert!(matches!(err, Error::Shape { .. }), "{err}");
        }
        for (field, config) in [
            (
                "image_size",
                ImageClassifierConfig {
                    image_size: 3,
                    ..Default::default()
                },
            ),
            (
                "dropout",
                ImageClassifierConfig {
                    dropout: 1.0,
                    ..Default::default()
                },
            ),
            (
                "num_classes",
                ImageClassifierConfig {
                    num_classes: 1,
                    ..Default::default()
                },
            ),
        ] {
            let vs = nn::VarStore::new(Device::Cpu);
            let err = ImageClassifier::init(&vs.root(), &config).unwrap_err();
            assert!(
                matches!(err, Error::Config { field: f, .. } if f == field),
                "{err}"
            );
        }
    }

    #[test]
    fn dropout_only_in_training_and_config_round_trips() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let model = ImageClassifier::init(&vs.root(), &ImageClassifierConfig::default()).unwrap();
        let x = Tensor::rand([4, 1, 28, 28], (Kind::Float, Device::Cpu)) * 2.0 - 1.0;
        let a = model.forward_t(&x, false).unwrap();
        let b = model.forward_t(&x, false).unwrap();
        assert!(a.equal(&b));
        let t1 = model.forward_t(&x, true).unwrap();
        let t2 = model.forward_t(&x, true).unwrap();
        assert!(!t1.equal(&t2));
        let json = serde_json::to_string(&ImageClassifierConfig::default()).unwrap();
        let back: ImageClassifierConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ImageClassifierConfig::default());
        let partial: ImageClassifierConfig =
            serde_json::from_str(r#"{"feature_dim": 64}"#).unwrap();
        assert_eq!(partial.feature_dim, 64);
        assert_eq!(partial.conv1_channels, 32);
    }
}
