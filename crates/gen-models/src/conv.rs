//! Convolutional building blocks on tch's fallible API: [`Conv2d`], [`ConvTranspose2d`],
//! [`BatchNorm2d`] and [`GroupNorm`], plus [`leaky_relu`] with any slope.
//!
//! Parameter names and shapes follow PyTorch (`weight`, `bias`, `running_mean`,
//! `running_var`), so checkpoints map one-to-one onto `torch.nn` modules (PyTorch's
//! `num_batches_tracked` counter is not kept: it only matters when `momentum` is `None`).
//! Batch-norm running statistics are non-trainable variables of the `VarStore`, so they are
//! saved and restored with the model but never touched by an optimiser.

use crate::Result;
use crate::error::ensure_config;
use crate::layers::{autocast_kind_for, cast, uncast};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn};

/// How a layer's parameters are initialised.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Init {
    /// PyTorch's default for its layers: weight and bias `U(±1/sqrt(fan_in))`
    /// (`kaiming_uniform_(a = sqrt(5))`), batch-norm weight 1 and bias 0. The default.
    #[default]
    PyTorch,
    /// The DCGAN paper's (Radford et al. 2016): weights `N(0, std)`, bias 0, and batch-norm
    /// weight `N(1, std)`, bias 0. The paper uses `std = 0.02`.
    Normal {
        /// Standard deviation of the weights.
        std: f64,
    },
}

impl Init {
    /// The DCGAN paper's initialisation, `N(0, 0.02)`.
    pub fn dcgan() -> Self {
        Init::Normal { std: 0.02 }
    }

    /// Weight (and optional bias) of a layer whose PyTorch fan-in is `fan_in`.
    fn weight_and_bias(
        self,
        vs: &nn::Path<'_>,
        dims: &[i64],
        fan_in: i64,
        bias: Option<i64>,
    ) -> Result<(Tensor, Option<Tensor>)> {
        match self {
            Init::PyTorch => {
                let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
                let weight = vs.f_uniform("weight", dims, -bound, bound)?;
                let bias = match bias {
                    Some(n) => Some(vs.f_uniform("bias", &[n], -bound, bound)?),
                    None => None,
                };
                Ok((weight, bias))
            }
            Init::Normal { std } => {
                let weight = vs.f_randn("weight", dims, 0.0, std)?;
                let bias = match bias {
                    Some(n) => Some(vs.f_zeros("bias", &[n])?),
                    None => None,
                };
                Ok((weight, bias))
            }
        }
    }
}

/// Kernel geometry of a (transposed) convolution: square kernel, stride and padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConvConfig {
    /// Kernel height and width. Default: 3.
    pub kernel: i64,
    /// Stride. Default: 1.
    pub stride: i64,
    /// Zero padding on each side (for a transposed convolution: PyTorch's `padding`, which
    /// crops the output). Default: 0.
    pub padding: i64,
    /// Whether the layer has a bias. Default: true.
    pub bias: bool,
}

impl Default for ConvConfig {
    fn default() -> Self {
        ConvConfig {
            kernel: 3,
            stride: 1,
            padding: 0,
            bias: true,
        }
    }
}

impl ConvConfig {
    /// A `kernel` x `kernel` convolution with `stride`, `padding` and a bias.
    pub fn new(kernel: i64, stride: i64, padding: i64) -> Self {
        ConvConfig {
            kernel,
            stride,
            padding,
            bias: true,
        }
    }

    /// The same without a bias (e.g. before a batch norm, which has its own).
    pub fn no_bias(self) -> Self {
        ConvConfig {
            bias: false,
            ..self
        }
    }

    /// The weight and bias of a convolution from `input` to `output` channels under `vs`,
    /// after checking the sizes (`field` names the layer in errors): PyTorch's layout `[output,
    /// input, k, k]` with fan-in `input k k`, or for a `transposed` one `[input, output, k, k]`
    /// with fan-in `output k k`.
    fn variables(
        &self,
        vs: &nn::Path<'_>,
        field: &'static str,
        (input, output): (i64, i64),
        transposed: bool,
        init: Init,
    ) -> Result<(Tensor, Option<Tensor>)> {
        ensure_config(input > 0 && output > 0, field, || {
            format!("channels must be positive, got {input} -> {output}")
        })?;
        ensure_config(
            self.kernel > 0 && self.stride > 0 && self.padding >= 0,
            field,
            || {
                format!(
                    "kernel and stride must be positive and padding >= 0, got kernel {}, stride {}, padding {}",
                    self.kernel, self.stride, self.padding
                )
            },
        )?;
        let k = self.kernel;
        let (dims, fan_in) = if transposed {
            ([input, output, k, k], output * k * k)
        } else {
            ([output, input, k, k], input * k * k)
        };
        init.weight_and_bias(vs, &dims, fan_in, self.bias.then_some(output))
    }
}

