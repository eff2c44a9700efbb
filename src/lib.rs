//! # tidemark
//!
//! A real-time sync server. Each user has a versioned space of JSON documents,
//! held in memory and stored durably; changes reach every subscriber in order.
//!
//! # Layout
//! The design (concepts, guarantees and their tests, catch-up, the path of
//! a mutation, several nodes) is in `docs/architecture.md`; the wire
//! protocol in `docs/protocol.md`.
//!
//! - [`protocol`]: wire types (serde + schemars), the shapes clients rely on.
//! - [`obs`]: the metrics every layer records (Prometheus at `/metrics`).
//! - [`engine`]: spaces, ring log, access, catch-up, the mutation path.
//! - [`store`]: the `Store` trait and its SQLite and PostgreSQL implementations.
//! - [`domain`]: the seeds' collections over the engine: settings, model
//!   preferences, the catalog, chat history, the lockbox (encrypted keys).
//! - [`http`]: axum routes (WebSocket, SSE, HTTP, the seeds' façades), auth, errors.
//! - [`config`]: settings from flags and `TIDEMARK_*` variables.
//! - [`cluster`]: several nodes on one PostgreSQL follow each other's commits.
//! - [`server`]: binds it all together and runs until shutdown.
//! - [`devkey`]: `--dev` only, a development lockbox master key kept beside the database.
//! - [`cli`]: the command line (`tidemark serve|migrate|token|keygen|lockbox|catalog|watch`);
//!   `tidemark watch SPACE` is a client that prints a space's changes.
//!
//! Data flows one way: transport -> engine -> store.

pub mod cli;
pub mod cluster;
pub mod config;
pub mod devkey;
pub mod domain;
pub mod engine;
pub mod http;
pub mod obs;
pub mod protocol;
pub mod server;
pub mod store;
