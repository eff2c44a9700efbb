//! The seeds' own client logic against a real tidemark, one file per seed.
//! Each test names the seed section its requests and checks come from;
//! where tidemark deliberately differs from a seed, docs/protocol.md
//! ("Seed compatibility") says so and why.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

#[path = "../lockbox_support/mod.rs"]
mod lockbox_support;
mod newcomer;
mod seed_000;
mod seed_001;
mod seed_003;
mod seed_004;
