//! The HTTP API benchmark: requests per second and latency of the real
//! daemon on loopback, measured with `wrk`, while ingest runs a steady
//! 20 files/s.
//!
//! One run, in a temp dir removed at the end:
//!
//! 1. build a 100,000-document search index (the search benchmark's seeded
//!    corpus, ~2 KiB of text each) in `DATA_DIR/index` with the daemon's own
//!    `docvault::index` API. Its documents belong to shares `s0`…`s4`, which
//!    the config does not name: the daemon catches up only the commits of
//!    its configured shares, so it serves these entries as they are (they
//!    have no archive behind them, so only searches reach them);
//! 2. put a 10 KiB file in the one configured share, `alpha`, start the
//!    release binary (`docvault serve`, no tokens, 127.0.0.1, port 0) and
//!    wait for `/readyz`: the daemon versions the file itself;
//! 3. start a writer thread that creates or rewrites a ~2 KiB Markdown file
//!    in `alpha` every 50 ms (20 files/s) until the end, so every request
//!    meets a daemon that commits, extracts and reloads its index reader;
//! 4. 15 s with no requests (the baseline for ingest: what it keeps up with
//!    alone), then for each endpoint a 3 s warm-up and `wrk -t2 -c32 -d15s
//!    --latency`: `/healthz` (the HTTP stack's floor, the baseline), the
//!    10 KiB download, a one-word search (1,000 words of rank 200–2,000 in
//!    turn) and a two-word phrase search (1,000 phrases in turn), 10 hits
//!    with snippets each, as the web page asks;
//! 5. check that ingest kept up (every write became a version) and print
//!    the table with the targets.
//!
//! Run with `cargo bench --bench http [-- --quick] [--only WORD]`
//! (`--quick`: 10,000 documents, 5 s runs; `--only`: the runs whose name
//! holds WORD, e.g. `--only "one word"`, for A/B runs of one endpoint).
//! Needs `wrk` on PATH (Debian: `apt-get install wrk`): without it the
//! bench says so and fails. Progress and wrk's own report go to stderr,
//! the markdown table to stdout. `DOCVAULT_LOG` is passed on to the daemon.

#[path = "common/mod.rs"]
#[allow(dead_code)] // each bench uses part of it
mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use common::{Corpus, Rng, cpu_pressure, load_average, ms, thousands};
use docvault::index::Index;

/// The share the daemon watches (the corpus uses `s0`…`s4`).
const SHARE: &str = "alpha";
/// The downloaded document and its size.
const DOWNLOAD: &str = "plans/budget-2026.md";
const DOWNLOAD_BYTES: usize = 10 * 1024;
/// Documents per index commit while building the index.
const BATCH: usize = 10_000;
/// The writer's pace: one file per tick (20 files/s).
const WRITE_EVERY: Duration = Duration::from_millis(50);
/// Files the writer cycles through: each is rewritten every 20 s.
const WRITER_FILES: usize = 400;
/// Hits per search, as the web page asks.
const PAGE: usize = 10;
/// Queries each search run cycles through.
const QUERIES: usize = 1000;
const WRK_THREADS: u32 = 2;
const WRK_CONNECTIONS: u32 = 32;
const WARM_UP: Duration = Duration::from_secs(3);
const READY_DEADLINE: Duration = Duration::from_secs(120);
/// The targets.
const DOWNLOADS_PER_S: f64 = 5000.0;
const SEARCHES_PER_S: f64 = 2000.0;
const P99: Duration = Duration::from_millis(20);

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

struct Opts {
    quick: bool,
    /// Only the runs whose name holds this.
    only: Option<String>,
    docs: usize,
    duration: Duration,
}

impl Opts {
    fn parse() -> Result<Opts> {
        let mut quick = false;
        let mut only = None;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => quick = true,
                "--only" => only = Some(args.next().context("--only needs a word")?),
                // cargo bench passes --bench to harness-less benches.
                "--bench" => {}
                other => bail!("unknown argument {other:?} (use --quick, --only WORD)"),
            }
        }
        Ok(Opts {
            quick,
            only,
            docs: if quick { 10_000 } else { 100_000 },
            duration: Duration::from_secs(if quick { 5 } else { 15 }),
        })
    }
}

