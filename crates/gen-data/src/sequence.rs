//! Keras-exact sequence utilities: [`pad_sequences`] and [`to_categorical`].
//!
//! Both follow Keras 3 (`keras/src/utils/sequence_utils.py` and
//! `keras/src/utils/numerical_utils.py`) element for element. Where Keras crashes on an input
//! (`maxlen=0` with pre-truncation, an empty list with no `maxlen`), gen returns a defined
//! result instead; each such case is documented on the function.

use crate::{Error, Result};
use ndarray::{Array2, ArrayViewMut2};
use serde::{Deserialize, Serialize};

/// Where [`pad_sequences`] adds padding to sequences shorter than `maxlen`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// Pad at the start (Keras `padding="pre"`). The default.
    #[default]
    Pre,
    /// Pad at the end (Keras `padding="post"`).
    Post,
}

/// Which end [`pad_sequences`] cuts from sequences longer than `maxlen`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Truncating {
    /// Drop items from the start, keeping the last `maxlen` (Keras `truncating="pre"`).
    /// The default.
    #[default]
    Pre,
    /// Drop items from the end, keeping the first `maxlen` (Keras `truncating="post"`).
    Post,
}

/// Options of [`pad_sequences`], with Keras's names and defaults.
///
/// In a config file: `{ maxlen = 256, padding = "post", truncating = "pre", value = 0 }`;
/// every field may be left out.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PadOptions<T> {
    /// Length of every output row. Default `None`: the length of the longest sequence.
    pub maxlen: Option<usize>,
    /// Where to pad short sequences. Default [`Padding::Pre`].
    pub padding: Padding,
    /// Where to cut long sequences. Default [`Truncating::Pre`] (keep the last `maxlen`).
    pub truncating: Truncating,
    /// The padding value. Default `T::default()`, zero for numbers.
    pub value: T,
}

impl<T> PadOptions<T> {
    /// These options with `maxlen` set.
    pub fn with_maxlen(mut self, maxlen: usize) -> Self {
        self.maxlen = Some(maxlen);
        self
    }

    /// These options with `padding` set.
    pub fn with_padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }

    /// These options with `truncating` set.
    pub fn with_truncating(mut self, truncating: Truncating) -> Self {
        self.truncating = truncating;
        self
    }

    /// These options with the padding `value` set.
    pub fn with_value(mut self, value: T) -> Self {
        self.value = value;
        self
    }
}

/// Pads (and truncates) `sequences` into a `(sequences.len(), maxlen)` array, like Keras
/// `keras.utils.pad_sequences(sequences, maxlen, padding=..., truncating=..., value=...)`.
///
/// Works for any `Copy` element type (`i64`, `i32`, `f32`, ...): the output has the input's
/// element type, so choose `T` where Keras takes `dtype`.
///
/// Edge cases:
/// - an empty sequence gives a row of `value` (as in Keras);
/// - an empty `sequences` gives shape `(0, maxlen)`, or `(0, 0)` when `maxlen` is `None`
///   (Keras raises a `ValueError` from `np.max([])` there);
/// - `maxlen = Some(0)` gives shape `(n, 0)` for every option (Keras gives that with
///   `truncating="post"`, but crashes with a broadcast error with `truncating="pre"`).
///
/// # Errors
/// [`Error::InvalidArgument`] when the output (`n * maxlen` elements) cannot be allocated.
pub fn pad_sequences<T, S>(sequences: &[S], opts: &PadOptions<T>) -> Result<Array2<T>>
where
    T: Copy,
    S: AsRef<[T]>,
{
    let n = sequences.len();
    let maxlen = match opts.maxlen {
        Some(m) => m,
        None => sequences
            .iter()
            .map(|s| s.as_ref().len())
            .max()
            .unwrap_or(0),
    };
    let total = n.checked_mul(maxlen).ok_or_else(|| {
        Error::invalid(
            "maxlen",
            format!("{n} sequences x maxlen {maxlen} overflows the address space"),
        )
    })?;
    let mut data: Vec<T> = Vec::new();
    data.try_reserve_exact(total).map_err(|e| {
        Error::invalid(
            "maxlen",
            format!("cannot allocate {n} x {maxlen} padded array: {e}"),
        )
    })?;
    for s in sequences {
        let kept = kept_part(s.as_ref(), maxlen, opts.truncating);
        let pad = maxlen - kept.len();
        match opts.padding {
            Padding::Pre => {
                data.resize(data.len() + pad, opts.value);
                data.extend_from_slice(kept);
            }
            Padding::Post => {
                data.extend_from_slice(kept);
                data.resize(data.len() + pad, opts.value);
            }
        }
    }
    Array2::from_shape_vec((n, maxlen), data)
        .map_err(|e| Error::invalid("sequences", format!("internal shape error: {e}")))
}

