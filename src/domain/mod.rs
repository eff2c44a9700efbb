//! Domain layers over the engine (README, "Seed features"): the seeds' collections,
//! the lockbox and the compatibility façades.

pub mod catalog;
pub mod chat;
pub mod check;
pub mod dates;
pub mod docs;
pub mod errors;
pub mod io;
pub mod lockbox;
pub mod prefs;
pub mod schema;
pub mod settings;
pub mod setup;
pub mod validate;
