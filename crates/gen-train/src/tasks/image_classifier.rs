//! Image classification: labelled images `[N, C, H, W]` and the [`ImageClassifier`] objective
//! (cross-entropy on its logits, with accuracy).

use super::Objective;
use crate::metrics::Metrics;
use crate::{Dataset, Error, Result};
use gen_core::{CrossEntropyOptions, accuracy, array_to_tensor, cross_entropy};
use gen_data::mnist::{PixelRange, normalize_nchw};
use gen_models::Module;
use gen_models::image_classifier::ImageClassifier;
use ndarray::{Array1, Array3};
use tch::{Device, Kind, Tensor};

/// A batch of images `[batch, C, H, W]` (float) and their class labels `[batch]` (int64).
#[derive(Debug)]
pub struct ImageBatch {
    /// Images, float.
    pub images: Tensor,
    /// Class labels, int64.
    pub labels: Tensor,
}

/// Labelled images held as one CPU tensor; batches are gathered and moved to `device`.
///
/// Optionally ([`LabelledImages::with_random_shift`]) each image of a batch is translated by a
/// random whole number of pixels, the usual augmentation for MNIST-like training sets.
#[derive(Debug)]
pub struct LabelledImages {
    images: Tensor,
    labels: Tensor,
    device: Device,
    shift: Option<(i64, f64)>,
}

impl LabelledImages {
    /// Wraps `images` `[N, C, H, W]` (floating point) and `labels` `[N]` (int64).
    pub fn new(images: Tensor, labels: Tensor, device: Device) -> Result<Self> {
        let size = images.size();
        let n = size.first().copied();
        if size.len() != 4 || !images.f_is_floating_point()? {
            return Err(gen_core::Error::ShapeMismatch {
                op: "LabelledImages::new (images)",
                expected: "floating-point [N, C, H, W]".into(),
                got: size,
            }
            .into());
        }
        if labels.size() != [n.unwrap_or(0)] || labels.f_kind()? != Kind::Int64 {
            return Err(gen_core::Error::ShapeMismatch {
                op: "LabelledImages::new (labels)",
                expected: format!("int64 [{}], one label per image", n.unwrap_or(0)),
                got: labels.size(),
            }
            .into());
        }
        Ok(LabelledImages {
            images: images.f_to_device(Device::Cpu)?,
            labels: labels.f_to_device(Device::Cpu)?,
            device,
            shift: None,
        })
    }

    /// Makes every batch translate each image by `dx, dy` drawn uniformly from
    /// `-max_shift..=max_shift` (libtorch's generator, so the trainer's per-step seed fixes
    /// them), filling the uncovered border with `background` (e.g. -1 for images in `[-1, 1]`).
    /// `max_shift = 0` turns it off. Default: off.
    pub fn with_random_shift(mut self, max_shift: i64, background: f64) -> Result<Self> {
        let (h, w) = match self.images.size().as_slice() {
            [_, _, h, w] => (*h, *w),
            _ => (0, 0),
        };
        if max_shift < 0 || max_shift >= h.min(w) {
            return Err(Error::config(
                "augment_shift",
                format!(
                    "must be in 0..{} for {h}x{w} images, got {max_shift}",
                    h.min(w)
                ),
            ));
        }
        self.shift = (max_shift > 0).then_some((max_shift, background));
        Ok(self)
    }

    /// Converts `(N, H, W)` `u8` images (as loaded by `gen_data::idx`) to `[N, 1, H, W]` floats
    /// in `range`, with their `u8` labels.
    pub fn from_u8(
        images: &Array3<u8>,
        labels: &Array1<u8>,
        range: PixelRange,
        device: Device,
    ) -> Result<Self> {
        let images = array_to_tensor(&normalize_nchw(images, range))?;
        let labels = array_to_tensor(&labels.mapv(i64::from))?;
        Self::new(images, labels, device)
    }

    /// All images `[N, C, H, W]`, on the CPU.
    pub fn images(&self) -> &Tensor {
        &self.images
    }

    /// All labels `[N]`, on the CPU.
    pub fn labels(&self) -> &Tensor {
        &self.labels
    }
}

impl Dataset for LabelledImages {
    type Batch = ImageBatch;

    fn len(&self) -> usize {
        self.images.size().first().map_or(0, |&n| n as usize)
    }

    fn batch(&self, indices: &[usize]) -> Result<ImageBatch> {
        let n = self.len();
        let mut idx = Vec::with_capacity(indices.len());
        for &i in indices {
            if i >= n {
                return Err(Error::config(
                    "batch",
                    format!("index {i} out of range of {n} images"),
                ));
            }
            idx.push(i as i64);
        }
        let idx = Tensor::f_from_slice(&idx)?;
        let mut images = self.images.f_index_select(0, &idx)?;
        if let Some((max_shift, background)) = self.shift {
            images = random_shift(&images, max_shift, background)?;
        }
        Ok(ImageBatch {
            images: images.f_to_device(self.device)?,
            labels: self
                .labels
                .f_index_select(0, &idx)?
                .f_to_device(self.device)?,
        })
    }
}

