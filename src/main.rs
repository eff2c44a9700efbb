//! `tidemark`: the command line is `tidemark::cli`.

/// mimalloc: glibc malloc was a fifth of the server's cycles under write load
/// (`_int_malloc`, `malloc_consolidate`, `free`), and it returns memory to the
/// OS more readily for many idle connections.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tidemark::cli::main()
}
