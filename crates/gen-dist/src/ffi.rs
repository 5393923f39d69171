//! The one place gen-dist calls its C++ shim (`csrc/shim.cc`).
//!
//! Each function here is safe: it checks what the shim cannot (NUL bytes, lengths), passes
//! only handles this module owns and tensors borrowed for the call, and turns the shim's error
//! code and message into `Err(message)`. The shim catches every C++ exception, so none unwinds
//! into Rust.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr::NonNull;
use std::time::Duration;
use tch::Tensor;

/// An opaque `gd_store` (a `c10::intrusive_ptr<c10d::Store>` and its port).
#[repr(C)]
struct GdStore {
    _private: [u8; 0],
}

/// An opaque `gd_group` (a `c10::intrusive_ptr<c10d::ProcessGroupGloo>`).
#[repr(C)]
struct GdGroup {
    _private: [u8; 0],
}

unsafe extern "C" {
    fn gd_free(p: *mut c_void);
    fn gd_store_tcp(
        host: *const c_char,
        port: u16,
        is_server: c_int,
        timeout_ms: i64,
        out: *mut *mut GdStore,
        err: *mut *mut c_char,
    ) -> c_int;
    fn gd_store_prefix(
        base: *const GdStore,
        prefix: *const c_char,
        out: *mut *mut GdStore,
        err: *mut *mut c_char,
    ) -> c_int;
    fn gd_store_port(store: *const GdStore) -> u16;
    fn gd_store_free(store: *mut GdStore);
    fn gd_store_set(
        store: *mut GdStore,
        key: *const c_char,
        data: *const u8,
        len: usize,
        err: *mut *mut c_char,
    ) -> c_int;
    fn gd_store_get(
        store: *mut GdStore,
        key: *const c_char,
        data: *mut *mut u8,
        len: *mut usize,
        err: *mut *mut c_char,
    ) -> c_int;
    fn gd_store_add(
        store: *mut GdStore,
        key: *const c_char,
        delta: i64,
        out: *mut i64,
        err: *mut *mut c_char,
    ) -> c_int;
    fn gd_store_check(
        store: *mut GdStore,
        key: *const c_char,
        out: *mut c_int,
        err: *mut *mut c_char,
    ) -> c_int;
    fn gd_group_gloo(
        store: *const GdStore,
        rank: c_int,
        size: c_int,
        connect_timeout_ms: i64,
        timeout_ms: i64,
        ifnames: *const c_char,
        out: *mut *mut GdGroup,
        err: *mut *mut c_char,
    ) -> c_int;
    fn gd_group_free(group: *mut GdGroup);
    fn gd_allreduce_sum(
        group: *mut GdGroup,
        tensors: *const *mut c_void,
        n: usize,
        err: *mut *mut c_char,
    ) -> c_int;
    fn gd_broadcast(
        group: *mut GdGroup,
        tensor: *mut c_void,
        root: c_int,
        err: *mut *mut c_char,
    ) -> c_int;
    fn gd_allgather(
        group: *mut GdGroup,
        input: *mut c_void,
        outputs: *const *mut c_void,
        n: usize,
        err: *mut *mut c_char,
    ) -> c_int;
    fn gd_barrier(group: *mut GdGroup, err: *mut *mut c_char) -> c_int;
}

/// What a shim call reports on failure: the C++ exception's message.
pub(crate) type FfiResult<T> = Result<T, String>;

/// Turns a shim return code and its error slot into a result.
fn check(code: c_int, err: *mut c_char) -> FfiResult<()> {
    if code == 0 {
        return Ok(());
    }
    if err.is_null() {
        return Err("the C++ shim failed without a message (out of memory?)".to_owned());
    }
    // SAFETY: on failure the shim sets `err` to a malloc'd NUL-terminated string (checked
    // non-null above) that nothing else refers to; it is read once and freed with gd_free.
    let message = tidy(&unsafe { CStr::from_ptr(err) }.to_string_lossy());
    // SAFETY: see above; `err` came from the shim's malloc and is freed exactly once.
    unsafe { gd_free(err.cast()) };
    Err(message)
}

/// Drops the C++ source locations that Gloo and c10 put before their messages
/// (`[/__w/pytorch/…/pair.cc:553] `, `[enforce fail at …/device.cc:84] `): the message that
/// follows is what a user can act on.
fn tidy(message: &str) -> String {
    let mut rest = message.trim();
    while let Some(inner) = rest.strip_prefix('[') {
        let Some((location, after)) = inner.split_once(']') else {
            break;
        };
        let is_source = [".cc:", ".cpp:", ".h:", ".hpp:"]
            .iter()
            .any(|ext| location.contains(ext));
        if !is_source {
            break;
        }
        rest = after.trim_start();
    }
    rest.to_owned()
}

fn c_string(what: &str, text: &str) -> FfiResult<CString> {
    CString::new(text).map_err(|_| format!("{what} `{text}` contains a NUL byte"))
}

fn millis(timeout: Duration) -> i64 {
    i64::try_from(timeout.as_millis())
        .unwrap_or(i64::MAX)
        .max(1)
}

