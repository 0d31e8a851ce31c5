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
//!
//! The `docvault` binary gives its Rust allocations to mimalloc (set up in
//! `src/main.rs` to purge freed pages at once; large zeroed blocks are
//! mappings of their own, see [`crate::alloc`]); glibc's allocator, tuned
//! and trimmed here, then serves libgit2 and the other C code, and every
//! allocation of a program that uses the library with the system allocator.

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

/// A process's resident memory, in bytes, split as `/proc/PID/statm`
/// splits it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resident {
    /// Anonymous memory: resident minus `shared`.
    pub anonymous: usize,
    /// File-backed and shared pages (mapped files, the binary).
    pub shared: usize,
}

/// The resident memory of process `pid` (this process if `None`), if its
/// `statm` can be read.
pub fn resident(pid: Option<u32>) -> Option<Resident> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/statm"),
        None => "/proc/self/statm".to_owned(),
    };
    let statm = std::fs::read_to_string(path).ok()?;
    let mut fields = statm.split_whitespace().skip(1).map(|f| f.parse::<usize>());
    let (Some(Ok(resident)), Some(Ok(shared))) = (fields.next(), fields.next()) else {
        return None;
    };
    let page = rustix::param::page_size();
    Some(Resident {
        anonymous: resident.saturating_sub(shared) * page,
        shared: shared * page,
    })
}

/// Resident anonymous memory of this process, if it can be read.
pub fn anonymous_bytes() -> Option<usize> {
    resident(None).map(|r| r.anonymous)
}

/// The most growth [`TrimPolicy`] waits for between growth trims once
/// they stopped paying (see [`TrimPolicy::done`]).
pub const TRIM_ABOVE_MAX: usize = 64 << 20;

/// Looks of [`trim_while_running`] over which the anonymous memory must
/// hold still (within [`QUIET_DELTA`]) before a burst's leftovers are
/// trimmed: 2 s.
pub const QUIET_LOOKS: u32 = 8;

/// How much the anonymous memory may move between two looks and still
/// count as holding still.
pub const QUIET_DELTA: usize = 256 << 10;

/// How much a burst must have raised the anonymous memory (above its
/// lowest level since the last quiet trim) for its end to be worth a trim,
/// and how much must lie free for that trim.
pub const QUIET_ABOVE: usize = 4 << 20;

/// Why [`TrimPolicy`] asks for a trim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrimFor {
    /// The anonymous memory grew by the policy's step ([`TRIM_ABOVE`] or,
    /// backed off, more); trim if [`TRIM_ABOVE`] is free.
    Growth,
    /// A burst ended and the memory holds still; trim if [`QUIET_ABOVE`] is free.
    Quiet,
}

impl TrimFor {
    /// The free memory below which this trim is not worth it.
    pub fn worth_above(self) -> usize {
        match self {
            TrimFor::Growth => TRIM_ABOVE,
            TrimFor::Quiet => QUIET_ABOVE,
        }
    }
}

/// When to trim, from the resident anonymous memory seen at each look:
/// while it grows, at every step of growth ([`TRIM_ABOVE`], backed off
/// while trims do not pay, see [`TrimPolicy::done`]); and once when a
/// burst is over (growth trims, or the memory [`QUIET_ABOVE`] over its
/// lowest level since the last quiet trim, then [`QUIET_LOOKS`] looks
/// holding still). Memory freed at the end of a burst does not lower the
/// resident level, so only the quiet trim gives it back: 38 → 17 MB for
/// an idle daemon after a 2,000-file import. Holding still after that,
/// nothing happens: an idle daemon does not trim again and again.
#[derive(Debug)]
pub struct TrimPolicy {
    /// The lowest level since the last look that asked for a trim.
    low: usize,
    /// The lowest level since the last quiet trim.
    base: usize,
    /// Whether a burst happened since the last quiet trim.
    busy: bool,
    /// The growth that asks for a trim: [`TRIM_ABOVE`], doubled (up to
    /// [`TRIM_ABOVE_MAX`]) after each growth trim that gave back less than
    /// half of it.
    step: usize,
    last: usize,
    still: u32,
}