/// The operands of libtorch's convolution kernels: `xs`, `weight` and `bias` in the precision
/// of the [`gen_core::autocast`] scope, if any.
fn autocast_operands(
    xs: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
) -> Result<(Tensor, Tensor, Option<Tensor>)> {
    let kind = autocast_kind_for(xs);
    let bias = bias.map(|b| cast(b, kind)).transpose()?;
    Ok((cast(xs, kind)?, cast(weight, kind)?, bias))
}

/// Checks that `xs` is `[batch, channels, h, w]`.
fn check_nchw(what: &'static str, xs: &Tensor, channels: i64) -> Result<()> {
    let size = xs.size();
    match size.as_slice() {
        [_, c, _, _] if *c == channels => Ok(()),
        _ => Err(crate::Error::Shape {
            what,
            expected: format!("[batch, {channels}, height, width]"),
            got: size,
        }),
    }
}

/// A 2-D convolution, PyTorch's `nn.Conv2d` (weight `[out, in, k, k]`).
#[derive(Debug)]
pub struct Conv2d {
    /// `[out, in, kernel, kernel]`.
    pub weight: Tensor,
    /// `[out]`, when the layer has a bias.
    pub bias: Option<Tensor>,
    config: ConvConfig,
    input: i64,
}

impl Conv2d {
    /// Creates the layer's variables under `vs`.
    pub fn new(
        vs: &nn::Path<'_>,
        input: i64,
        output: i64,
        config: ConvConfig,
        init: Init,
    ) -> Result<Self> {
        let (weight, bias) = config.variables(vs, "conv2d", (input, output), false, init)?;
        Ok(Conv2d {
            weight,
            bias,
            config,
            input,
        })
    }

    /// Convolves `xs` `[batch, in, h, w]`; the output is `[batch, out, h', w']` with
    /// `h' = (h + 2 padding - kernel) / stride + 1`.
    ///
    /// Inside a [`gen_core::autocast`] scope it convolves in that precision (output `f32`).
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        uncast(self.forward_autocast(xs)?, autocast_kind_for(xs))
    }

    /// [`Conv2d::forward`], except that inside a [`gen_core::autocast`] scope the output
    /// stays in the scope's kind, as PyTorch's autocast leaves it, for a batch norm or an
    /// activation to read directly; the input may then be `f32` or already in that kind.
    pub fn forward_autocast(&self, xs: &Tensor) -> Result<Tensor> {
        self.forward_autocast_with(xs, &self.weight)
    }

    /// [`Conv2d::forward_autocast`] with `weight` (of the layer's shape) in place of the
    /// layer's own, e.g. a [`crate::spectral::SpectralNorm`]-normalised copy of it.
    pub fn forward_autocast_with(&self, xs: &Tensor, weight: &Tensor) -> Result<Tensor> {
        check_nchw("conv2d input", xs, self.input)?;
        let c = &self.config;
        let (xs, weight, bias) = autocast_operands(xs, weight, self.bias.as_ref())?;
        Ok(xs.f_conv2d(
            &weight,
            bias.as_ref(),
            [c.stride, c.stride],
            [c.padding, c.padding],
            [1, 1],
            1,
        )?)
    }
}

/// A 2-D transposed convolution, PyTorch's `nn.ConvTranspose2d` (weight `[in, out, k, k]`).
///
/// With [`Init::PyTorch`] the bound uses PyTorch's fan-in for this layout, `out * k * k`.
///
/// On the CPU, two shapes common in small generators, where libtorch's kernel is several
/// times slower, are computed differently with the same arithmetic: a 1x1 input (the first
/// layer, from `z`) as one matrix product `x W` (each output pixel receives exactly one
/// product), and at most [`ConvTranspose2d::GEMM_MAX_OUT`] output channels (the image layer)
/// as the textbook algorithm, `W^T x` per image followed by `col2im` (PyTorch's `fold`).
/// Everything else, and every other device, uses libtorch's kernel.
#[derive(Debug)]
pub struct ConvTranspose2d {
    /// `[in, out, kernel, kernel]`.
    pub weight: Tensor,
    /// `[out]`, when the layer has a bias.
    pub bias: Option<Tensor>,
    config: ConvConfig,
    input: i64,
    output: i64,
}

impl ConvTranspose2d {
    /// Creates the layer's variables under `vs`.
    pub fn new(
        vs: &nn::Path<'_>,
        input: i64,
        output: i64,
        config: ConvConfig,
        init: Init,
    ) -> Result<Self> {
        let (weight, bias) =
            config.variables(vs, "conv_transpose2d", (input, output), true, init)?;
        Ok(ConvTranspose2d {
            weight,
            bias,
            config,
            input,
            output,
        })
    }