fn run() -> Result<()> {
    let opts = Opts::parse()?;
    require_wrk()?;
    let tmp = tempfile::Builder::new()
        .prefix("docvault-http-bench")
        .tempdir()
        .context("cannot make a temp dir")?;
    eprintln!(
        "bench: {} docs, {} CPUs, temp dir {}, load {}",
        opts.docs,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        tmp.path().display(),
        load_average()
    );
    let corpus = Corpus::new(opts.docs);
    let mut table = Table::default();
    build_index(&corpus, &tmp.path().join("data/index"), &mut table)?;
    let share = tmp.path().join(SHARE);
    std::fs::create_dir_all(share.join("plans"))?;
    std::fs::write(share.join(DOWNLOAD), download_text(&corpus))?;
    let daemon = Daemon::start(tmp.path(), &share)?;
    let searches = SearchPaths::new(&corpus);
    sanity(&daemon, &searches)?;
    let versions_before = daemon.versions()?;
    let writer = Writer::start(&share, Corpus::new(opts.docs));
    std::thread::sleep(Duration::from_secs(2));
    let wanted = |run: &Run| {
        opts.only
            .as_ref()
            .is_none_or(|w| run.name.contains(w.as_str()))
    };
    for run in runs(&searches).into_iter().filter(wanted) {
        table.runs.push(measure(&daemon, &run, tmp.path(), &opts)?);
    }
    let writes = writer.stop()?;
    table.ingest = ingest_kept_up(&daemon, versions_before, &writes)?;
    table.log = daemon.log_summary();
    println!("{}", table.render(&opts));
    Ok(())
}

fn require_wrk() -> Result<()> {
    let found = Command::new("wrk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    ensure!(
        found,
        "`wrk` is not on PATH: install it (Debian: `apt-get install wrk`) and run \
         `cargo bench --bench http` again"
    );
    Ok(())
}

// --- the index and the share ---------------------------------------------------

