//! Background work runs at a lower CPU priority than versioning and the API.
//!
//! Versioning a change (ingest) and answering requests come first: what
//! runs beside them — merging packs, extracting text, indexing versions
//! for search — is derived from the archive and can wait a little when
//! the CPUs are busy (a bulk import, a burst of requests). When they are
//! idle, the priority changes nothing. Linux gives each thread its own nice
//! value and a new thread its creator's, so the threads a library starts
//! from a background thread (tantivy's indexing threads, started at each
//! index commit) are background threads too. (tantivy's merge threads are
//! not: searches pay for every segment a lagging merge leaves.) An
//! unprivileged process cannot raise a thread's priority back, so the
//! writer never lowers its own: background work that it drives runs on a
//! thread of its own ([`run`]).

use tracing::debug;

/// The nice value of background threads (and extraction worker processes).
pub const NICE: i32 = 10;

/// Lowers the calling thread's priority to [`NICE`] (for good: see the
/// module documentation).
pub fn lower_this_thread() {
    let me = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(me), NICE) {
        debug!(error = %e, "cannot lower a background thread's priority");
    }
}

/// Runs `work` on a background thread and waits for it; the threads
/// `work` starts stay background threads. (If no thread can be started,
/// `work` runs on the calling thread.)
pub fn run<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    let work = std::sync::Mutex::new(Some(work));
    let take = || {
        work.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    };
    let answer = std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("docvault-bg".into())
            .spawn_scoped(scope, || {
                lower_this_thread();
                take().map(|work| work())
            });
        match thread {
            Ok(thread) => thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(e) => {
                debug!(error = %e, "cannot start a background thread; working on this one");
                None
            }
        }
    });
    match answer {
        Some(answer) => answer,
        None => take().expect("work that did not run is still there")(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nice_of_this_thread() -> i32 {
        let me = rustix::thread::gettid();
        rustix::process::getpriority_process(Some(me)).unwrap()
    }

    #[test]
    fn background_work_and_the_threads_it_starts_run_niced_and_the_caller_does_not() {
        let before = nice_of_this_thread();
        let (inside, started) = run(|| {
            let inside = nice_of_this_thread();
            let started = std::thread::spawn(nice_of_this_thread).join().unwrap();
            (inside, started)
        });
        assert_eq!(inside, NICE.max(before));
        assert_eq!(started, NICE.max(before));
        assert_eq!(nice_of_this_thread(), before);
    }
}
