//! The pickle inside the `x_*.npy` object arrays of Keras's `imdb.npz`: a numpy array of
//! Python lists of ints.
//!
//! Nothing in a pickle is ever imported, called or executed: this module is Rust, and the
//! pickle is decoded by `serde-pickle`, which only builds data (numpy's `_reconstruct`/`dtype`
//! globals become placeholders and the array becomes its `__setstate__` tuple
//! `(1, (n,), dtype, False, [[ids...], ...])`). Before decoding, the opcode stream is scanned:
//! - every global it names (`GLOBAL`, or `STACK_GLOBAL` of two strings) must be one of
//!   [`ALLOWED_PICKLE_GLOBALS`], numpy's array globals; any other (`os.system`, `builtins.eval`,
//!   `subprocess.Popen`...) is refused with an error naming it;
//! - only the opcodes such a pickle needs are accepted (no `INST`, `OBJ`, `NEWOBJ`, extension
//!   codes or persistent ids), strings are short, containers nest at most 8 deep, and
//!   back-references (memo gets) may only point at scalars and strings, so a crafted file
//!   cannot make the decoder copy large lists or recurse deeply.

use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use std::collections::HashMap;
use std::fmt;

/// Longest string or bytes object accepted in a pickle (module names, `'O8'`, `'|'`).
const MAX_PICKLE_STRING: usize = 256;
/// Most memo gets accepted in a pickle (numpy's pickles have a handful).
const MAX_MEMO_GETS: usize = 4096;

/// The only globals a pickle may name, as `(module, name)`: what numpy writes for an object
/// array (`numpy.core` became `numpy._core` in numpy 2).
pub const ALLOWED_PICKLE_GLOBALS: [(&str, &str); 4] = [
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
];