impl Default for TrimPolicy {
    fn default() -> TrimPolicy {
        TrimPolicy {
            low: usize::MAX,
            base: usize::MAX,
            busy: false,
            step: TRIM_ABOVE,
            last: 0,
            still: 0,
        }
    }
}

impl TrimPolicy {
    /// Takes one look's anonymous memory; says whether to trim now.
    pub fn look(&mut self, anon: usize) -> Option<TrimFor> {
        self.still = if anon.abs_diff(self.last) <= QUIET_DELTA {
            self.still.saturating_add(1)
        } else {
            0
        };
        self.last = anon;
        self.low = self.low.min(anon);
        self.base = self.base.min(anon);
        if anon >= self.base + QUIET_ABOVE {
            self.busy = true;
        }
        if anon >= self.low + self.step {
            self.busy = true;
            Some(TrimFor::Growth)
        } else if self.busy && self.still >= QUIET_LOOKS {
            Some(TrimFor::Quiet)
        } else {
            None
        }
    }

    /// After a look that asked for a trim `why`: the anonymous memory
    /// before and after it (the same if it did not run, having found too
    /// little free). Growth counts from here, and a quiet look ends the
    /// burst. A growth trim that gave back less than half the step doubles
    /// the step: under a steady load (a burst of searches) the memory it
    /// gives back is taken again at once, page faults and all, and each
    /// trim holds the arenas' locks for milliseconds. One that pays
    /// resets it.
    pub fn done(&mut self, why: TrimFor, before: usize, after: usize) {
        self.low = after;
        self.last = after;
        match why {
            TrimFor::Quiet => {
                self.busy = false;
                self.base = after;
            }
            TrimFor::Growth if before.saturating_sub(after) * 2 < self.step => {
                self.step = (self.step * 2).min(TRIM_ABOVE_MAX);
            }
            TrimFor::Growth => self.step = TRIM_ABOVE,
        }
    }
}

