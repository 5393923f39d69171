//! The rendezvous store: c10d's `TCPStore`, a small key-value server through which the ranks
//! find each other, and its `PrefixStore` views.

use crate::error::{Error, Result};
use crate::ffi::RawStore;
use std::time::Duration;

/// A handle on a c10d TCP store (or a key-prefixed view of one).
///
/// One process hosts the server ([`Store::host`]); every rank connects to it
/// ([`Store::connect`]). The host keeps serving while its `Store` (or any view or
/// [`ProcessGroup`](crate::ProcessGroup) made from it) is alive.
pub struct Store {
    raw: RawStore,
    addr: String,
    port: u16,
}

impl Store {
    /// Hosts a store on `port` of every interface (`0` picks a free port: read it back with
    /// [`Store::port`]) and joins it as a client through `addr` (an address of this machine,
    /// e.g. `127.0.0.1`). `timeout` bounds every later wait on the store.
    ///
    /// This is how a launcher (gen's `--nproc-per-node`, or a test) hosts the store for its
    /// children before they start, as torchrun's agent does: the children then join as
    /// clients ([`StoreRole::Agent`](crate::StoreRole::Agent)), so no port can race.
    pub fn host(addr: &str, port: u16, timeout: Duration) -> Result<Store> {
        let raw = RawStore::tcp(addr, port, true, timeout).map_err(|message| Error::Store {
            action: "host",
            addr: addr.to_owned(),
            port,
            timeout,
            message,
        })?;
        let port = raw.port();
        Ok(Store {
            raw,
            addr: addr.to_owned(),
            port,
        })
    }

    /// Connects to the store at `addr:port`, retrying until `timeout` (the host may start
    /// later than its clients); `timeout` also bounds every later wait on the store.
    pub fn connect(addr: &str, port: u16, timeout: Duration) -> Result<Store> {
        let raw = RawStore::tcp(addr, port, false, timeout).map_err(|message| Error::Store {
            action: "reach",
            addr: addr.to_owned(),
            port,
            timeout,
            message,
        })?;
        Ok(Store {
            raw,
            addr: addr.to_owned(),
            port,
        })
    }

    /// The store's port: the real one when it was hosted on port 0.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address this handle reaches the store through.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// A view in which every key `k` is `prefix/k` of this store (c10d's `PrefixStore`).
    pub fn prefixed(&self, prefix: &str) -> Result<Store> {
        let raw = self
            .raw
            .prefixed(prefix)
            .map_err(|message| Error::StoreOp {
                op: "prefix",
                key: prefix.to_owned(),
                message,
            })?;
        Ok(Store {
            raw,
            addr: self.addr.clone(),
            port: self.port,
        })
    }

    /// Sets `key` to `value`.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.raw
            .set(key, value)
            .map_err(|message| store_op("set", key, message))
    }

    /// Returns the value of `key`, waiting for it up to the store's timeout.
    pub fn get(&self, key: &str) -> Result<Vec<u8>> {
        self.raw
            .get(key)
            .map_err(|message| store_op("get", key, message))
    }

    /// Adds `delta` to the integer at `key` (0 when unset) and returns the sum, atomically.
    pub fn add(&self, key: &str, delta: i64) -> Result<i64> {
        self.raw
            .add(key, delta)
            .map_err(|message| store_op("add", key, message))
    }

    /// Whether `key` is set, without waiting.
    pub fn check(&self, key: &str) -> Result<bool> {
        self.raw
            .check(key)
            .map_err(|message| store_op("check", key, message))
    }

    pub(crate) fn raw(&self) -> &RawStore {
        &self.raw
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("addr", &self.addr)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

fn store_op(op: &'static str, key: &str, message: String) -> Error {
    Error::StoreOp {
        op,
        key: key.to_owned(),
        message,
    }
}