/// Indexes the corpus at v1 for the unconfigured shares `s0`…`s4`, as
/// benches/search.rs does, and waits for the merges to end.
fn build_index(corpus: &Corpus, dir: &Path, table: &mut Table) -> Result<()> {
    let started = Instant::now();
    let mut index = Index::open_or_create(dir)?;
    for batch in (0..corpus.docs).collect::<Vec<_>>().chunks(BATCH) {
        for &doc in batch {
            index.add(corpus.entry(doc, 1))?;
        }
        // Nothing absorbed: the daemon's share has no commits in this index.
        index.commit(&BTreeMap::new())?;
        eprintln!("bench: indexed {} docs", batch[batch.len() - 1] + 1);
    }
    index.finish()?;
    table.index = format!(
        "{} docs indexed (text generated and indexed) and merged in {:.1} s",
        thousands(corpus.docs),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Exactly [`DOWNLOAD_BYTES`] of the corpus' prose.
fn download_text(corpus: &Corpus) -> String {
    let mut text = String::new();
    let mut doc = 0;
    while text.len() < DOWNLOAD_BYTES {
        text.push_str(&corpus.text(doc, 1));
        text.push('\n');
        doc += 1;
    }
    text.truncate(DOWNLOAD_BYTES);
    text
}

/// The search URLs the runs cycle through.
struct SearchPaths {
    terms: Vec<String>,
    phrases: Vec<String>,
}

impl SearchPaths {
    fn new(corpus: &Corpus) -> SearchPaths {
        let mut rng = Rng::new(7);
        let url = |q: &str| format!("/api/v1/search?q={q}&limit={PAGE}");
        SearchPaths {
            terms: (0..QUERIES)
                .map(|_| url(corpus.ranked(&mut rng, 200..2000)))
                .collect(),
            phrases: (0..QUERIES)
                .map(|_| {
                    let (a, b) = adjacent_words(corpus, &mut rng);
                    url(&format!("%22{a}%20{b}%22"))
                })
                .collect(),
        }
    }
}

/// Two adjacent plain words of some document's text: a phrase that hits.
fn adjacent_words(corpus: &Corpus, rng: &mut Rng) -> (String, String) {
    let plain = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase());
    loop {
        let text = corpus.text(rng.below(corpus.docs), 1);
        let words: Vec<&str> = text.split(' ').collect();
        let i = rng.below(words.len() - 1);
        if plain(words[i]) && plain(words[i + 1]) {
            return (words[i].into(), words[i + 1].into());
        }
    }
}

/// Checks by hand what wrk cannot: the download is the whole file, and the
/// searches find the 100k documents.
fn sanity(daemon: &Daemon, searches: &SearchPaths) -> Result<()> {
    let (status, body) = http_get(daemon.addr, &download_path())?;
    ensure!(
        status == 200 && body.len() == DOWNLOAD_BYTES,
        "download answered {status} with {} bytes",
        body.len()
    );
    for path in searches.terms.iter().chain(&searches.phrases).step_by(50) {
        let (status, body) = http_get(daemon.addr, path)?;
        ensure!(status == 200, "{path} answered {status}");
        let hits: serde_json::Value = serde_json::from_slice(&body)?;
        let total = hits["total"].as_u64().unwrap_or(0);
        ensure!(total > 0, "{path} found nothing");
    }
    let (_, body) = http_get(daemon.addr, &searches.terms[0])?;
    let hits: serde_json::Value = serde_json::from_slice(&body)?;
    eprintln!(
        "bench: {} → total {}, first hit {}:{}",
        searches.terms[0], hits["total"], hits["hits"][0]["share"], hits["hits"][0]["path"]
    );
    Ok(())
}

fn download_path() -> String {
    format!("/api/v1/shares/{SHARE}/files/{DOWNLOAD}")
}

// --- the steady writer -----------------------------------------------------------

/// Creates, then rewrites, [`WRITER_FILES`] files, one every [`WRITE_EVERY`].
struct Writer {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<Writes>>,
}

/// What the writer did.
struct Writes {
    count: usize,
    took: Duration,
    /// How late the latest write was against its schedule.
    max_late: Duration,
}

impl Writer {
    fn start(share: &Path, corpus: Corpus) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let dir = share.join("churn");
        let thread = std::thread::spawn(move || write_steadily(&dir, &corpus, &flag));
        Writer { stop, thread }
    }

    fn stop(self) -> Result<Writes> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the writer thread panicked"))?
    }
}

fn write_steadily(dir: &Path, corpus: &Corpus, stop: &AtomicBool) -> Result<Writes> {
    let started = Instant::now();
    let mut max_late = Duration::ZERO;
    let mut count = 0;
    while !stop.load(Ordering::SeqCst) {
        let due = started + WRITE_EVERY * count as u32;
        match due.checked_duration_since(Instant::now()) {
            Some(wait) => std::thread::sleep(wait),
            None => max_late = max_late.max(due.elapsed()),
        }
        let file = count % WRITER_FILES;
        let version = (count / WRITER_FILES) as u32 + 1;
        let path = dir.join(format!("f{}/note-{file}.md", file % 20));
        std::fs::create_dir_all(path.parent().expect("a file path has a parent"))?;
        // Documents past the corpus: their own text, never the indexed one.
        std::fs::write(&path, corpus.text(corpus.docs + file, version))?;
        count += 1;
    }
    Ok(Writes {
        count,
        took: started.elapsed(),
        max_late,
    })
}

