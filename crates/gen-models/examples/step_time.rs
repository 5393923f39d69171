//! Times forward+backward of the seed classifier (batch 128, seq 256), packed vs dense GRU.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)] // Example code may panic.
use gen_models::layers::{Gru, GruConfig};
use tch::{nn, Device, Kind, Tensor};

fn main() {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let gru = Gru::new(&vs.root(), 128, 128, &GruConfig::default()).unwrap();
    let xs = Tensor::randn([128, 256, 128], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    let lengths = Tensor::full([128], 256, (Kind::Int64, Device::Cpu));
    for name in ["dense", "packed", "masked", "dense", "packed", "masked"] {
        let t = std::time::Instant::now();
        let (out, _) = match name {
            "packed" => gru.forward_packed(&xs, &lengths, true).unwrap(),
            "masked" => gru.forward_masked(&xs, &lengths, true).unwrap(),
            _ => gru.forward(&xs, None, true).unwrap(),
        };
        let f = t.elapsed();
        out.sum(Kind::Float).backward();
        println!("{name}: forward {:?} total {:?}", f, t.elapsed());
    }
}