fn c_rank(what: &str, value: usize) -> FfiResult<c_int> {
    c_int::try_from(value).map_err(|_| format!("{what} {value} is out of range"))
}

/// A c10d store: a TCP store (server or client) or a prefix over another store.
pub(crate) struct RawStore(NonNull<GdStore>);

// SAFETY: c10d stores are used from any thread (TCPStore serialises its operations with a
// mutex); the handle is an owning pointer with no thread affinity.
unsafe impl Send for RawStore {}

impl RawStore {
    /// `c10d::TCPStore(host, {port, isServer, timeout})`: a server listening on `port` (0 picks
    /// a free one) that this process also joins as a client, or a client of `host:port`.
    pub(crate) fn tcp(host: &str, port: u16, server: bool, timeout: Duration) -> FfiResult<Self> {
        let host = c_string("host", host)?;
        let mut out = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        // SAFETY: `host` is a live NUL-terminated string; `out` and `err` are valid slots that
        // the shim writes at most once.
        let code = unsafe {
            gd_store_tcp(
                host.as_ptr(),
                port,
                c_int::from(server),
                millis(timeout),
                &mut out,
                &mut err,
            )
        };
        check(code, err)?;
        NonNull::new(out)
            .map(Self)
            .ok_or_else(|| "the C++ shim returned no store".to_owned())
    }

    /// `c10d::PrefixStore(prefix, self)`: every key becomes `prefix/key`.
    pub(crate) fn prefixed(&self, prefix: &str) -> FfiResult<Self> {
        let prefix = c_string("store prefix", prefix)?;
        let mut out = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        // SAFETY: `self.0` is a live store handle (owned by self); the prefix store holds its
        // own reference to the underlying store, so it outlives neither.
        let code = unsafe { gd_store_prefix(self.0.as_ptr(), prefix.as_ptr(), &mut out, &mut err) };
        check(code, err)?;
        NonNull::new(out)
            .map(Self)
            .ok_or_else(|| "the C++ shim returned no store".to_owned())
    }

    /// The TCP port (the real one for a server started on port 0).
    pub(crate) fn port(&self) -> u16 {
        // SAFETY: `self.0` is a live store handle; the call only reads a field.
        unsafe { gd_store_port(self.0.as_ptr()) }
    }

    pub(crate) fn set(&self, key: &str, value: &[u8]) -> FfiResult<()> {
        let key = c_string("store key", key)?;
        let mut err = std::ptr::null_mut();
        // SAFETY: `value` is a live slice of `value.len()` bytes that the shim copies.
        let code = unsafe {
            gd_store_set(
                self.0.as_ptr(),
                key.as_ptr(),
                value.as_ptr(),
                value.len(),
                &mut err,
            )
        };
        check(code, err)
    }

    /// Waits (up to the store's timeout) for `key` and returns its value.
    pub(crate) fn get(&self, key: &str) -> FfiResult<Vec<u8>> {
        let key = c_string("store key", key)?;
        let mut data = std::ptr::null_mut();
        let mut len = 0usize;
        let mut err = std::ptr::null_mut();
        // SAFETY: the slots are valid; on success the shim stores a malloc'd buffer of `len`
        // bytes in `data`.
        let code =
            unsafe { gd_store_get(self.0.as_ptr(), key.as_ptr(), &mut data, &mut len, &mut err) };
        check(code, err)?;
        if data.is_null() {
            return Err("the C++ shim returned no value".to_owned());
        }
        // SAFETY: `data` points to `len` initialised bytes owned by us until gd_free.
        let value = unsafe { std::slice::from_raw_parts(data, len) }.to_vec();
        // SAFETY: `data` came from the shim's malloc and is freed exactly once.
        unsafe { gd_free(data.cast()) };
        Ok(value)
    }

    /// Adds `delta` to the integer at `key` (0 when absent) and returns the new value.
    pub(crate) fn add(&self, key: &str, delta: i64) -> FfiResult<i64> {
        let key = c_string("store key", key)?;
        let mut out = 0i64;
        let mut err = std::ptr::null_mut();
        // SAFETY: valid handle, string and slots.
        let code =
            unsafe { gd_store_add(self.0.as_ptr(), key.as_ptr(), delta, &mut out, &mut err) };
        check(code, err)?;
        Ok(out)
    }

    /// Whether `key` is set, without waiting.
    pub(crate) fn check(&self, key: &str) -> FfiResult<bool> {
        let key = c_string("store key", key)?;
        let mut out: c_int = 0;
        let mut err = std::ptr::null_mut();
        // SAFETY: valid handle, string and slots.
        let code = unsafe { gd_store_check(self.0.as_ptr(), key.as_ptr(), &mut out, &mut err) };
        check(code, err)?;
        Ok(out != 0)
    }
}

impl Drop for RawStore {
    fn drop(&mut self) {
        // SAFETY: the handle is owned by self and freed once; c10d's reference counting keeps
        // the underlying store alive while a prefix store or process group still uses it.
        unsafe { gd_store_free(self.0.as_ptr()) };
    }
}