/// Waits (up to 30 s) until every write is a version; describes how it went.
fn ingest_kept_up(daemon: &Daemon, before: u64, writes: &Writes) -> Result<String> {
    let stopped = Instant::now();
    let want = before + writes.count as u64;
    let mut have = daemon.versions()?;
    let at_stop = have - before;
    let gauges = daemon.gauges(&["docvault_settle_queue", "docvault_index_lag_versions"])?;
    while have < want && stopped.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
        have = daemon.versions()?;
    }
    Ok(format!(
        "the writer made {} writes in {:.1} s ({:.1} files/s, at most {} ms behind schedule); \
         when it stopped the daemon had recorded {at_stop} versions of them \
         ({gauges}), and {} versions {:.1} s later (settle is 1 s)",
        writes.count,
        writes.took.as_secs_f64(),
        writes.count as f64 / writes.took.as_secs_f64(),
        writes.max_late.as_millis(),
        have - before,
        stopped.elapsed().as_secs_f64()
    ))
}

// --- the daemon --------------------------------------------------------------------

/// A running `docvault serve`; killed when dropped.
struct Daemon {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn start(dir: &Path, share: &Path) -> Result<Daemon> {
        let config = dir.join("docvault.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = '{data}'\n\n[server]\nlisten = \"127.0.0.1:0\"\n\n\
                 [watch]\nsettle = \"1s\"\n\n\
                 [[shares]]\nname = \"{SHARE}\"\npath = '{share}'\n",
                data = dir.join("data").display(),
                share = share.display(),
            ),
        )?;
        let started = Instant::now();
        let daemon = Daemon::spawn(&config, &dir.join("daemon.log"))?;
        daemon.wait_ready(started)?;
        eprintln!(
            "bench: daemon pid {} ready on {} after {:.1} s",
            daemon.child.id(),
            daemon.addr,
            started.elapsed().as_secs_f64()
        );
        Ok(daemon)
    }

    fn spawn(config: &Path, log: &Path) -> Result<Daemon> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_docvault"))
            .arg("serve")
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log)?)
            .spawn()
            .context("cannot start the docvault binary")?;
        let stdout = child.stdout.take().context("daemon stdout is piped")?;
        let mut daemon = Daemon {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log: log.to_owned(),
        };
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        daemon.addr = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|a| a.parse().ok())
            .with_context(|| {
                format!(
                    "no listening line from the daemon ({line:?}){}",
                    daemon.log_tail()
                )
            })?;
        Ok(daemon)
    }

    /// Polls `/readyz` every 10 ms until it answers 200.
    fn wait_ready(&self, started: Instant) -> Result<()> {
        loop {
            if http_get(self.addr, "/readyz").is_ok_and(|(s, _)| s == 200) {
                return Ok(());
            }
            ensure!(
                started.elapsed() < READY_DEADLINE,
                "the daemon was not ready after {} s{}",
                READY_DEADLINE.as_secs(),
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Versions recorded in the share so far.
    fn versions(&self) -> Result<u64> {
        let (status, body) = http_get(self.addr, "/api/v1/shares")?;
        ensure!(status == 200, "/api/v1/shares answered {status}");
        let shares: serde_json::Value = serde_json::from_slice(&body)?;
        shares
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == SHARE))
            .and_then(|s| s["versions"].as_u64())
            .context("no version count for the share in /api/v1/shares")
    }

    /// The named gauges of `/metrics`, as `name value` pairs.
    fn gauges(&self, names: &[&str]) -> Result<String> {
        let (status, body) = http_get(self.addr, "/metrics")?;
        ensure!(status == 200, "/metrics answered {status}");
        let text = String::from_utf8_lossy(&body);
        Ok(names
            .iter()
            .map(|name| {
                let value = text
                    .lines()
                    .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                    .unwrap_or("missing");
                format!("`{name}` {value}")
            })
            .collect::<Vec<_>>()
            .join(", "))
    }

    /// Time on a CPU and time runnable but waiting for one, of the daemon and
    /// its extraction workers (`/proc/…/schedstat`).
    fn sched(&self) -> Sched {
        let pid = self.child.id();
        std::iter::once(pid)
            .chain(children_of(pid))
            .map(Sched::of_process)
            .fold(Sched::default(), |a, b| Sched {
                on_cpu: a.on_cpu + b.on_cpu,
                waiting: a.waiting + b.waiting,
            })
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("; daemon log ({}):\n{tail}", self.log.display())
    }

    /// How many WARN and ERROR lines the daemon logged, with the first of them.
    fn log_summary(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let bad: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
            .collect();
        match bad.first() {
            None => format!(
                "the daemon logged {} lines, none WARN or ERROR",
                log.lines().count()
            ),
            Some(first) => format!(
                "the daemon logged {} WARN/ERROR lines, the first: `{}`",
                bad.len(),
                first.trim()
            ),
        }
    }
}

