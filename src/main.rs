//! The `docvault` binary: parse the command line, run, map errors to an exit code.

use clap::Parser;

/// How much of the archive's packs libgit2 keeps mapped at most (its
/// default is 8 GiB), and the size of one mapping (default 1 GiB). Every
/// handle in the process shares a pack's mappings, and they stay while
/// any handle has the pack open: without a limit, reading each new version
/// once for text extraction left every pack of a bulk import mapped (150+
/// MB of resident memory). Reading objects in 4 MiB windows costs nothing
/// measurable.
const PACK_MAPPED_LIMIT: usize = 32 << 20;
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

/// Allocations of at least this size get a mapping of their own, which
/// goes back to the kernel when they are freed. It is glibc's initial
/// threshold; set explicitly, glibc stops raising it (up to 32 MiB) each
/// time such a block is freed. Raised, the large blocks of a bulk import
/// (tantivy's indexing arenas, staged packs, extracted texts) came from
/// the heap and stayed there after they were freed: the anonymous memory
/// of the 10,000-file import in `cargo bench --bench ingest` peaked at
/// 124–129 MB, and peaks at 74–84 MB with the threshold fixed (peak RSS
/// 231–277 → 175–190 MB), for 4–9 % more CPU (mostly the kernel's, page
/// faults on fresh mappings).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn fix_mmap_threshold() {
    // SAFETY: mallopt only sets an allocator parameter; it runs first in
    // `main`, before any other thread exists.
    if unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) } != 1 {
        eprintln!("warning: cannot set the allocator's mmap threshold");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn fix_mmap_threshold() {}

fn main() -> std::process::ExitCode {
    fix_mmap_threshold();
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