    /// Applies the layer to `xs` `[batch, in, h, w]`; the output is `[batch, out, h', w']`
    /// with `h' = (h - 1) stride - 2 padding + kernel`.
    ///
    /// Inside a [`gen_core::autocast`] scope its products run in that precision (output `f32`).
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        uncast(self.forward_autocast(xs)?, autocast_kind_for(xs))
    }

    /// [`ConvTranspose2d::forward`], except that inside a [`gen_core::autocast`] scope the
    /// output of libtorch's kernel stays in the scope's kind (see [`Conv2d::forward_autocast`]).
    /// The CPU product paths return `f32`.
    pub fn forward_autocast(&self, xs: &Tensor) -> Result<Tensor> {
        check_nchw("conv_transpose2d input", xs, self.input)?;
        let c = &self.config;
        let kind = autocast_kind_for(xs);
        if xs.device() == tch::Device::Cpu {
            let size = xs.size();
            if size.get(2..) == Some(&[1, 1][..]) {
                return self.forward_pixel(xs, kind);
            }
            if self.output <= Self::GEMM_MAX_OUT {
                return self.forward_gemm(xs, kind);
            }
        }
        let (xs, weight, bias) = autocast_operands(xs, &self.weight, self.bias.as_ref())?;
        Ok(xs.f_conv_transpose2d(
            &weight,
            bias.as_ref(),
            [c.stride, c.stride],
            [c.padding, c.padding],
            [0, 0],
            1,
            [1, 1],
        )?)
    }
}

impl ConvTranspose2d {
    /// Up to this many output channels, CPU inputs larger than 1x1 go through
    /// `col2im(W^T x)` rather than libtorch's kernel.
    pub const GEMM_MAX_OUT: i64 = 4;

    /// A 1x1 input: `[batch, in] @ [in, out k k]`, reshaped to `[batch, out, k, k]` and cropped
    /// by `padding` on each side (the stride plays no role).
    fn forward_pixel(&self, xs: &Tensor, kind: Option<Kind>) -> Result<Tensor> {
        let batch = xs.size().first().copied().unwrap_or(0);
        let ConvConfig {
            kernel: k,
            padding: p,
            ..
        } = self.config;
        if k - 2 * p < 1 {
            return Err(crate::Error::Shape {
                what: "conv_transpose2d input",
                expected: format!("an output size kernel {k} - 2 padding {p} that is positive"),
                got: xs.size(),
            });
        }
        let ys = uncast(
            cast(xs, kind)?
                .f_reshape([batch, self.input])?
                .f_matmul(&cast(&self.weight, kind)?.f_reshape([self.input, -1])?)?,
            kind,
        )?
        .f_reshape([batch, self.output, k, k])?;
        let ys = if p > 0 {
            ys.f_narrow(2, p, k - 2 * p)?.f_narrow(3, p, k - 2 * p)?
        } else {
            ys
        };
        match &self.bias {
            Some(bias) => Ok(ys.f_add(&bias.f_reshape([1, -1, 1, 1])?)?),
            None => Ok(ys),
        }
    }

    /// `col2im(W^T x)`: the transposed convolution as a matrix product and a fold.
    fn forward_gemm(&self, xs: &Tensor, kind: Option<Kind>) -> Result<Tensor> {
        let size = xs.size();
        let (batch, h, w) = match size.as_slice() {
            [b, _, h, w] => (*b, *h, *w),
            _ => (0, 0, 0),
        };
        let ConvConfig {
            kernel: k,
            stride: s,
            padding: p,
            ..
        } = self.config;
        let (out_h, out_w) = ((h - 1) * s - 2 * p + k, (w - 1) * s - 2 * p + k);
        if out_h < 1 || out_w < 1 {
            return Err(crate::Error::Shape {
                what: "conv_transpose2d input",
                expected: format!(
                    "a size whose output (h - 1) {s} - {} + {k} is positive",
                    2 * p
                ),
                got: size,
            });
        }
        // [in, out k k] -> [out k k, in] @ [batch, in, h w] = [batch, out k k, h w].
        let cols = uncast(
            cast(&self.weight, kind)?
                .f_reshape([self.input, -1])?
                .f_transpose(0, 1)?
                .f_matmul(&cast(xs, kind)?.f_reshape([batch, self.input, h * w])?)?,
            kind,
        )?;
        let ys = cols.f_col2im([out_h, out_w], [k, k], [1, 1], [p, p], [s, s])?;
        match &self.bias {
            Some(bias) => Ok(ys.f_add(&bias.f_reshape([1, -1, 1, 1])?)?),
            None => Ok(ys),
        }
    }
}