/// A `GET` on loopback with a minimal HTTP/1.1 client: status and body.
fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of the HTTP head")?;
    let status = std::str::from_utf8(&answer[9..12])?.parse()?;
    Ok((status, answer[end + 4..].to_vec()))
}

/// Scheduler accounting of a process (all its threads).
#[derive(Debug, Default, Clone, Copy)]
struct Sched {
    on_cpu: Duration,
    waiting: Duration,
}

impl Sched {
    fn of_process(pid: u32) -> Sched {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return Sched::default();
        };
        tasks
            .filter_map(|t| {
                let stat = std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok()?;
                let mut f = stat.split_whitespace().map(|n| n.parse::<u64>().ok());
                Some((f.next()??, f.next()??))
            })
            .fold(Sched::default(), |s, (cpu, wait)| Sched {
                on_cpu: s.on_cpu + Duration::from_nanos(cpu),
                waiting: s.waiting + Duration::from_nanos(wait),
            })
    }
}

fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|c| c.parse().ok())
        .collect()
}

// --- wrk -----------------------------------------------------------------------------

/// One endpoint to load.
struct Run {
    name: &'static str,
    /// One path, or several that each wrk thread takes in turn.
    paths: Vec<String>,
    /// Requests/s the issue asks for (None: a baseline).
    target: Option<f64>,
}

fn runs(searches: &SearchPaths) -> Vec<Run> {
    vec![
        Run {
            name: "no requests (baseline: ingest alone)",
            paths: Vec::new(),
            target: None,
        },
        Run {
            name: "`GET /healthz` (baseline: the HTTP stack alone)",
            paths: vec!["/healthz".into()],
            target: None,
        },
        Run {
            name: "download a 10 KiB version",
            paths: vec![download_path()],
            target: Some(DOWNLOADS_PER_S),
        },
        Run {
            name: "search, one word (1,000 words of rank 200–2,000 in turn)",
            paths: searches.terms.clone(),
            target: Some(SEARCHES_PER_S),
        },
        Run {
            name: "search, two-word phrase (1,000 phrases in turn)",
            paths: searches.phrases.clone(),
            target: Some(SEARCHES_PER_S),
        },
    ]
}

/// What one run measured, with the machine around it.
struct Measured {
    name: &'static str,
    target: Option<f64>,
    wrk: Summary,
    daemon: Sched,
    wrk_cpu: Duration,
    /// Versions the daemon recorded during the run (the writer: 20 files/s).
    versions: u64,
    load_after: String,
    pressure_after: String,
}

/// A warm-up, then the measured wrk run (or, with no paths, the same time
/// with no requests).
fn measure(daemon: &Daemon, run: &Run, dir: &Path, opts: &Opts) -> Result<Measured> {
    let script = dir.join("bench.lua");
    std::fs::write(&script, lua_script(&run.paths))?;
    let url = run
        .paths
        .first()
        .map(|p| format!("http://{}{p}", daemon.addr));
    if let Some(url) = &url {
        eprintln!("bench: warming up {url}");
        wrk(&script, url, WARM_UP)?;
    }
    eprintln!("bench: {}", run.name);
    let sched_before = daemon.sched();
    let children_before = children_cpu();
    let versions_before = daemon.versions()?;
    let summary = match &url {
        Some(url) => wrk(&script, url, opts.duration)?,
        None => {
            std::thread::sleep(opts.duration);
            Summary::idle(opts.duration)
        }
    };
    let sched_after = daemon.sched();
    let versions = daemon.versions()? - versions_before;
    Ok(Measured {
        name: run.name,
        target: run.target,
        wrk: summary,
        daemon: Sched {
            on_cpu: sched_after.on_cpu - sched_before.on_cpu,
            waiting: sched_after.waiting - sched_before.waiting,
        },
        wrk_cpu: children_cpu() - children_before,
        versions,
        load_after: load_average(),
        pressure_after: cpu_pressure(),
    })
}

