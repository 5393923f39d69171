//! End-to-end tests of the `gen` binary, one file per command family: real runs on tiny
//! fixtures, and every bad-input case exits non-zero with one clear message and no panic or
//! backtrace.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test and example code may panic.

#[path = "../common/mod.rs"]
mod common;

mod basics;
mod gan;
mod lm;
mod music;
mod rate;
mod study;

use common::fixtures::{TINY_DCGAN, TINY_IMDB_GRU};
use common::{fails_with, fixture, fixtures, run_gen, stderr, train};
use std::path::Path;
use std::process::{Command, Output};
