//! The extraction sandbox: a worker's panic, abort, stack overflow, runaway
//! allocation or endless loop ends as a `failed` status for that file, and
//! the next file is extracted by a fresh worker.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use docvault::extract::sandbox::Worker;
use docvault::extract::{Limits, Status};

fn worker(timeout: Duration) -> Worker {
    let limits = Limits {
        timeout,
        memory: 512 << 20,
        ..Limits::default()
    };
    Worker::new(PathBuf::from(env!("CARGO_BIN_EXE_docvault")), limits).with_faults()
}

fn failed_reason(status: &Status) -> &str {
    match status {
        Status::Failed(reason) => reason,
        other => panic!("expected failed, got {other:?}"),
    }
}

#[test]
fn worker_extracts_and_survives_every_fault() {
    let mut w = worker(Duration::from_secs(3));
    let ok = w.extract(b"Plain words about the Q3 budget", "notes.txt");
    assert_eq!(ok.status, Status::Ok, "{ok:?}");
    assert!(ok.text.contains("Q3 budget"));

    for (fault, expect) in [
        ("fault.panic", "parser panicked: injected panic"),
        ("fault.abort", "worker died"),
        ("fault.stack", "worker died"),
        ("fault.oom", "worker died"),
    ] {
        let out = w.extract(b"x", fault);
        let reason = failed_reason(&out.status);
        assert!(reason.starts_with(expect), "{fault}: {reason}");
        let after = w.extract(b"still alive", "after.txt");
        assert_eq!(after.text, "still alive", "after {fault}");
    }

    let started = Instant::now();
    let hung = w.extract(b"x", "fault.hang");
    assert_eq!(failed_reason(&hung.status), "timed out after 3s");
    assert!(started.elapsed() < Duration::from_secs(10));
    let after = w.extract(b"fresh worker", "after.txt");
    assert_eq!(after.text, "fresh worker");
}

#[test]
fn oversized_input_is_refused_without_a_worker() {
    let limits = Limits {
        max_input: 10,
        ..Limits::default()
    };
    let mut w = Worker::new(PathBuf::from("/nonexistent/worker"), limits);
    let out = w.extract(b"more than ten bytes", "big.txt");
    assert_eq!(out.status, Status::Refused("input size over limit".into()));
}

/// Field 19 of /proc/PID/stat (after the command in parentheses): nice.
fn nice_of(pid: &str) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(16)?.parse().ok()
}

fn parent_of(pid: &str) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(1)?.parse().ok()
}

#[test]
fn workers_run_below_the_daemons_priority() {
    let mut w = worker(Duration::from_secs(5));
    let ok = w.extract(b"background work", "notes.txt");
    assert_eq!(ok.status, Status::Ok, "{ok:?}");
    let me = std::process::id();
    let own = nice_of("self").unwrap();
    // Other tests in this process start workers too; one caught between
    // its exec and its nice() shows the old value for a moment, so poll.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let workers: Vec<i32> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
            .filter(|pid| parent_of(pid) == Some(me))
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c.windows(14).any(|w| w == b"extract-worker"))
            })
            .filter_map(|pid| nice_of(&pid))
            .collect();
        assert!(!workers.is_empty(), "the worker is a child of this process");
        if workers.iter().all(|&n| n == (own + 10).min(19)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "workers are niced by 10: {workers:?} (own nice {own})"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