/// Every [`TRIM_EVERY`], trims the allocator when [`TrimPolicy`] says so
/// and enough lies free in the arenas. Runs until the runtime it was
/// spawned on ends; the trimming runs on a blocking thread, off the
/// runtime's workers.
pub async fn trim_while_running() {
    let mut tick = tokio::time::interval(TRIM_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut policy = TrimPolicy::default();
    loop {
        tick.tick().await;
        let Some(anon) = anonymous_bytes() else {
            return;
        };
        let Some(why) = policy.look(anon) else {
            continue;
        };
        let trimmed = tokio::task::spawn_blocking(move || {
            let free = free_bytes();
            (free > why.worth_above()).then(|| {
                let started = std::time::Instant::now();
                trim();
                (free, started.elapsed())
            })
        })
        .await
        .ok()
        .flatten();
        let after = anonymous_bytes().unwrap_or(anon);
        if let Some((free, took)) = trimmed {
            tracing::debug!(
                ?why,
                free,
                before = anon,
                after,
                ?took,
                "gave free memory back to the kernel"
            );
        }
        policy.done(why, anon, after);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: usize = 1 << 20;

    /// Feeds `levels` (in MiB) to a policy; the looks (by index) that asked
    /// for a trim. The memory is live: a trim gives nothing back.
    fn trims(levels: &[usize]) -> Vec<(usize, TrimFor)> {
        let mut policy = TrimPolicy::default();
        let mut asked = Vec::new();
        for (i, &level) in levels.iter().enumerate() {
            if let Some(why) = policy.look(level * MB) {
                asked.push((i, why));
                policy.done(why, level * MB, level * MB);
            }
        }
        asked
    }

    #[test]
    fn an_idle_daemon_never_trims() {
        assert_eq!(trims(&[30; 100]), []);
    }

    #[test]
    fn growing_live_memory_is_trimmed_less_and_less() {
        // 2 MiB more at each look: after 8 MiB, a trim that gives nothing
        // back; then the policy waits for 16 MiB more, then 32.
        let levels: Vec<usize> = (0..40).map(|i| 20 + 2 * i).collect();
        let asked = trims(&levels);
        assert_eq!(
            asked,
            [
                (4, TrimFor::Growth),
                (12, TrimFor::Growth),
                (28, TrimFor::Growth)
            ]
        );
    }

    #[test]
    fn the_end_of_a_burst_is_trimmed_once() {
        // A burst up 6 MiB (under TRIM_ABOVE), then down to 25 and still.
        let mut levels = vec![20, 23, 26, 24, 25];
        levels.extend([25; 30]);
        let asked = trims(&levels);
        assert_eq!(asked, [(4 + QUIET_LOOKS as usize, TrimFor::Quiet)]);
    }

    #[test]
    fn growth_trims_are_followed_by_one_quiet_trim() {
        // Growing 2 MiB a look up to 36, then still: a growth trim, and
        // once still, one trim for what the burst freed in the end.
        let mut levels: Vec<usize> = (0..9).map(|i| 20 + 2 * i).collect();
        levels.extend([36; 30]);
        let asked = trims(&levels);
        assert_eq!(
            asked,
            [
                (4, TrimFor::Growth),
                (8 + QUIET_LOOKS as usize, TrimFor::Quiet)
            ]
        );
    }

    #[test]
    fn a_small_burst_or_restless_memory_is_left_alone() {
        // Up 3 MiB only: not worth it.
        let mut small = vec![20, 23, 20];
        small.extend([20; 30]);
        assert_eq!(trims(&small), []);
        // Up 6 MiB, then never still: no quiet trim.
        let restless: Vec<usize> = (0..40).map(|i| if i % 2 == 0 { 20 } else { 26 }).collect();
        assert_eq!(trims(&restless), []);
    }

    #[test]
    fn a_quiet_look_ends_the_burst_whatever_it_found_free() {
        let mut policy = TrimPolicy::default();
        for level in [20, 26, 26, 26, 26, 26, 26, 26, 26] {
            assert_eq!(policy.look(level * MB), None);
        }
        assert_eq!(policy.look(26 * MB), Some(TrimFor::Quiet));
        policy.done(TrimFor::Quiet, 26 * MB, 26 * MB);
        for _ in 0..30 {
            assert_eq!(policy.look(26 * MB), None);
        }
    }

    #[test]
    fn growth_trims_that_do_not_pay_back_off() {
        let mut policy = TrimPolicy::default();
        let mut asked = Vec::new();
        // A steady load: memory swings between 30 and 40 MiB, and a trim
        // gives back 2 MiB before it is taken again.
        for i in 0..200 {
            let level = if i % 2 == 0 { 30 } else { 40 } * MB;
            if let Some(why) = policy.look(level) {
                asked.push(i);
                policy.done(why, level, level - 2 * MB);
            }
        }
        // One trim; then the policy waits for 16 MiB of growth, which a
        // load swinging by 10 never shows.
        assert_eq!(asked, [1]);
        // One that pays (a bulk import) brings the step back.
        let mut policy = TrimPolicy::default();
        assert_eq!(policy.look(30 * MB), None);
        assert_eq!(policy.look(40 * MB), Some(TrimFor::Growth));
        policy.done(TrimFor::Growth, 40 * MB, 38 * MB);
        assert_eq!(policy.look(46 * MB), None, "step doubled to 16 MiB");
        assert_eq!(policy.look(54 * MB), Some(TrimFor::Growth));
        policy.done(TrimFor::Growth, 54 * MB, 40 * MB);
        assert_eq!(policy.look(48 * MB), Some(TrimFor::Growth), "back to 8 MiB");
    }
}
