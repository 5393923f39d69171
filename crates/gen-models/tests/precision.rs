//! Mixed precision: inside `gen_core::autocast(Precision::Bf16, ..)`, convolutions and linear
//! layers compute exactly what the same op computes on bfloat16 copies of their input and
//! weights, return f32, and send f32 gradients to their f32 weights.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test code may panic.

use gen_core::{Precision, autocast};
use gen_models::conv::{Conv2d, ConvConfig, ConvTranspose2d, Init};
use gen_models::layers::Linear;
use tch::{Device, Kind, Tensor, nn};

mod common;
use common::max_abs_diff;

fn bf(t: &Tensor) -> Tensor {
    t.to_kind(Kind::BFloat16)
}

/// `layer` under bf16 autocast against `reference` (the op on bf16 copies, cast back), and
/// against plain f32: equal to the first (exactly when `exact`, else within bf16 rounding of
/// the result, 2^-8 relative), clearly different from and close to the second (bf16 has an
/// 8-bit mantissa), and its weight gradient is f32 and close to the f32 one.
fn check(
    name: &str,
    exact: bool,
    vs: &nn::VarStore,
    xs: &Tensor,
    layer: impl Fn(&Tensor) -> Tensor,
    reference: impl Fn(&Tensor) -> Tensor,
) {
    let plain = layer(xs);
    let mixed = autocast(Precision::Bf16, || layer(xs));
    assert_eq!(mixed.kind(), Kind::Float, "{name}: output kind");
    assert_eq!(mixed.size(), plain.size(), "{name}: shape");
    let scale = plain.abs().max().double_value(&[]);
    let off = max_abs_diff(&mixed, &reference(xs));
    if exact {
        assert!(
            mixed.equal(&reference(xs)),
            "{name}: not the bf16 op ({off})"
        );
    } else {
        assert!(
            off <= scale / 256.0,
            "{name}: {off} from the bf16 op, scale {scale}"
        );
    }
    let err = max_abs_diff(&mixed, &plain);
    assert!(
        err > 0.0,
        "{name}: autocast changed nothing, so it did not run in bf16"
    );
    assert!(err < 0.05 * scale, "{name}: {err} vs scale {scale}");
    // Gradients: f32, and near the f32 ones.
    let weight = vs
        .variables()
        .into_iter()
        .find(|(k, _)| k.ends_with("weight"))
        .map(|(_, v)| v)
        .unwrap();
    let grad_of = |f: &dyn Fn() -> Tensor| {
        for mut v in vs.trainable_variables() {
            v.zero_grad();
        }
        (f() * Tensor::from(0.37)).sum(Kind::Float).backward();
        weight.grad().copy()
    };
    let g32 = grad_of(&|| layer(xs));
    let g16 = grad_of(&|| autocast(Precision::Bf16, || layer(xs)));
    assert_eq!(g16.kind(), Kind::Float, "{name}: gradient kind");
    let gscale = g32.abs().max().double_value(&[]);
    assert!(
        max_abs_diff(&g16, &g32) < 0.05 * gscale,
        "{name}: gradient {} vs scale {gscale}",
        max_abs_diff(&g16, &g32)
    );
}

#[test]
fn conv_layers_and_linear_compute_in_bf16_under_autocast() {
    tch::manual_seed(7);
    let opts = (Kind::Float, Device::Cpu);

    let vs = nn::VarStore::new(Device::Cpu);
    let conv = Conv2d::new(&vs.root(), 3, 8, ConvConfig::new(4, 2, 1), Init::PyTorch).unwrap();
    let xs = Tensor::randn([2, 3, 12, 12], opts);
    let w = &vs.variables()["weight"];
    let b = &vs.variables()["bias"];
    check(
        "conv2d",
        true,
        &vs,
        &xs,
        |x| conv.forward(x).unwrap(),
        |x| {
            bf(x)
                .conv2d(&bf(w), Some(bf(b)), [2, 2], [1, 1], [1, 1], 1)
                .to_kind(Kind::Float)
        },
    );

    // The three CPU paths of the transposed convolution: libtorch's kernel (8 outputs), the
    // col2im product (1 output) and the 1x1-input product.
    for (name, input, output, side) in [
        ("conv_transpose2d", 6, 8, 5),
        ("conv_transpose2d gemm", 6, 1, 5),
        ("conv_transpose2d pixel", 6, 8, 1),
    ] {
        let vs = nn::VarStore::new(Device::Cpu);
        let config = ConvConfig::new(4, 2, 1);
        let deconv =
            ConvTranspose2d::new(&vs.root(), input, output, config, Init::PyTorch).unwrap();
        let xs = Tensor::randn([2, input, side, side], opts);
        let w = vs.variables()["weight"].shallow_clone();
        let b = vs.variables()["bias"].shallow_clone();
        check(
            name,
            name == "conv_transpose2d",
            &vs,
            &xs,
            |x| deconv.forward(x).unwrap(),
            |x| {
                // libtorch's kernel adds the bias in bf16; the product paths add the f32
                // bias after casting back (and col2im sums rounded bf16 columns in f32).
                let y = bf(x)
                    .conv_transpose2d(&bf(&w), None::<Tensor>, [2, 2], [1, 1], [0, 0], 1, [1, 1])
                    .to_kind(Kind::Float);
                if name == "conv_transpose2d" {
                    bf(x)
                        .conv_transpose2d(&bf(&w), Some(bf(&b)), [2, 2], [1, 1], [0, 0], 1, [1, 1])
                        .to_kind(Kind::Float)
                } else {
                    y + b.view([1, -1, 1, 1])
                }
            },
        );
    }

    let vs = nn::VarStore::new(Device::Cpu);
    let linear = Linear::new(&vs.root(), 10, 4).unwrap();
    let xs = Tensor::randn([5, 10], opts);
    let w = &vs.variables()["weight"];
    let b = &vs.variables()["bias"];
    check(
        "linear",
        true,
        &vs,
        &xs,
        |x| linear.forward(x).unwrap(),
        |x| bf(x).linear(&bf(w), Some(bf(b))).to_kind(Kind::Float),
    );
}

#[test]
fn autocast_leaves_other_kinds_alone() {
    // An fp32 scope inside nothing changes nothing.
    let vs = nn::VarStore::new(Device::Cpu);
    let linear = Linear::new(&vs.root(), 3, 2).unwrap();
    let xs = Tensor::randn([4, 3], (Kind::Float, Device::Cpu));
    let outside = linear.forward(&xs).unwrap();
    let inside = autocast(Precision::Fp32, || linear.forward(&xs).unwrap());
    assert!(outside.equal(&inside));
}
