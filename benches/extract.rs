//! Extraction benchmark: per fixture format, MB/s and files/s in process,
//! and through the sandbox (a worker process per thread), so the cost of
//! isolation is measured beside the work it isolates.
//!
//! `cargo bench --bench extract` (add `-- --quick` for a short run).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use docvault::extract::sandbox::Worker;
use docvault::extract::{Limits, Status, extract};

const FIXTURES: &[&str] = &[
    "notes.md",
    "table.csv",
    "page.html",
    "mail.eml",
    "writer.rtf",
    "report.docx",
    "writer.docx",
    "writer.odt",
    "budget.xlsx",
    "calc.ods",
    "deck.pptx",
    "impress.odp",
    "writer.pdf",
    "reportlab.pdf",
];

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let budget = if quick {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(2)
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let limits = Limits::default();
    let mut worker = Worker::new(PathBuf::from(env!("CARGO_BIN_EXE_docvault")), limits);
    println!(
        "| fixture | size | in-process files/s | in-process MB/s | sandboxed files/s | sandboxed MB/s | isolation overhead per file |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for name in FIXTURES {
        let Ok(data) = std::fs::read(dir.join(name)) else {
            eprintln!("skipping {name}: fixture missing");
            continue;
        };
        let check = extract(&data, name, &limits);
        assert!(
            matches!(check.status, Status::Ok),
            "{name}: {:?}",
            check.status
        );
        let inproc = per_file(budget, || drop(extract(&data, name, &limits)));
        let sandboxed = per_file(budget, || drop(worker.extract(&data, name)));
        let mb = data.len() as f64 / 1e6;
        println!(
            "| {name} | {} KB | {:.0} | {:.1} | {:.0} | {:.1} | {:.0} µs |",
            data.len() / 1000,
            1.0 / inproc,
            mb / inproc,
            1.0 / sandboxed,
            mb / sandboxed,
            (sandboxed - inproc) * 1e6,
        );
    }
    let spawn = per_file(budget, || {
        let mut w = Worker::new(PathBuf::from(env!("CARGO_BIN_EXE_docvault")), limits);
        drop(w.extract(b"x", "x.txt"));
    });
    println!(
        "\nstarting a worker and extracting one tiny file: {:.1} ms",
        spawn * 1e3
    );
}

/// Seconds per call, averaged over as many calls as fit in `budget` (at least 3).
fn per_file(budget: Duration, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut n = 0u32;
    while n < 3 || start.elapsed() < budget {
        f();
        n += 1;
    }
    start.elapsed().as_secs_f64() / f64::from(n)
}