/// The part of `s` that survives truncation to `maxlen`.
fn kept_part<T>(s: &[T], maxlen: usize, truncating: Truncating) -> &[T] {
    if s.len() <= maxlen {
        return s;
    }
    match truncating {
        Truncating::Pre => s.split_at(s.len() - maxlen).1,
        Truncating::Post => s.split_at(maxlen).0,
    }
}

/// Like [`pad_sequences`], writing into `out` (shape `(sequences.len(), maxlen)`), so a
/// caller can reuse one buffer across batches. `maxlen` is `out.ncols()`; `opts.maxlen`,
/// when set, must equal it.
///
/// # Errors
/// [`Error::InvalidArgument`] (`out`) when `out` has the wrong number of rows, or columns
/// other than `opts.maxlen`.
pub fn pad_sequences_into<T, S>(
    sequences: &[S],
    opts: &PadOptions<T>,
    out: &mut ArrayViewMut2<'_, T>,
) -> Result<()>
where
    T: Copy,
    S: AsRef<[T]>,
{
    let (rows, maxlen) = out.dim();
    if rows != sequences.len() || opts.maxlen.is_some_and(|m| m != maxlen) {
        return Err(Error::invalid(
            "out",
            format!(
                "shape ({rows}, {maxlen}) does not fit {} sequences with maxlen {:?}",
                sequences.len(),
                opts.maxlen
            ),
        ));
    }
    for (mut row, s) in out.rows_mut().into_iter().zip(sequences) {
        let kept = kept_part(s.as_ref(), maxlen, opts.truncating);
        let pad = maxlen - kept.len();
        let start = match opts.padding {
            Padding::Pre => pad,
            Padding::Post => 0,
        };
        match row.as_slice_mut() {
            Some(cells) => {
                let (head, tail) = cells.split_at_mut(start);
                let (body, rest) = tail.split_at_mut(kept.len());
                head.fill(opts.value);
                body.copy_from_slice(kept);
                rest.fill(opts.value);
            }
            None => {
                // A strided view: element by element.
                for (j, cell) in row.iter_mut().enumerate() {
                    *cell = j
                        .checked_sub(start)
                        .and_then(|k| kept.get(k))
                        .copied()
                        .unwrap_or(opts.value);
                }
            }
        }
    }
    Ok(())
}

