//! How the process asks glibc's allocator to hold on to less memory.
//!
//! glibc serves each thread from one of several arenas and keeps what is
//! freed inside them for reuse: only the free memory at the top of an arena
//! goes back to the kernel on its own. A bulk import frees a lot in the middle
//! (extracted texts, index documents, file contents read for a commit), and
//! in `cargo bench --bench ingest` phase (a) the daemon's anonymous memory
//! stayed 40–45 MB above what was allocated. [`configure`] makes large
//! blocks mappings of their own; [`trim_while_running`] gives free pages
//! back while the daemon runs. (Capping glibc's arenas at two saved
//! another 11 MB in phase (a) but cost a third of the searches per second
//! under load in `cargo bench --bench http`, 3,176 → 2,054/s: threads
//! waited for each other's arena locks.) On other allocators both do nothing.

use std::time::Duration;

/// Allocations of at least this size get a mapping of their own, which
/// goes back to the kernel when they are freed. It is glibc's initial
/// threshold; set explicitly, glibc stops raising it (up to 32 MiB) each
/// time such a block is freed. Raised, the large blocks of a bulk import
/// (tantivy's indexing arenas, staged packs, extracted texts) came from
/// the heap and stayed there after they were freed: the anonymous memory
/// of the 10,000-file import in `cargo bench --bench ingest` peaked at
/// 124–129 MB, and peaks at 74–84 MB with the threshold fixed, for 4–9 %
/// more CPU (mostly the kernel's, page faults on fresh mappings).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// How often [`trim_while_running`] looks at the process's memory.
pub const TRIM_EVERY: Duration = Duration::from_millis(250);

/// What [`trim_while_running`] lets grow before it trims: resident
/// anonymous memory above its level after the last trim, and free memory
/// inside the arenas. Below that, giving memory back is not worth the page
/// faults when it is used again, nor a trim's time holding the arenas'
/// locks (2–10 ms while a bulk import runs).
pub const TRIM_ABOVE: usize = 8 << 20;

/// Sets the allocator's parameters. Call it first in `main`, before any
/// other thread exists.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn configure() {
    // SAFETY: mallopt only sets allocator parameters; the caller runs it
    // before any other thread exists.
    if unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) } != 1 {
        eprintln!("warning: cannot set the allocator's parameters");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn configure() {}

/// Bytes the allocator holds free inside its arenas.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn free_bytes() -> usize {
    // SAFETY: mallinfo2 takes no arguments and returns a plain struct; it
    // locks each arena while it sums it.
    unsafe { libc::mallinfo2() }.fordblks
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn free_bytes() -> usize {
    0
}

/// Gives the free pages inside every arena back to the kernel.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn trim() {
    // SAFETY: malloc_trim takes the arenas' locks itself; any thread may call it.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() {}

/// Resident anonymous memory of the process (resident minus file-backed
/// and shared pages, from `/proc/self/statm`), if it can be read.
pub fn anonymous_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let mut fields = statm.split_whitespace().skip(1).map(|f| f.parse::<usize>());
    let (Some(Ok(resident)), Some(Ok(shared))) = (fields.next(), fields.next()) else {
        return None;
    };
    Some(resident.saturating_sub(shared) * rustix::param::page_size())
}

/// Every [`TRIM_EVERY`], trims the allocator if the resident anonymous
/// memory grew by [`TRIM_ABOVE`] since the last look that found it grown
/// (or its lowest level since) and that much lies free in the arenas. An
/// idle daemon does not trim at all. Runs until the runtime it was spawned
/// on ends; the trimming runs on a blocking thread, off the runtime's
/// workers.
pub async fn trim_while_running() {
    let mut tick = tokio::time::interval(TRIM_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut low = usize::MAX;
    loop {
        tick.tick().await;
        let Some(anon) = anonymous_bytes() else {
            return;
        };
        low = low.min(anon);
        if anon < low + TRIM_ABOVE {
            continue;
        }
        let trimmed = tokio::task::spawn_blocking(|| {
            let free = free_bytes();
            (free > TRIM_ABOVE).then(|| {
                let started = std::time::Instant::now();
                trim();
                (free, started.elapsed())
            })
        })
        .await;
        let after = anonymous_bytes().unwrap_or(anon);
        if let Ok(Some((free, took))) = trimmed {
            tracing::debug!(
                free,
                before = anon,
                after,
                ?took,
                "gave free memory back to the kernel"
            );
        }
        // Grown with live memory, or trimmed: measure growth from here.
        low = after;
    }
}