/// Translates each image of `images` `[B, C, H, W]` by its own random offset in
/// `-max_shift..=max_shift` along both axes, filling with `background`.
fn random_shift(images: &Tensor, max_shift: i64, background: f64) -> Result<Tensor> {
    let size = images.size();
    let [b, _, h, w] = size.as_slice() else {
        return Err(gen_core::Error::ShapeMismatch {
            op: "random_shift",
            expected: "[B, C, H, W]".into(),
            got: size,
        }
        .into());
    };
    let (b, h, w) = (*b, *h, *w);
    let m = max_shift;
    // Padding by m on every side, then a crop at offset (m + dy, m + dx) with dy, dx in
    // [-m, m] moves the content by (-dy, -dx): any offset in [0, 2m] is a shift in [-m, m].
    let padded = images
        .f_sub_scalar(background)?
        .f_constant_pad_nd([m, m, m, m])?
        .f_add_scalar(background)?;
    let offsets = Tensor::f_randint(2 * m + 1, [b, 2], (Kind::Int64, Device::Cpu))?;
    let offsets: Vec<i64> = Vec::<i64>::try_from(offsets.f_flatten(0, -1)?)?;
    let mut crops = Vec::with_capacity(b as usize);
    for (i, pair) in offsets.chunks(2).enumerate() {
        let (dy, dx) = match pair {
            [dy, dx] => (*dy, *dx),
            _ => (m, m),
        };
        crops.push(
            padded
                .f_narrow(0, i as i64, 1)?
                .f_narrow(2, dy, h)?
                .f_narrow(3, dx, w)?,
        );
    }
    Ok(Tensor::f_cat(&crops, 0)?)
}

impl Objective for ImageClassifier {
    type Batch = ImageBatch;

    fn forward_loss(&self, batch: &ImageBatch, train: bool) -> Result<(Tensor, Metrics)> {
        let logits = self.forward_t(&batch.images, train)?;
        let loss = cross_entropy(&logits, &batch.labels, &CrossEntropyOptions::default())?;
        let acc = accuracy(&logits, &batch.labels, None)?;
        let n = acc.total as f64;
        let mut metrics = Metrics::new();
        metrics.add("loss", loss.f_double_value(&[])? * n, n);
        metrics.add("accuracy", acc.correct as f64, n);
        Ok((loss, metrics))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::test_support::serial;

    #[test]
    fn random_shift_moves_content_and_fills_the_border() {
        let _serial = serial();
        // One bright pixel in the middle of a 5x5 image on background -1.
        let img = Tensor::full([4, 1, 5, 5], -1.0, (Kind::Float, Device::Cpu));
        let _ = img.narrow(2, 2, 1).narrow(3, 2, 1).fill_(1.0);
        let labels = Tensor::from_slice(&[0i64, 1, 2, 3]);
        let data = LabelledImages::new(img, labels, Device::Cpu)
            .unwrap()
            .with_random_shift(2, -1.0)
            .unwrap();
        tch::manual_seed(0);
        let batch = data.batch(&[0, 1, 2, 3]).unwrap();
        assert_eq!(batch.images.size(), [4, 1, 5, 5]);
        assert_eq!(batch.labels, Tensor::from_slice(&[0i64, 1, 2, 3]));
        let mut positions = std::collections::BTreeSet::new();
        for i in 0..4 {
            let im = batch.images.get(i);
            // Still exactly one bright pixel (a shift of at most 2 keeps it inside), the rest
            // is background.
            assert_eq!(im.eq(1.0).sum(Kind::Int64).int64_value(&[]), 1);
            assert_eq!(im.eq(-1.0).sum(Kind::Int64).int64_value(&[]), 24);
            positions.insert(im.flatten(0, -1).argmax(0, false).int64_value(&[]));
        }
        assert!(positions.len() > 1, "offsets should vary: {positions:?}");
        // Same seed, same shifts.
        tch::manual_seed(0);
        assert!(
            data.batch(&[0, 1, 2, 3])
                .unwrap()
                .images
                .equal(&batch.images)
        );
        assert!(
            LabelledImages::new(
                Tensor::zeros([1, 1, 5, 5], (Kind::Float, Device::Cpu)),
                Tensor::from_slice(&[0i64]),
                Device::Cpu
            )
            .unwrap()
            .with_random_shift(5, 0.0)
            .is_err()
        );
    }
}