/// Checks the global `module.name`, named at byte `at`, against [`ALLOWED_PICKLE_GLOBALS`].
fn check_global(module: &[u8], name: &[u8], at: usize) -> std::result::Result<(), String> {
    if ALLOWED_PICKLE_GLOBALS
        .iter()
        .any(|(m, n)| m.as_bytes() == module && n.as_bytes() == name)
    {
        return Ok(());
    }
    let shown = format!(
        "{}.{}",
        String::from_utf8_lossy(module),
        String::from_utf8_lossy(name)
    );
    Err(format!(
        "refused: the pickle names the global {shown:?} (at byte {at}), which is not one of \
         numpy's array globals ({}); nothing was imported or run",
        ALLOWED_PICKLE_GLOBALS
            .iter()
            .map(|(m, n)| format!("{m}.{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Scans, then decodes the pickle `p` of a 1-D numpy object array of int lists holding at
/// most `max_ints` ints in all. Errors are plain reasons; the caller names the file.
pub(super) fn decode_int_lists(p: &[u8], max_ints: u64) -> Result<ArrayState, String> {
    scan_pickle(p, max_ints)?;
    let opts = serde_pickle::DeOptions::new().replace_unresolved_globals();
    serde_pickle::from_slice(p, opts).map_err(|e| e.to_string())
}

/// numpy's `ndarray.__setstate__` tuple for a 1-D object array of int lists:
/// `(1, (n,), dtype, fortran_order, [[ids...], ...])`.
#[derive(Debug)]
pub(super) struct ArrayState {
    /// The length in the array's shape `(n,)`.
    pub(super) n: u64,
    /// The lists.
    pub(super) data: Vec<Vec<i64>>,
}

impl<'de> serde::Deserialize<'de> for ArrayState {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_tuple(5, StateVisitor)
    }
}

struct StateVisitor;

impl<'de> Visitor<'de> for StateVisitor {
    type Value = ArrayState;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("numpy's array state (1, (n,), dtype, False, [lists of ints])")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<ArrayState, A::Error> {
        let missing = |what: &str| de::Error::custom(format!("array state lacks its {what}"));
        let version: i64 = seq.next_element()?.ok_or_else(|| missing("version"))?;
        if version != 1 {
            return Err(de::Error::custom(format!(
                "array state version {version}, expected 1"
            )));
        }
        let shape: Vec<u64> = seq.next_element()?.ok_or_else(|| missing("shape"))?;
        let n = match shape.as_slice() {
            [n] => *n,
            other => {
                return Err(de::Error::custom(format!(
                    "array state shape {other:?} is not 1-D"
                )));
            }
        };
        let _dtype: IgnoredAny = seq.next_element()?.ok_or_else(|| missing("dtype"))?;
        let _fortran: bool = seq.next_element()?.ok_or_else(|| missing("order flag"))?;
        let data: Vec<Vec<i64>> = seq.next_element()?.ok_or_else(|| missing("data"))?;
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("array state has more than 5 fields"));
        }
        Ok(ArrayState { n, data })
    }
}

/// Deepest container nesting accepted in a pickle (numpy's array state needs 3: the state
/// tuple, the list of reviews, a review).
const MAX_PICKLE_DEPTH: u32 = 8;

/// A value on the pickle stack as the scanner sees it: its nesting depth (0 for scalars,
/// strings and globals) and, for a string, where its bytes are in the pickle.
#[derive(Clone, Copy)]
struct Value {
    depth: u32,
    text: Option<(usize, usize)>,
}

/// The pickle stack as the scanner sees it: its values and the positions of the marks.
struct DepthStack {
    values: Vec<Value>,
    marks: Vec<usize>,
}

impl DepthStack {
    fn push(&mut self, depth: u32) -> std::result::Result<(), String> {
        self.push_value(Value { depth, text: None })
    }

    fn push_value(&mut self, value: Value) -> std::result::Result<(), String> {
        if value.depth > MAX_PICKLE_DEPTH {
            return Err(format!(
                "containers nested deeper than {MAX_PICKLE_DEPTH}; numpy never writes this"
            ));
        }
        self.values.push(value);
        Ok(())
    }

    fn pop_value(&mut self) -> std::result::Result<Value, String> {
        self.values
            .pop()
            .ok_or_else(|| "stack underflow".to_string())
    }

    fn pop(&mut self) -> std::result::Result<u32, String> {
        self.pop_value().map(|v| v.depth)
    }

    /// Pops `n` values; returns their largest depth (0 for none).
    fn pop_n(&mut self, n: usize) -> std::result::Result<u32, String> {
        let mut deepest = 0;
        for _ in 0..n {
            deepest = deepest.max(self.pop()?);
        }
        Ok(deepest)
    }

    /// Pops everything down to the last mark; returns the largest depth (0 for none).
    fn pop_mark(&mut self) -> std::result::Result<u32, String> {
        let mark = self.marks.pop().ok_or("no MARK to pop to")?;
        if mark > self.values.len() {
            return Err("stack underflow".into());
        }
        Ok(self
            .values
            .drain(mark..)
            .map(|v| v.depth)
            .max()
            .unwrap_or(0))
    }

    /// Adds items of depth `items` to the container on top (APPEND, APPENDS).
    fn append(&mut self, items: u32) -> std::result::Result<(), String> {
        let top = self.pop()?;
        self.push(top.max(items.saturating_add(1)))
    }

    fn top(&self) -> std::result::Result<Value, String> {
        match (self.values.last(), self.marks.last()) {
            (Some(_), Some(&m)) if m >= self.values.len() => Err("memo put after a MARK".into()),
            (Some(&v), _) => Ok(v),
            (None, _) => Err("memo put with an empty stack".into()),
        }
    }
}

/// Scans a pickle's opcodes without building anything, simulating only the nesting depth
/// of the stack values and where its strings are. Accepts only the globals of
/// [`ALLOWED_PICKLE_GLOBALS`], the opcodes a numpy object array of int lists needs, short strings, at
/// most `max_ints` ints, nesting at most [`MAX_PICKLE_DEPTH`] deep, and memo gets of scalars
/// and strings only (so the decoder never copies a container).
pub(super) fn scan_pickle(p: &[u8], max_ints: u64) -> std::result::Result<(), String> {
    let mut i = 0usize;
    let mut stack = DepthStack {
        values: Vec::new(),
        marks: Vec::new(),
    };
    let mut memo: HashMap<u32, Value> = HashMap::new();
    let mut gets = 0usize;
    let mut ints = 0u64;
    let take = |i: &mut usize, n: usize| -> std::result::Result<usize, String> {
        let start = *i;
        let end = start
            .checked_add(n)
            .filter(|&e| e <= p.len())
            .ok_or_else(|| format!("truncated at byte {start}"))?;
        *i = end;
        Ok(start)
    };
    let le = |start: usize, n: usize| -> u64 {
        p.get(start..start + n)
            .unwrap_or_default()
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    };
    loop {
        let at = i;
        let op = *p
            .get(i)
            .ok_or_else(|| format!("no STOP opcode (ends at byte {at})"))?;
        i += 1;
        let step = match op {
            b'.' => {
                stack.pop()?;
                return if i != p.len() {
                    Err(format!("{} bytes after STOP", p.len() - i))
                } else if !stack.values.is_empty() || !stack.marks.is_empty() {
                    Err("values left on the stack at STOP".into())
                } else {
                    Ok(())
                };
            }
            0x80 => {
                let s = take(&mut i, 1)?;
                let proto = le(s, 1);
                if (2..=5).contains(&proto) {
                    Ok(())
                } else {
                    Err(format!("unsupported pickle protocol {proto}"))
                }
            }
            0x95 => take(&mut i, 8).map(|_| ()),
            b'(' => {
                stack.marks.push(stack.values.len());
                Ok(())
            }
            b'N' | 0x88 | 0x89 => stack.push(0),
            b')' | b']' => stack.push(1),
            b'K' | b'M' | b'J' | 0x8a => {
                let n = match op {
                    b'K' => 1,
                    b'M' => 2,
                    b'J' => 4,
                    _ => le(take(&mut i, 1)?, 1) as usize,
                };
                if n > 8 {
                    return Err(format!("integer of {n} bytes at byte {at}"));
                }
                take(&mut i, n)?;
                ints += 1;
                if ints > max_ints {
                    return Err(format!("more than {max_ints} integers"));
                }
                stack.push(0)
            }
            b'U' | b'C' | 0x8c | b'T' | b'B' | b'X' => {
                let width = if matches!(op, b'U' | b'C' | 0x8c) {
                    1
                } else {
                    4
                };
                let n = usize::try_from(le(take(&mut i, width)?, width)).unwrap_or(usize::MAX);
                if n > MAX_PICKLE_STRING {
                    return Err(format!("string of {n} bytes at byte {at}"));
                }
                let start = take(&mut i, n)?;
                stack.push_value(Value {
                    depth: 0,
                    text: Some((start, start + n)),
                })
            }
            b'c' => {
                let mut line = || -> std::result::Result<&[u8], String> {
                    let rest = p.get(i..).unwrap_or_default();
                    let nl = rest
                        .iter()
                        .take(MAX_PICKLE_STRING + 1)
                        .position(|&b| b == b'\n')
                        .ok_or_else(|| format!("bad GLOBAL at byte {at}"))?;
                    i += nl + 1;
                    Ok(rest.get(..nl).unwrap_or_default())
                };
                let (module, name) = (line()?, line()?);
                check_global(module, name, at)?;
                stack.push(0)
            }
            0x93 => {
                let name = stack.pop_value()?;
                let module = stack.pop_value()?;
                let text = |v: Value| {
                    v.text
                        .and_then(|(a, b)| p.get(a..b))
                        .ok_or_else(|| format!("STACK_GLOBAL of a non-string at byte {at}"))
                };
                check_global(text(module)?, text(name)?, at)?;
                stack.push(0)
            }
            b'a' => {
                let item = stack.pop()?;
                stack.append(item)
            }
            b'e' => {
                let items = stack.pop_mark()?;
                stack.append(items)
            }
            b't' => {
                let items = stack.pop_mark()?;
                stack.push(items.saturating_add(1))
            }
            0x85..=0x87 => {
                let items = stack.pop_n(usize::from(op - 0x84))?;
                stack.push(items.saturating_add(1))
            }
            // REDUCE (callable, args) and BUILD (object, state): the decoder keeps at most
            // what it was given, so the result is no deeper than the deepest input.
            b'R' | b'b' => {
                let deepest = stack.pop_n(2)?;
                stack.push(deepest)
            }
            0x94 | b'q' | b'r' => {
                let id = match op {
                    0x94 => u32::try_from(memo.len()).unwrap_or(u32::MAX),
                    b'q' => le(take(&mut i, 1)?, 1) as u32,
                    _ => le(take(&mut i, 4)?, 4) as u32,
                };
                let value = stack.top().map_err(|e| format!("{e} at byte {at}"))?;
                memo.insert(id, value);
                Ok(())
            }
            b'h' | b'j' => {
                let id = if op == b'h' {
                    le(take(&mut i, 1)?, 1) as u32
                } else {
                    le(take(&mut i, 4)?, 4) as u32
                };
                gets += 1;
                if gets > MAX_MEMO_GETS {
                    return Err(format!("more than {MAX_MEMO_GETS} memo gets"));
                }
                match memo.get(&id) {
                    Some(&v) if v.depth == 0 => stack.push_value(v),
                    Some(_) => Err(format!(
                        "memo get of a container at byte {at}; numpy never writes this"
                    )),
                    None => Err(format!("memo get of unknown id {id} at byte {at}")),
                }
            }
            other => Err(format!("unsupported pickle opcode 0x{other:02x}")),
        };
        step.map_err(|e| {
            if e.contains("at byte") {
                e
            } else {
                format!("{e} at byte {at}")
            }
        })?;
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The bound on ints that `npz` passes.
    const MAX_INTS: u64 = 100_000_000;

    /// A protocol-2 pickle of a numpy object array of int lists, opcode for opcode what
    /// Python 2's `pickle.dump(arr, f, protocol=2)` writes for numpy arrays (the layout of
    /// Keras's imdb.npz).
    pub(crate) fn object_pickle(lists: &[Vec<i64>]) -> Vec<u8> {
        let mut p = vec![0x80, 2];
        p.extend_from_slice(b"cnumpy.core.multiarray\n_reconstruct\nq\x00");
        p.extend_from_slice(b"cnumpy\nndarray\nq\x01");
        p.extend_from_slice(b"K\x00\x85q\x02U\x01bq\x03\x87q\x04Rq\x05");
        p.extend_from_slice(b"(K\x01");
        p.push(b'J');
        p.extend_from_slice(&(lists.len() as i32).to_le_bytes());
        p.extend_from_slice(b"\x85q\x06cnumpy\ndtype\nq\x07U\x02O8q\x08K\x00K\x01\x87q\tRq\n");
        p.extend_from_slice(b"(K\x03U\x01|q\x0bNNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?tq\x0cb");
        p.extend_from_slice(b"\x89]q\r(");
        for (k, l) in lists.iter().enumerate() {
            p.extend_from_slice(b"]r");
            p.extend_from_slice(&(15 + k as u32).to_le_bytes());
            p.push(b'(');
            for &v in l {
                if (0..256).contains(&v) {
                    p.extend_from_slice(&[b'K', v as u8]);
                } else if (0..65536).contains(&v) {
                    p.push(b'M');
                    p.extend_from_slice(&(v as u16).to_le_bytes());
                } else if i32::try_from(v).is_ok() {
                    p.push(b'J');
                    p.extend_from_slice(&(v as i32).to_le_bytes());
                } else {
                    p.extend_from_slice(&[0x8a, 8]);
                    p.extend_from_slice(&v.to_le_bytes());
                }
            }
            p.push(b'e');
        }
        p.extend_from_slice(b"etq\x0eb.");
        p
    }

    #[test]
    fn pickle_scanner_rejects_dangerous_constructs() {
        let good = object_pickle(&[vec![1, 2]]);
        scan_pickle(&good, MAX_INTS).unwrap();
        // A memo get of a list (numpy never writes one): could make the decoder copy it.
        let bad = b"\x80\x02]q\x00(K\x01eh\x00h\x00\x86.";
        assert!(
            scan_pickle(bad, MAX_INTS)
                .unwrap_err()
                .contains("container")
        );
        // The same with a memoized string is fine.
        scan_pickle(b"\x80\x02U\x01aq\x00h\x00\x86.", MAX_INTS).unwrap();
        // Deep nesting (would overflow the decoder's recursive drop).
        let mut deep = b"\x80\x02".to_vec();
        deep.extend(std::iter::repeat_n(b']', 100_000));
        deep.extend(std::iter::repeat_n(b'a', 99_999));
        deep.push(b'.');
        assert!(
            scan_pickle(&deep, MAX_INTS)
                .unwrap_err()
                .contains("nested deeper")
        );
        // Stack underflow and leftovers.
        assert!(scan_pickle(b"\x80\x02a.", MAX_INTS).is_err());
        assert!(scan_pickle(b"\x80\x02K\x01K\x02.", MAX_INTS).is_err());
        // DUP, INST, arbitrary opcodes, long strings, trailing bytes.
        for bad in [
            &b"\x80\x02K\x012."[..],
            b"\x80\x02(iposix\nsystem\n.",
            b"\x80\x02K\x01.junk",
            b"\x80\x02K\x01",
            b"\x80\x09K\x01.",
        ] {
            assert!(scan_pickle(bad, MAX_INTS).is_err(), "{bad:?}");
        }
        let mut long = b"\x80\x02X".to_vec();
        long.extend_from_slice(&10_000u32.to_le_bytes());
        long.extend(std::iter::repeat_n(b'a', 10_000));
        long.push(b'.');
        assert!(scan_pickle(&long, MAX_INTS).is_err());
    }

    #[test]
    fn only_numpy_globals_pass_through_global_and_stack_global() {
        // GLOBAL (protocols 0-3), then STACK_GLOBAL of two strings, of memoized strings, and
        // of something that is not a string.
        scan_pickle(b"\x80\x02cnumpy\ndtype\n.", MAX_INTS).unwrap();
        let err = scan_pickle(b"\x80\x02cos\nsystem\n.", MAX_INTS).unwrap_err();
        assert!(
            err.contains("\"os.system\"") && err.contains("at byte 2"),
            "{err}"
        );
        let stack = |module: &[u8], name: &[u8]| {
            let mut p = b"\x80\x04".to_vec();
            for s in [module, name] {
                p.push(0x8c);
                p.push(s.len() as u8);
                p.extend_from_slice(s);
                p.push(0x94);
            }
            p.extend_from_slice(b"\x93h\x00h\x01\x93\x86.");
            p
        };
        scan_pickle(&stack(b"numpy", b"ndarray"), MAX_INTS).unwrap();
        for (module, name, shown) in [
            (&b"builtins"[..], &b"eval"[..], "builtins.eval"),
            (b"subprocess", b"Popen", "subprocess.Popen"),
            (b"numpy", b"load", "numpy.load"),
            (
                b"numpy.core.multiarray",
                b"_reconstruct ",
                "numpy.core.multiarray._reconstruct ",
            ),
        ] {
            let err = scan_pickle(&stack(module, name), MAX_INTS).unwrap_err();
            assert!(err.contains(&format!("{shown:?}")), "{err}");
        }
        let err = scan_pickle(b"\x80\x04K\x01K\x02\x93.", MAX_INTS).unwrap_err();
        assert!(err.contains("STACK_GLOBAL of a non-string"), "{err}");
        // INST, OBJ, NEWOBJ and extension codes never reach a global check: refused outright.
        for op in [b'i', b'o', 0x81, 0x92, 0x82, 0x83, 0x84, b'P', b'Q'] {
            assert!(
                scan_pickle(&[0x80, 2, op, b'.'], MAX_INTS).is_err(),
                "{op:#x}"
            );
        }
    }

    #[test]
    fn decodes_the_array_state() {
        let state =
            decode_int_lists(&object_pickle(&[vec![1, 300], vec![], vec![-3]]), MAX_INTS).unwrap();
        assert_eq!(state.n, 3);
        assert_eq!(state.data, [vec![1, 300], vec![], vec![-3]]);
        let err = decode_int_lists(&object_pickle(&[vec![1, 2, 3]]), 2).unwrap_err();
        assert!(err.contains("more than 2 integers"), "{err}");
    }
}