/// A Gloo process group.
pub(crate) struct RawGroup(NonNull<GdGroup>);

// SAFETY: ProcessGroupGloo queues work under its own mutex and may be driven from any thread;
// the handle has no thread affinity. It is deliberately not Sync: collectives must be issued in
// the same order on every rank, so one thread at a time drives a group.
unsafe impl Send for RawGroup {}

/// Where a tensor argument's `torch::Tensor*` goes: tch's `C_tensor` is `torch::Tensor`
/// (torch-sys `libtch/torch_api.h`: `typedef torch::Tensor *tensor;`).
fn tensor_ptr(tensor: &mut Tensor) -> *mut c_void {
    tensor.as_mut_ptr().cast()
}

impl RawGroup {
    /// `c10d::ProcessGroupGloo(store, rank, size, options)` on the given interfaces (comma
    /// separated; empty: the address the host name resolves to).
    pub(crate) fn gloo(
        store: &RawStore,
        rank: usize,
        size: usize,
        connect_timeout: Duration,
        timeout: Duration,
        ifnames: &str,
    ) -> FfiResult<Self> {
        let ifnames = c_string("GLOO_SOCKET_IFNAME", ifnames)?;
        let mut out = std::ptr::null_mut();
        let mut err = std::ptr::null_mut();
        // SAFETY: `store` is a live handle (the group keeps its own reference to the store);
        // the strings and slots are valid for the call.
        let code = unsafe {
            gd_group_gloo(
                store.0.as_ptr(),
                c_rank("rank", rank)?,
                c_rank("world size", size)?,
                millis(connect_timeout),
                millis(timeout),
                ifnames.as_ptr(),
                &mut out,
                &mut err,
            )
        };
        check(code, err)?;
        NonNull::new(out)
            .map(Self)
            .ok_or_else(|| "the C++ shim returned no process group".to_owned())
    }

    /// Sums each tensor with its counterparts on every rank, in place, and waits.
    pub(crate) fn all_reduce_sum(&self, tensors: &mut [Tensor]) -> FfiResult<()> {
        let ptrs: Vec<*mut c_void> = tensors.iter_mut().map(tensor_ptr).collect();
        let mut err = std::ptr::null_mut();
        // SAFETY: every pointer is a live `torch::Tensor` borrowed mutably for the call; the
        // shim takes shallow copies and waits for the work before returning.
        let code =
            unsafe { gd_allreduce_sum(self.0.as_ptr(), ptrs.as_ptr(), ptrs.len(), &mut err) };
        check(code, err)
    }

    /// Copies `root`'s tensor into `tensor` on every rank, and waits.
    pub(crate) fn broadcast(&self, tensor: &mut Tensor, root: usize) -> FfiResult<()> {
        let root = c_rank("root rank", root)?;
        let mut err = std::ptr::null_mut();
        // SAFETY: a live tensor borrowed mutably for the call, which waits for the work.
        let code = unsafe { gd_broadcast(self.0.as_ptr(), tensor_ptr(tensor), root, &mut err) };
        check(code, err)
    }

    /// Gathers every rank's `input` into `outputs` (one per rank, in rank order), and waits.
    pub(crate) fn all_gather(&self, input: &Tensor, outputs: &mut [Tensor]) -> FfiResult<()> {
        let ptrs: Vec<*mut c_void> = outputs.iter_mut().map(tensor_ptr).collect();
        let mut err = std::ptr::null_mut();
        // The shim only reads `input` (through a shallow copy), so a shared borrow suffices.
        let input = input.as_ptr().cast_mut().cast::<c_void>();
        // SAFETY: live tensors borrowed for the call, which waits for the work.
        let code =
            unsafe { gd_allgather(self.0.as_ptr(), input, ptrs.as_ptr(), ptrs.len(), &mut err) };
        check(code, err)
    }

    /// Returns once every rank has called it.
    pub(crate) fn barrier(&self) -> FfiResult<()> {
        let mut err = std::ptr::null_mut();
        // SAFETY: a live handle and a valid error slot.
        let code = unsafe { gd_barrier(self.0.as_ptr(), &mut err) };
        check(code, err)
    }
}

impl Drop for RawGroup {
    fn drop(&mut self) {
        // SAFETY: the handle is owned by self and freed once; every collective has been waited
        // for, so no work refers to borrowed tensors.
        unsafe { gd_group_free(self.0.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::tidy;

    #[test]
    fn source_locations_are_dropped_from_messages() {
        assert_eq!(
            tidy(
                "[/__w/pytorch/pytorch/third_party/gloo/gloo/transport/tcp/pair.cc:553] \
                 Connection closed by peer [127.0.0.1]:24765."
            ),
            "Connection closed by peer [127.0.0.1]:24765."
        );
        assert_eq!(
            tidy("[enforce fail at /x/gloo/transport/tcp/device.cc:84] ifa != nullptr. Unable"),
            "ifa != nullptr. Unable"
        );
        assert_eq!(tidy(" [rank 1] timed out \n"), "[rank 1] timed out");
    }
}