/// What wrk counted, from the script's `docvault-bench …` line.
struct Summary {
    requests: u64,
    duration: Duration,
    bytes: u64,
    p50: Duration,
    p99: Duration,
    /// Answers with a status of 400 and up.
    status_errors: u64,
    /// connect, read, write and timeout errors.
    socket_errors: u64,
}

impl Summary {
    fn idle(duration: Duration) -> Summary {
        Summary {
            requests: 0,
            duration,
            bytes: 0,
            p50: Duration::ZERO,
            p99: Duration::ZERO,
            status_errors: 0,
            socket_errors: 0,
        }
    }

    fn parse(out: &str) -> Result<Summary> {
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix("docvault-bench "))
            .context("no summary line from the wrk script")?;
        let n: Vec<u64> = line
            .split_whitespace()
            .map(|v| v.parse::<f64>().map(|f| f as u64))
            .collect::<Result<_, _>>()
            .with_context(|| format!("unreadable wrk summary {line:?}"))?;
        ensure!(n.len() == 10, "unreadable wrk summary {line:?}");
        Ok(Summary {
            requests: n[0],
            duration: Duration::from_micros(n[1]),
            bytes: n[2],
            socket_errors: n[3] + n[4] + n[5] + n[7],
            status_errors: n[6],
            p50: Duration::from_micros(n[8]),
            p99: Duration::from_micros(n[9]),
        })
    }
}

/// Runs wrk, passes its report on to stderr, and reads the script's summary.
fn wrk(script: &Path, url: &str, duration: Duration) -> Result<Summary> {
    let out = Command::new("wrk")
        .arg(format!("-t{WRK_THREADS}"))
        .arg(format!("-c{WRK_CONNECTIONS}"))
        .arg(format!("-d{}s", duration.as_secs()))
        .arg("--latency")
        .arg("-s")
        .arg(script)
        .arg(url)
        .output()
        .context("cannot run wrk")?;
    ensure!(
        out.status.success(),
        "wrk failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{report}");
    Summary::parse(&report)
}

/// A wrk script: cycles through `paths` (if several) and prints the exact
/// counts and percentiles (wrk keeps latencies in microseconds).
fn lua_script(paths: &[String]) -> String {
    let mut lua = String::new();
    if paths.len() > 1 {
        lua.push_str("local paths = {\n");
        for p in paths {
            lua.push_str(&format!("  \"{p}\",\n"));
        }
        lua.push_str(
            "}\nlocal i = 0\nrequest = function()\n  i = i % #paths + 1\n  \
             return wrk.format(\"GET\", paths[i])\nend\n",
        );
    }
    lua.push_str(
        "done = function(s, latency, requests)\n  \
         io.write(string.format(\"docvault-bench %d %d %d %d %d %d %d %d %d %d\\n\",\n    \
         s.requests, s.duration, s.bytes, s.errors.connect, s.errors.read,\n    \
         s.errors.write, s.errors.status, s.errors.timeout,\n    \
         latency:percentile(50), latency:percentile(99)))\nend\n",
    );
    lua
}

/// CPU (user + system) of the bench's waited-for children: the wrk runs.
fn children_cpu() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_CHILDREN).map_or(Duration::ZERO, |u| {
        let tv = |t: nix::sys::time::TimeVal| {
            Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
        };
        tv(u.user_time()) + tv(u.system_time())
    })
}

// --- the table ---------------------------------------------------------------------

#[derive(Default)]
struct Table {
    index: String,
    runs: Vec<Measured>,
    ingest: String,
    log: String,
}