/// Batch normalisation over `[batch, channels, h, w]`, PyTorch's `nn.BatchNorm2d` with
/// `eps = 1e-5` and `momentum = 0.1`.
///
/// In training mode it normalises with the batch's statistics and updates the running ones
/// (`running = (1 - momentum) running + momentum batch`, unbiased variance); in evaluation
/// mode it uses the running statistics.
#[derive(Debug)]
pub struct BatchNorm2d {
    /// Scale `[channels]`.
    pub weight: Tensor,
    /// Shift `[channels]`.
    pub bias: Tensor,
    /// Running mean `[channels]` (non-trainable).
    pub running_mean: Tensor,
    /// Running variance `[channels]` (non-trainable).
    pub running_var: Tensor,
    channels: i64,
}

impl BatchNorm2d {
    /// PyTorch's default `eps`.
    pub const EPS: f64 = 1e-5;
    /// PyTorch's default `momentum`.
    pub const MOMENTUM: f64 = 0.1;

    /// Creates the layer's variables under `vs`. [`Init::Normal`] draws the weight from
    /// `N(1, std)`; [`Init::PyTorch`] sets it to 1. The bias starts at 0.
    pub fn new(vs: &nn::Path<'_>, channels: i64, init: Init) -> Result<Self> {
        ensure_config(channels > 0, "batch_norm2d", || {
            format!("channels must be positive, got {channels}")
        })?;
        let weight = match init {
            Init::PyTorch => vs.f_ones("weight", &[channels])?,
            Init::Normal { std } => vs.f_randn("weight", &[channels], 1.0, std)?,
        };
        Ok(BatchNorm2d {
            weight,
            bias: vs.f_zeros("bias", &[channels])?,
            running_mean: vs.f_zeros_no_train("running_mean", &[channels])?,
            running_var: vs.f_ones_no_train("running_var", &[channels])?,
            channels,
        })
    }

    /// Normalises `xs` `[batch, channels, h, w]`; `train` selects batch statistics (and
    /// updates the running ones) over running statistics.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        check_nchw("batch_norm2d input", xs, self.channels)?;
        Ok(xs.f_batch_norm(
            Some(&self.weight),
            Some(&self.bias),
            Some(&self.running_mean),
            Some(&self.running_var),
            train,
            Self::MOMENTUM,
            Self::EPS,
            false,
        )?)
    }
}

/// Group normalisation, PyTorch's `nn.GroupNorm(groups, channels)` with `eps = 1e-5`.
/// One group is layer normalisation over `[channels, h, w]` with a per-channel scale and
/// shift; it treats samples independently, as the WGAN-GP penalty needs.
#[derive(Debug)]
pub struct GroupNorm {
    /// Scale `[channels]`.
    pub weight: Tensor,
    /// Shift `[channels]`.
    pub bias: Tensor,
    groups: i64,
    channels: i64,
}

impl GroupNorm {
    /// Creates the layer's variables under `vs`: weight 1 (or `N(1, std)` with
    /// [`Init::Normal`]), bias 0. `channels` must be a multiple of `groups`.
    pub fn new(vs: &nn::Path<'_>, groups: i64, channels: i64, init: Init) -> Result<Self> {
        ensure_config(
            groups > 0 && channels > 0 && channels % groups == 0,
            "group_norm",
            || format!("channels ({channels}) must be a positive multiple of groups ({groups})"),
        )?;
        let weight = match init {
            Init::PyTorch => vs.f_ones("weight", &[channels])?,
            Init::Normal { std } => vs.f_randn("weight", &[channels], 1.0, std)?,
        };
        Ok(GroupNorm {
            weight,
            bias: vs.f_zeros("bias", &[channels])?,
            groups,
            channels,
        })
    }

    /// Normalises `xs` `[batch, channels, h, w]` per sample and group.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        check_nchw("group_norm input", xs, self.channels)?;
        Ok(xs.f_group_norm(
            self.groups,
            Some(&self.weight),
            Some(&self.bias),
            1e-5,
            false,
        )?)
    }
}

/// `LeakyReLU(slope)`: `x` for `x >= 0`, `slope * x` otherwise.
///
/// tch's `leaky_relu` has no slope argument, but libtorch's `leaky_relu_backward(g, x, slope)`
/// is `x > 0 ? g : slope g`: with `g = x` (and `x` detached in the second place) it is the
/// activation in one vectorised kernel, and autograd differentiates it (through `g` only) as
/// one more, `x > 0 ? grad : slope grad`, PyTorch's own leaky_relu gradient (`slope` at 0).
/// A product `x m` with a precomputed factor took five kernels forward; `prelu`'s backward
/// computes the slope's gradient in a scalar loop (7% of a bf16 DCGAN step).
pub fn leaky_relu(xs: &Tensor, slope: f64) -> Result<Tensor> {
    // leaky_relu_backward(grad_output = x, self = x detached).
    Ok(xs.f_detach()?.f_leaky_relu_backward(xs, slope, false)?)
}