/// One-hot encodes integer class labels as `f32`, like Keras
/// `keras.utils.to_categorical(labels, num_classes)`: row `i` has a `1.0` in column
/// `labels[i]` and `0.0` elsewhere.
///
/// `num_classes` defaults to `max(labels) + 1`. As in Keras (`if not num_classes`),
/// `Some(0)` also means "use the default". An empty `labels` gives shape
/// `(0, num_classes)`, or `(0, 0)` when it is unset (Keras raises a `ValueError` there).
///
/// # Errors
/// [`Error::InvalidArgument`] (`labels`) for a negative label or one `>= num_classes`
/// (Keras raises `IndexError` for the latter, and silently wraps negative labels around),
/// or when the output cannot be allocated.
pub fn to_categorical<L>(labels: &[L], num_classes: Option<usize>) -> Result<Array2<f32>>
where
    L: Copy + TryInto<usize> + std::fmt::Display,
{
    let mut indices = Vec::with_capacity(labels.len());
    for (pos, &label) in labels.iter().enumerate() {
        let idx: usize = label.try_into().map_err(|_| {
            Error::invalid(
                "labels",
                format!("label {label} at position {pos} is negative or too large"),
            )
        })?;
        indices.push(idx);
    }
    let classes = match num_classes {
        Some(c) if c > 0 => c,
        _ => match indices.iter().max() {
            Some(&m) => m
                .checked_add(1)
                .ok_or_else(|| Error::invalid("labels", format!("label {m} is too large")))?,
            None => 0,
        },
    };
    let n = labels.len();
    let total = n.checked_mul(classes).ok_or_else(|| {
        Error::invalid(
            "num_classes",
            format!("{n} labels x {classes} classes overflows the address space"),
        )
    })?;
    let mut data: Vec<f32> = Vec::new();
    data.try_reserve_exact(total).map_err(|e| {
        Error::invalid(
            "num_classes",
            format!("cannot allocate {n} x {classes} one-hot array: {e}"),
        )
    })?;
    data.resize(total, 0.0);
    for (row, (&idx, label)) in indices.iter().zip(labels).enumerate() {
        if idx >= classes {
            return Err(Error::invalid(
                "labels",
                format!(
                    "label {label} at position {row} is out of range for num_classes = {classes}"
                ),
            ));
        }
        if let Some(cell) = data.get_mut(row * classes + idx) {
            *cell = 1.0;
        }
    }
    Array2::from_shape_vec((n, classes), data)
        .map_err(|e| Error::invalid("labels", format!("internal shape error: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use proptest::prelude::*;

    fn opts<T: Default>() -> PadOptions<T> {
        PadOptions::default()
    }

    // The docstring examples of keras/src/utils/sequence_utils.py:
    // >>> sequence = [[1], [2, 3], [4, 5, 6]]
    // >>> keras.utils.pad_sequences(sequence)
    // array([[0, 0, 1], [0, 2, 3], [4, 5, 6]], dtype=int32)
    #[test]
    fn keras_docstring_default() {
        let seqs: Vec<Vec<i32>> = vec![vec![1], vec![2, 3], vec![4, 5, 6]];
        let out = pad_sequences(&seqs, &opts()).unwrap();
        assert_eq!(out, array![[0, 0, 1], [0, 2, 3], [4, 5, 6]]);
    }

    // >>> keras.utils.pad_sequences(sequence, value=-1)
    // array([[-1, -1,  1], [-1,  2,  3], [ 4,  5,  6]], dtype=int32)
    #[test]
    fn keras_docstring_value() {
        let seqs: Vec<Vec<i32>> = vec![vec![1], vec![2, 3], vec![4, 5, 6]];
        let out = pad_sequences(&seqs, &opts().with_value(-1)).unwrap();
        assert_eq!(out, array![[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]);
    }

    // >>> keras.utils.pad_sequences(sequence, padding='post')
    // array([[1, 0, 0], [2, 3, 0], [4, 5, 6]], dtype=int32)
    #[test]
    fn keras_docstring_post() {
        let seqs: Vec<Vec<i32>> = vec![vec![1], vec![2, 3], vec![4, 5, 6]];
        let out = pad_sequences(&seqs, &opts().with_padding(Padding::Post)).unwrap();
        assert_eq!(out, array![[1, 0, 0], [2, 3, 0], [4, 5, 6]]);
    }

    // >>> keras.utils.pad_sequences(sequence, maxlen=2)
    // array([[0, 1], [2, 3], [5, 6]], dtype=int32)
    #[test]
    fn keras_docstring_maxlen_keeps_last() {
        let seqs: Vec<Vec<i32>> = vec![vec![1], vec![2, 3], vec![4, 5, 6]];
        let out = pad_sequences(&seqs, &opts().with_maxlen(2)).unwrap();
        assert_eq!(out, array![[0, 1], [2, 3], [5, 6]]);
    }

    // Hand-checked against the Keras algorithm:
    // keras.utils.pad_sequences([[1, 2, 3, 4], [], [7]], maxlen=3, padding="post",
    //                           truncating="post", dtype="float32", value=9.5)
    // -> [[1, 2, 3], [9.5, 9.5, 9.5], [7, 9.5, 9.5]]
    #[test]
    fn post_post_float_and_empty_row() {
        let seqs: Vec<Vec<f32>> = vec![vec![1.0, 2.0, 3.0, 4.0], vec![], vec![7.0]];
        let o = opts()
            .with_maxlen(3)
            .with_padding(Padding::Post)
            .with_truncating(Truncating::Post)
            .with_value(9.5);
        let out = pad_sequences(&seqs, &o).unwrap();
        assert_eq!(
            out,
            array![[1.0, 2.0, 3.0], [9.5, 9.5, 9.5], [7.0, 9.5, 9.5]]
        );
    }

    #[test]
    fn empty_input_and_zero_maxlen() {
        let none: Vec<Vec<i64>> = vec![];
        assert_eq!(pad_sequences(&none, &opts()).unwrap().dim(), (0, 0));
        assert_eq!(
            pad_sequences(&none, &opts().with_maxlen(5)).unwrap().dim(),
            (0, 5)
        );
        let seqs = vec![vec![1i64, 2], vec![3]];
        for t in [Truncating::Pre, Truncating::Post] {
            let out = pad_sequences(&seqs, &opts().with_maxlen(0).with_truncating(t)).unwrap();
            assert_eq!(out.dim(), (2, 0));
        }
        // Only empty sequences: the longest is 0.
        let empties: Vec<Vec<i64>> = vec![vec![], vec![]];
        assert_eq!(pad_sequences(&empties, &opts()).unwrap().dim(), (2, 0));
    }

    #[test]
    fn huge_output_is_an_error_not_an_abort() {
        let seqs = vec![vec![1i64]; 4];
        let err = pad_sequences(&seqs, &opts().with_maxlen(usize::MAX / 2)).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument { name: "maxlen", .. }),
            "{err}"
        );
    }

    #[test]
    fn options_serde_lowercase_and_defaults() {
        let o: PadOptions<i64> =
            serde_json::from_str(r#"{"maxlen": 4, "padding": "post", "truncating": "pre"}"#)
                .unwrap();
        assert_eq!(
            o,
            PadOptions {
                maxlen: Some(4),
                padding: Padding::Post,
                truncating: Truncating::Pre,
                value: 0
            }
        );
        let d: PadOptions<f32> = serde_json::from_str("{}").unwrap();
        assert_eq!(d, PadOptions::default());
        assert_eq!(
            serde_json::to_string(&Truncating::Post).unwrap(),
            "\"post\""
        );
        assert!(serde_json::from_str::<Padding>("\"Pre\"").is_err());
        assert!(serde_json::from_str::<PadOptions<i64>>(r#"{"maxln": 3}"#).is_err());
    }

    // keras.utils.to_categorical([0, 1, 2, 3], num_classes=4) -> identity (Keras docstring).
    // keras.utils.to_categorical([2, 0]) -> [[0., 0., 1.], [1., 0., 0.]]  (num_classes = max+1)
    #[test]
    fn categorical_keras_examples() {
        let out = to_categorical(&[0usize, 1, 2, 3], Some(4)).unwrap();
        assert_eq!(out, Array2::<f32>::eye(4));
        let out = to_categorical(&[2i64, 0], None).unwrap();
        assert_eq!(out, array![[0.0f32, 0.0, 1.0], [1.0, 0.0, 0.0]]);
        // `if not num_classes`: 0 means "max + 1" in Keras too.
        assert_eq!(
            to_categorical(&[1i32], Some(0)).unwrap(),
            array![[0.0f32, 1.0]]
        );
        assert_eq!(to_categorical::<i64>(&[], None).unwrap().dim(), (0, 0));
        assert_eq!(to_categorical::<i64>(&[], Some(3)).unwrap().dim(), (0, 3));
    }

    #[test]
    fn categorical_errors() {
        let e = to_categorical(&[0i64, -1], None).unwrap_err();
        assert!(e.to_string().contains("label -1 at position 1"), "{e}");
        let e = to_categorical(&[0usize, 3], Some(3)).unwrap_err();
        assert!(
            e.to_string().contains("out of range for num_classes = 3"),
            "{e}"
        );
        assert!(to_categorical(&[usize::MAX], None).is_err());
        assert!(to_categorical(&[0usize, 1 << 62], None).is_err());
    }

    /// The Keras algorithm, element by element, as a slow reference.
    fn naive_pad(seqs: &[Vec<i64>], o: &PadOptions<i64>) -> Vec<Vec<i64>> {
        let maxlen = o
            .maxlen
            .unwrap_or_else(|| seqs.iter().map(Vec::len).max().unwrap_or(0));
        seqs.iter()
            .map(|s| {
                let trunc: Vec<i64> = if s.len() <= maxlen {
                    s.clone()
                } else if o.truncating == Truncating::Pre {
                    s[s.len() - maxlen..].to_vec()
                } else {
                    s[..maxlen].to_vec()
                };
                let mut row = vec![o.value; maxlen];
                let off = match o.padding {
                    Padding::Pre => maxlen - trunc.len(),
                    Padding::Post => 0,
                };
                for (j, &v) in trunc.iter().enumerate() {
                    row[off + j] = v;
                }
                row
            })
            .collect()
    }

    #[test]
    fn into_reuses_buffers_and_checks_shape() {
        let seqs = vec![vec![1i32, 2, 3], vec![4]];
        let mut buf = Array2::from_elem((2, 2), 7);
        let o = opts().with_padding(Padding::Post);
        pad_sequences_into(&seqs, &o, &mut buf.view_mut()).unwrap();
        assert_eq!(buf, array![[2, 3], [4, 0]]);
        // A strided (transposed) view takes the element-by-element path.
        let mut t = Array2::from_elem((2, 2), 7);
        let mut tv = t.view_mut().reversed_axes();
        pad_sequences_into(&seqs, &o, &mut tv).unwrap();
        assert_eq!(t, array![[2, 4], [3, 0]]);
        assert!(pad_sequences_into(&seqs, &o.clone().with_maxlen(3), &mut buf.view_mut()).is_err());
        assert!(pad_sequences_into(&seqs[..1], &o, &mut buf.view_mut()).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn pad_matches_naive_reference(
            seqs in prop::collection::vec(prop::collection::vec(-50i64..50, 0..12), 0..10),
            maxlen in prop::option::of(0usize..15),
            pre_pad in any::<bool>(),
            pre_trunc in any::<bool>(),
            value in -3i64..3,
        ) {
            let o = PadOptions {
                maxlen,
                padding: if pre_pad { Padding::Pre } else { Padding::Post },
                truncating: if pre_trunc { Truncating::Pre } else { Truncating::Post },
                value,
            };
            let got = pad_sequences(&seqs, &o).unwrap();
            let want = naive_pad(&seqs, &o);
            let mut into = Array2::from_elem(got.dim(), 99);
            pad_sequences_into(&seqs, &o, &mut into.view_mut()).unwrap();
            prop_assert_eq!(&into, &got);
            prop_assert_eq!(got.nrows(), seqs.len());
            for (row, w) in got.rows().into_iter().zip(&want) {
                prop_assert_eq!(row.to_vec(), w.clone());
            }
        }

        #[test]
        fn categorical_rows_are_one_hot(labels in prop::collection::vec(0usize..7, 1..20)) {
            let out = to_categorical(&labels, None).unwrap();
            let max = *labels.iter().max().unwrap();
            prop_assert_eq!(out.dim(), (labels.len(), max + 1));
            for (row, &l) in out.rows().into_iter().zip(&labels) {
                for (j, &v) in row.iter().enumerate() {
                    prop_assert_eq!(v, if j == l { 1.0 } else { 0.0 });
                }
            }
        }
    }
}
