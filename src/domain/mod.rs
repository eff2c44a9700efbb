//! Domain layers over the engine (design.md §5): the seeds' collections,
//! the lockbox and the compatibility façades.

pub mod lockbox;