impl Measured {
    fn per_s(&self) -> f64 {
        self.wrk.requests as f64 / self.wrk.duration.as_secs_f64()
    }

    fn errors(&self) -> u64 {
        self.wrk.status_errors + self.wrk.socket_errors
    }

    /// Whether the run met its targets, and which it missed.
    fn verdict(&self) -> String {
        let Some(target) = self.target else {
            return String::new();
        };
        let mut missed = Vec::new();
        if self.per_s() < target {
            missed.push("requests/s");
        }
        if self.wrk.p99 > P99 {
            missed.push("p99");
        }
        if self.errors() > 0 {
            missed.push("errors");
        }
        if missed.is_empty() {
            "yes".into()
        } else {
            format!("no ({})", missed.join(", "))
        }
    }

    /// The requests/s, latency, errors and bytes cells (dashes with no requests).
    fn http_cells(&self) -> String {
        let w = &self.wrk;
        if w.requests == 0 {
            return "– | – | – | –".into();
        }
        format!(
            "{} | {} / {} ms | {} ({} status, {} socket) | {} B",
            thousands(self.per_s() as usize),
            ms(w.p50),
            ms(w.p99),
            self.errors(),
            w.status_errors,
            w.socket_errors,
            thousands((w.bytes / w.requests) as usize),
        )
    }

    fn row(&self) -> String {
        let seconds = self.wrk.duration.as_secs_f64();
        let share = |d: Duration| format!("{:.0} %", 100.0 * d.as_secs_f64() / seconds);
        let target = self.target.map_or(String::new(), |t| {
            format!(
                "≥ {} /s, p99 ≤ {} ms, 0 errors",
                thousands(t as usize),
                P99.as_millis()
            )
        });
        let per_request = match self.wrk.requests {
            0 => "–".into(),
            n => format!("{} µs", (self.daemon.on_cpu / n as u32).as_micros()),
        };
        format!(
            "| {} | {} | {} + wait {} | {per_request} | {} | {:.1} /s | {} | {target} | {} |",
            self.name,
            self.http_cells(),
            share(self.daemon.on_cpu),
            share(self.daemon.waiting),
            share(self.wrk_cpu),
            self.versions as f64 / seconds,
            self.load_after,
            self.verdict()
        )
    }

    fn pressure(&self) -> String {
        format!("{}: {}", self.name, self.pressure_after)
    }
}

impl Table {
    fn render(&self, opts: &Opts) -> String {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let mut out = format!(
            "### docvault HTTP API benchmark ({} run)\n\n\
             {} CPUs, {cpu}; `wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{}s --latency` on \
             loopback after a {} s warm-up, against the release binary with \
             DOCVAULT_LOG={}; {}; searches ask for {PAGE} hits with snippets. \
             CPU columns are shares of one CPU over the run: the daemon with its \
             extraction workers on a CPU, + the time its threads were runnable but \
             waiting for a CPU (summed over threads: 300 % = three threads waiting \
             on average); CPU per request includes ingest's share (the first row); \
             versions recorded is the ingest rate during the run \
             (the writer makes 20 files/s); load is /proc/loadavg after the run.\n\n",
            if opts.quick { "--quick" } else { "full" },
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            opts.duration.as_secs(),
            WARM_UP.as_secs(),
            std::env::var("DOCVAULT_LOG").unwrap_or_else(|_| "unset (info)".into()),
            self.index,
        );
        out.push_str(
            "| endpoint | requests/s | p50 / p99 | errors | bytes per answer | daemon CPU | daemon CPU per request | wrk CPU | versions recorded | load after | target | met |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |\n",
        );
        for run in &self.runs {
            out.push_str(&run.row());
            out.push('\n');
        }
        out.push_str(&format!(
            "\nIngest during the runs: {}. {}.\n\nCPU pressure (`/proc/pressure/cpu` some avg10/60/300) after each run: {}.\n",
            self.ingest,
            self.log,
            self.runs
                .iter()
                .map(Measured::pressure)
                .collect::<Vec<_>>()
                .join("; ")
        ));
        out
    }
}
