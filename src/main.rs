//! The `docvault` binary: parse the command line, run, map errors to an exit code.

use clap::Parser;

/// How much of the archive's packs libgit2 keeps mapped at most (its
/// default is 8 GiB), and the size of one mapping (default 1 GiB). Every
/// handle in the process shares a pack's mappings, and they stay while
/// any handle has the pack open: without a limit, reading each new version
/// once for text extraction left every pack of a bulk import mapped (150+
/// MB of resident memory). At 32 MiB the mapped packs were still 23-25 MB
/// of a 10,000-file import's peak RSS; at 8 MiB, downloads in `cargo bench
/// --bench http` were no slower (15,928-16,656/s against 14,080-15,678/s
/// back to back). Reading objects in 4 MiB windows costs nothing measurable.
const PACK_MAPPED_LIMIT: usize = 8 << 20;
const PACK_WINDOW: usize = 4 << 20;

#[allow(unsafe_code)]
fn limit_mapped_packs() {
    // SAFETY: git2 marks these unsafe because they write libgit2's global
    // options without a lock; this runs first in `main`, before any thread
    // exists that could use libgit2.
    let set = unsafe {
        git2::opts::set_mwindow_mapped_limit(PACK_MAPPED_LIMIT)
            .and_then(|()| git2::opts::set_mwindow_size(PACK_WINDOW))
    };
    if let Err(e) = set {
        eprintln!("warning: cannot limit libgit2's mapped memory: {e}");
    }
}

// Rust allocations go to mimalloc. Under the HTTP bench's one-word
// searches, glibc's malloc and free took a tenth of the daemon's CPU, and
// every block of 128 KiB or more (see `docvault::memory`) was a fresh
// mapping whose pages fault in again. (libgit2 and the other C code keep
// glibc's allocator, which `docvault::memory` still tunes and trims.)
// Large zeroed blocks are mappings of their own, and mimalloc's options
// are set before `main`: see `docvault::alloc`.
docvault::use_allocator!();

fn main() -> std::process::ExitCode {
    docvault::memory::configure();
    limit_mapped_packs();
    let cli = docvault::cli::Cli::parse();
    docvault::cli::init_logging(cli.log_format);
    match cli.run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
