//! Property tests (proptest): the laws of RFC 7396 merge patch, the catch-up
//! rule from any cursor, and version monotonicity under random writers. The
//! last two run a real engine over a real SQLite store, a fresh one per case.
//! `cargo test --test props`; `PROPTEST_CASES=N` runs more cases.

mod catchup;
mod merge;
mod support;
mod versions;
