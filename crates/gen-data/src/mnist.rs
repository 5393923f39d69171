//! MNIST-style image classification datasets (MNIST, Fashion-MNIST), read from their IDX
//! files ([`crate::idx`]), and the pixel scaling that models take them in.

use crate::idx::{read_idx_images, read_idx_labels};
use crate::{Error, Result, paths};
use ndarray::{Array1, Array3, Array4, ArrayBase, Axis, Data, Ix3};
use std::path::{Path, PathBuf};

/// The dataset name of MNIST in the data folder.
pub const MNIST: &str = "mnist";
/// The dataset name of Fashion-MNIST in the data folder.
pub const FASHION_MNIST: &str = "fashion-mnist";

/// A train/test image classification dataset such as MNIST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageDataset {
    /// Training images, `(n_train, h, w)`.
    pub train_images: Array3<u8>,
    /// Training labels, `(n_train)`.
    pub train_labels: Array1<u8>,
    /// Test images, `(n_test, h, w)`.
    pub test_images: Array3<u8>,
    /// Test labels, `(n_test)`.
    pub test_labels: Array1<u8>,
}

impl ImageDataset {
    /// The image size `(h, w)`, shared by the train and test images.
    pub fn image_size(&self) -> (usize, usize) {
        let (_, h, w) = self.train_images.dim();
        (h, w)
    }
}

/// Loads an MNIST-like dataset from `dir`, which holds `train-images-idx3-ubyte`,
/// `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each
/// possibly with a `.gz` suffix (the plain name is preferred when both exist).
///
/// Checks that each split has as many labels as images and that train and test images have the
/// same size. Label values are not checked.
pub fn load_mnist_like(dir: impl AsRef<Path>) -> Result<ImageDataset> {
    let dir = dir.as_ref();
    let train = load_split(dir, "train")?;
    let test = load_split(dir, "t10k")?;
    let ((_, train_h, train_w), (_, test_h, test_w)) = (train.images.dim(), test.images.dim());
    if (train_h, train_w) != (test_h, test_w) {
        return Err(Error::format(
            &test.images_path,
            "dims",
            format!(
                "test images are {test_h}x{test_w} but training images ({}) are \
                 {train_h}x{train_w}",
                train.images_path.display(),
            ),
        ));
    }
    Ok(ImageDataset {
        train_images: train.images,
        train_labels: train.labels,
        test_images: test.images,
        test_labels: test.labels,
    })
}

/// Loads MNIST from the `mnist` folder of the data folder ([`paths::dataset_dir`]).
pub fn load_mnist() -> Result<ImageDataset> {
    load_mnist_like(paths::dataset_dir(MNIST)?)
}

/// Loads Fashion-MNIST from the `fashion-mnist` folder of the data folder
/// ([`paths::dataset_dir`]).
pub fn load_fashion_mnist() -> Result<ImageDataset> {
    load_mnist_like(paths::dataset_dir(FASHION_MNIST)?)
}

/// The target range of [`normalize`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PixelRange {
    /// `[0, 1]`: `x / 255`. The default.
    #[default]
    ZeroOne,
    /// `[-1, 1]`: `x / 127.5 - 1`, matching a `tanh` generator output (DCGAN).
    MinusOneOne,
}

impl PixelRange {
    /// Maps one pixel.
    pub fn map(self, x: u8) -> f32 {
        match self {
            PixelRange::ZeroOne => f32::from(x) / 255.0,
            PixelRange::MinusOneOne => f32::from(x) / 127.5 - 1.0,
        }
    }
}

/// `(n, h, w)` `u8` images as `f32` in `range`.
pub fn normalize<S: Data<Elem = u8>>(images: &ArrayBase<S, Ix3>, range: PixelRange) -> Array3<f32> {
    images.mapv(|x| range.map(x))
}

/// `(n, h, w)` `u8` images as `(n, 1, h, w)` `f32` in `range`: the NCHW layout of
/// convolutional layers.
pub fn normalize_nchw<S: Data<Elem = u8>>(
    images: &ArrayBase<S, Ix3>,
    range: PixelRange,
) -> Array4<f32> {
    normalize(images, range).insert_axis(Axis(1))
}

/// One split of an MNIST-like folder.
struct Split {
    images: Array3<u8>,
    images_path: PathBuf,
    labels: Array1<u8>,
}

/// Reads the images and labels of one split (`train` or `t10k`), checking the counts agree.
fn load_split(dir: &Path, split: &str) -> Result<Split> {
    let images_path = find_file(dir, &format!("{split}-images-idx3-ubyte"))?;
    let labels_path = find_file(dir, &format!("{split}-labels-idx1-ubyte"))?;
    let images = read_idx_images(&images_path)?;
    let labels = read_idx_labels(&labels_path)?;
    if images.len_of(Axis(0)) != labels.len() {
        return Err(Error::format(
            &labels_path,
            "dims",
            format!(
                "{} labels but {} has {} images",
                labels.len(),
                images_path.display(),
                images.len_of(Axis(0))
            ),
        ));
    }
    Ok(Split {
        images,
        images_path,
        labels,
    })
}

/// `dir/name`, else `dir/name.gz`, else a not-found [`Error::Io`] naming both.
fn find_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let plain = dir.join(name);
    if plain.is_file() {
        return Ok(plain);
    }
    let gz = dir.join(format!("{name}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(Error::io(
        plain,
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("neither `{name}` nor `{name}.gz` exists"),
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::{write_idx_images, write_idx_labels};
    use ndarray::{Array, array};

    fn field_of(err: &Error) -> &str {
        match err {
            Error::Format { field, .. } => field,
            other => panic!("expected a format error, got {other:?}"),
        }
    }

    fn sample_images(n: usize, h: usize, w: usize) -> Array3<u8> {
        Array::from_shape_fn((n, h, w), |(i, r, c)| (i * 31 + r * 7 + c * 3) as u8)
    }

    fn write_dataset(dir: &Path, n_train: usize, n_test: usize, gz: bool) {
        let suffix = if gz { ".gz" } else { "" };
        let labels = |n: usize| Array1::from_shape_fn(n, |i| (i % 10) as u8);
        write_idx_images(
            dir.join(format!("train-images-idx3-ubyte{suffix}")),
            &sample_images(n_train, 28, 28),
        )
        .unwrap();
        write_idx_labels(dir.join("train-labels-idx1-ubyte"), &labels(n_train)).unwrap();
        write_idx_images(
            dir.join("t10k-images-idx3-ubyte"),
            &sample_images(n_test, 28, 28),
        )
        .unwrap();
        write_idx_labels(
            dir.join(format!("t10k-labels-idx1-ubyte{suffix}")),
            &labels(n_test),
        )
        .unwrap();
    }

    #[test]
    fn loads_an_mnist_like_folder() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), 6, 4, true);
        let data = load_mnist_like(dir.path()).unwrap();
        assert_eq!(data.train_images.dim(), (6, 28, 28));
        assert_eq!(data.test_images.dim(), (4, 28, 28));
        assert_eq!(data.train_labels, array![0u8, 1, 2, 3, 4, 5]);
        assert_eq!(data.test_labels.len(), 4);
        assert_eq!(data.image_size(), (28, 28));
        assert_eq!(data.train_images, sample_images(6, 28, 28));
    }

    #[test]
    fn mnist_like_checks_counts_and_sizes() {
        let dir = tempfile::tempdir().unwrap();
        write_dataset(dir.path(), 6, 4, false);
        write_idx_labels(dir.path().join("train-labels-idx1-ubyte"), &array![1u8, 2]).unwrap();
        let err = load_mnist_like(dir.path()).unwrap_err();
        assert_eq!(field_of(&err), "dims");
        let text = err.to_string();
        assert!(
            text.contains("train-labels-idx1-ubyte") && text.contains("2 labels"),
            "{text}"
        );

        write_dataset(dir.path(), 6, 4, false);
        write_idx_images(
            dir.path().join("t10k-images-idx3-ubyte"),
            &sample_images(4, 14, 14),
        )
        .unwrap();
        let err = load_mnist_like(dir.path()).unwrap_err();
        assert!(err.to_string().contains("14x14"), "{err}");

        std::fs::remove_file(dir.path().join("t10k-images-idx3-ubyte")).unwrap();
        let err = load_mnist_like(dir.path()).unwrap_err();
        assert!(matches!(err, Error::Io { .. }));
        assert!(
            err.to_string().contains("t10k-images-idx3-ubyte.gz"),
            "{err}"
        );
    }

    #[test]
    fn normalises_to_both_ranges() {
        let images = array![[[0u8, 51], [255, 204]]];
        // 51 / 255 = 0.2, 204 / 255 = 0.8; 51 / 127.5 - 1 = -0.6, 204 / 127.5 - 1 = 0.6.
        let unit = normalize(&images, PixelRange::ZeroOne);
        let expected_unit = array![[[0.0f32, 0.2], [1.0, 0.8]]];
        let signed = normalize(&images, PixelRange::MinusOneOne);
        let expected_signed = array![[[-1.0f32, -0.6], [1.0, 0.6]]];
        for (got, want) in unit.iter().zip(&expected_unit) {
            assert!((got - want).abs() <= 1e-7, "{got} vs {want}");
        }
        for (got, want) in signed.iter().zip(&expected_signed) {
            assert!((got - want).abs() <= 1e-7, "{got} vs {want}");
        }
        // The end points are exact.
        assert_eq!(
            (unit[[0, 1, 0]], signed[[0, 0, 0]], signed[[0, 1, 0]]),
            (1.0, -1.0, 1.0)
        );
        let nchw = normalize_nchw(&images, PixelRange::ZeroOne);
        assert_eq!(nchw.dim(), (1, 1, 2, 2));
        assert_eq!(nchw.index_axis(Axis(1), 0), unit);
    }
}
