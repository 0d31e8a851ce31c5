//! The ingest benchmark: how fast docvault versions a share, against plain git.
//!
//! Three phases, each on its own temp folder (removed when the phase ends):
//!
//! - (a) start-up import: the real `docvault serve` on a fresh share of mixed
//!   2–50 KiB files, timed from spawn until `/readyz` answers 200, with its
//!   peak RSS; baseline `git add -A && git commit` of a copy of the tree.
//! - (b) steady state, in process: after a bulk import through
//!   [`Ingest::ingest`], 500 files are rewritten one by one at 50/s and each
//!   `ingest` call (read + archive commit with its audit event + both
//!   `syncfs`; no text extraction or search index) is timed, i.e. the
//!   latency from "settled" to "durably committed"; baseline the gitwatch
//!   method, `git add -A && git commit` after each change.
//! - (c) one 2 GiB file through the real daemon: time and peak RSS.
//!
//! Run with `cargo bench --bench ingest [-- --quick] [-- --only a|b|c]`.
//! Progress goes to stderr; the markdown table (and the machine) to stdout.
//! With `DV_TRACE=1`, phase (b) also prints each change's latency to stderr
//! (`LAT change unix-seconds ms`) and the writer's pack merges (when each
//! ended, how long it took), to tell which slow changes met a merge.
//! All content comes from a seeded generator, so every run writes the same bytes.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use docvault::archive::Archive;
use docvault::catalog::FileStat;
use docvault::config::Config;
use docvault::ingest::{Ingest, Progress};
use docvault::watch::{Settled, WatchMsg, nfc};

// Phase (b) runs ingest in this process: with the daemon's allocator, as
// `docvault serve` has it, not the system's.
docvault::use_allocator!();

/// The share every phase uses.
const SHARE: &str = "bench";
/// Files per leaf folder of a generated tree.
const PER_FOLDER: usize = 20;
const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;
/// Phase (c) is skipped below this much free space in the temp dir.
const BIG_FILE_FREE_SPACE: u64 = 8 * GIB;
/// How long the daemon may take to become ready before the run fails.
const READY_DEADLINE: Duration = Duration::from_secs(30 * 60);

fn main() -> ExitCode {
    if std::env::var_os("DV_TRACE").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter("docvault::packs=debug")
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init();
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let opts = Opts::parse(std::env::args().skip(1))?;
    let mut machine = Machine::describe(&std::env::temp_dir());
    eprintln!("bench: {}", machine.line(&opts));
    let mut table = Table::default();
    let phases: [(char, &str, Phase); 3] = [
        ('a', "phase (a), start-up import", phase_a),
        ('b', "phase (b), steady state", phase_b),
        ('c', "phase (c), a 2 GiB file", phase_c),
    ];
    let mut outcome = Ok(());
    for (name, what, phase) in phases {
        if opts.runs(name) && outcome.is_ok() {
            outcome = phase(&opts, &mut table).context(what);
        }
    }
    machine.load_after = load_average();
    // What was measured is printed even when a later phase failed.
    println!("{}", table.render(&machine, &opts));
    outcome
}

type Phase = fn(&Opts, &mut Table) -> Result<()>;

// --- command line --------------------------------------------------------------

/// The bench's flags: `--quick` and `--only a|b|c`.
struct Opts {
    quick: bool,
    only: Option<char>,
}

impl Opts {
    fn parse(args: impl Iterator<Item = String>) -> Result<Opts> {
        let mut opts = Opts {
            quick: false,
            only: None,
        };
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                // `cargo bench` passes `--bench` to harness-less benches.
                "--bench" => {}
                "--quick" => opts.quick = true,
                "--only" => opts.only = Some(phase_name(args.next().as_deref())?),
                other if other.starts_with("--only=") => {
                    opts.only = Some(phase_name(Some(&other["--only=".len()..]))?)
                }
                other => bail!("unknown argument {other:?}; expected --quick or --only a|b|c"),
            }
        }
        Ok(opts)
    }

    fn runs(&self, phase: char) -> bool {
        self.only.is_none_or(|p| p == phase) && !(phase == 'c' && self.quick && self.only.is_none())
    }

    fn files(&self) -> usize {
        if self.quick { 1_000 } else { 10_000 }
    }

    fn changes(&self) -> usize {
        if self.quick { 100 } else { 500 }
    }
}

fn phase_name(arg: Option<&str>) -> Result<char> {
    match arg {
        Some("a") => Ok('a'),
        Some("b") => Ok('b'),
        Some("c") => Ok('c'),
        other => bail!("--only takes a, b or c, got {other:?}"),
    }
}

// --- (a) start-up import -------------------------------------------------------

fn phase_a(opts: &Opts, table: &mut Table) -> Result<()> {
    let dir = temp_dir("docvault-bench-a-")?;
    let share = dir.path().join("share");
    let n = opts.files();
    eprintln!("(a) generating {n} files");
    let tree = generate_tree(&share, n, 0xA11CE)?;
    let generated = Instant::now();
    let copy = dir.path().join("git");
    copy_tree(&share, &copy)?;
    flush_disks();
    wait_past_settle(generated);

    eprintln!("(a) starting the daemon on {n} files");
    let daemon = run_daemon(dir.path(), &share, n as u64, "")?;
    let archived = count_archived(&dir.path().join("data/archive.git"))?;
    ensure!(archived == n, "the archive holds {archived} files, not {n}");
    eprintln!("(a) docvault ready after {}", secs(daemon.ready));

    flush_disks();
    eprintln!("(a) git CLI: add -A + commit of a copy");
    let git = git_import(&copy)?;
    eprintln!("(a) git done in {}", secs(git.time));

    let phase = format!(
        "(a) start-up import, {} files in {} folders ({})",
        thousands(n as u64),
        n.div_ceil(PER_FOLDER),
        mb(tree.bytes)
    );
    let rate = n as f64 / daemon.versioned.as_secs_f64();
    let git_rate = n as f64 / git.time.as_secs_f64();
    table.row(Row {
        phase: phase.clone(),
        measure: "import rate (spawn → every file's version committed, from `/readyz` progress)"
            .into(),
        docvault: format!(
            "{} files/s ({})",
            thousands(rate as u64),
            secs(daemon.versioned)
        ),
        baseline: format!(
            "git add -A + commit: {} files/s ({})",
            thousands(git_rate as u64),
            secs(git.time)
        ),
        ratio: format!("{:.2}× git", rate / git_rate),
        target: "≥ 5,000 files/s and ≥ git".into(),
        met: Some(rate >= 5_000.0 && rate >= git_rate),
    });
    table.row(Row {
        phase: phase.clone(),
        measure: "spawn → `/readyz` 200 (versioned, text extracted, indexed)".into(),
        docvault: format!(
            "{} ({} files/s)",
            secs(daemon.ready),
            thousands((n as f64 / daemon.ready.as_secs_f64()) as u64)
        ),
        ..Row::info(&phase)
    });
    table.row(Row {
        phase: phase.clone(),
        measure: "peak RSS".into(),
        docvault: daemon.rss(),
        baseline: format!("git: {} (VmHWM, sampled)", mb(git.peak_rss)),
        ratio: String::new(),
        target: "≤ 100 MB".into(),
        met: Some(daemon.peak_rss <= 100 * 1_000_000),
    });
    table.row(Row {
        phase: phase.clone(),
        measure: "daemon CPU time (user + sys), time waiting for a CPU".into(),
        docvault: daemon.cpu(),
        ..Row::info(&phase)
    });
    table.row(stored_row(&phase, tree.bytes, daemon.stored, git.stored));
    Ok(())
}

fn stored_row(phase: &str, tree: u64, stored: u64, git_stored: u64) -> Row {
    Row {
        measure: "stored size (blobs at zlib level 1 both; docvault stores trees until a merge)"
            .into(),
        docvault: format!(
            "{} ({:.0}% of the files)",
            mb(stored),
            percent(stored, tree)
        ),
        baseline: format!("{} ({:.0}%)", mb(git_stored), percent(git_stored, tree)),
        ..Row::info(phase)
    }
}

// --- (b) steady state ------------------------------------------------------------

fn phase_b(opts: &Opts, table: &mut Table) -> Result<()> {
    let dir = temp_dir("docvault-bench-b-")?;
    let share = dir.path().join("share");
    let (n, changes) = (opts.files(), opts.changes());
    eprintln!("(b) generating {n} files");
    let tree = generate_tree(&share, n, 0xB0B)?;
    let plan = ChangePlan::new(&tree.files, changes);

    let worktree = dir.path().join("gitwatch");
    copy_tree(&share, &worktree)?;
    quiet_fs(opts);

    eprintln!("(b) importing {n} files in-process");
    let mut steady = SteadyIngest::import(dir.path(), &share, &tree.files)?;
    eprintln!(
        "(b) in-process import of {n} files: {}; load_catalog: {}",
        secs(steady.import),
        ms(steady.load_catalog)
    );
    eprintln!("(b) {changes} changes at 50/s through Ingest::ingest");
    let docvault = steady.changes(&share, &plan)?;
    drop(steady);
    let floor = sync_floor(&share, &plan.again())?;

    git_baseline_repo(&worktree)?;
    quiet_fs(opts);
    eprintln!("(b) gitwatch baseline: {changes} × (git add -A && git commit)");
    let gitwatch = gitwatch_changes(&worktree, &plan, &[])?;
    flush_disks();
    let durable = [
        "-c",
        "core.fsync=committed,index",
        "-c",
        "core.fsyncMethod=fsync",
    ];
    eprintln!("(b) gitwatch baseline with core.fsync=committed,index");
    let gitwatch_durable = gitwatch_changes(&worktree, &plan.again(), &durable)?;

    let phase = format!(
        "(b) steady state, {changes} changes at 50/s in a {}-file share",
        thousands(n as u64)
    );
    b_rows(table, &phase, &docvault, &gitwatch, &gitwatch_durable);
    table.row(Row {
        measure: "the file system's floor: rewrite a file, then 2 × `syncfs` (no git), p50 / p99"
            .into(),
        docvault: format!("{} / {}", ms(pct(&floor, 0.5)), ms(pct(&floor, 0.99))),
        ..Row::info(&phase)
    });
    table.row(Row {
        measure: "in-process bulk import (`Ingest::ingest`, 1,000 per commit)".into(),
        docvault: format!(
            "{} files/s ({}: {}); then `load_catalog` {}",
            thousands((n as f64 / docvault.import.as_secs_f64()) as u64),
            secs(docvault.import),
            docvault.import_sched.split(docvault.import, secs),
            ms(docvault.load_catalog)
        ),
        ..Row::info(&phase)
    });
    Ok(())
}

fn b_rows(
    table: &mut Table,
    phase: &str,
    run: &SteadyRun,
    git: &[Duration],
    git_sync: &[Duration],
) {
    let lat = &run.latencies;
    let (p50, p99, max) = (pct(lat, 0.50), pct(lat, 0.99), pct(lat, 1.0));
    let (g50, g99, gmax) = (pct(git, 0.50), pct(git, 0.99), pct(git, 1.0));
    let speedup =
        |g: Duration, d: Duration| format!("{:.0}× faster", g.as_secs_f64() / d.as_secs_f64());
    let line = |measure: &str, d: Duration, g: Duration, target: &str, met: Option<bool>| Row {
        phase: phase.into(),
        measure: format!("settled → committed, {measure}"),
        docvault: ms(d),
        baseline: format!("gitwatch: {}", ms(g)),
        ratio: speedup(g, d),
        target: target.into(),
        met,
    };
    table.row(line(
        "p50",
        p50,
        g50,
        "≥ 20× faster than gitwatch",
        Some(g50 >= p50 * 20),
    ));
    table.row(line(
        "p99",
        p99,
        g99,
        "≤ 5 ms",
        Some(p99 <= Duration::from_millis(5)),
    ));
    table.row(line("max", max, gmax, "", None));
    let count = lat.len().max(1) as u32;
    let mean = lat.iter().sum::<Duration>() / count;
    table.row(Row {
        measure: "where a change's time goes (mean over the changes)".into(),
        docvault: format!("{}: {}", ms(mean), (run.sched / count).split(mean, ms)),
        ..Row::info(phase)
    });
    let (s50, s99) = (pct(git_sync, 0.50), pct(git_sync, 0.99));
    table.row(Row {
        measure: "settled → committed, p50 / p99, vs a durable gitwatch".into(),
        docvault: format!("{} / {}", ms(p50), ms(p99)),
        baseline: format!(
            "gitwatch + core.fsync=committed,index: {} / {}",
            ms(s50),
            ms(s99)
        ),
        ratio: speedup(s50, p50),
        ..Row::info(phase)
    });
}

/// Which file each change rewrites, and the seed of its new content.
#[derive(Clone)]
struct ChangePlan {
    changes: Vec<(String, u64)>,
}

impl ChangePlan {
    /// `count` distinct files (as long as `count` ≤ the file count), spread over the tree.
    fn new(files: &[String], count: usize) -> ChangePlan {
        let changes = (0..count)
            .map(|j| {
                let file = files[(j * 7_919 + 13) % files.len()].clone();
                (file, 0xC4A2_6E00 + j as u64)
            })
            .collect();
        ChangePlan { changes }
    }

    /// The same files with other content, for a second pass over the same tree.
    fn again(&self) -> ChangePlan {
        let changes = self
            .changes
            .iter()
            .map(|(f, seed)| (f.clone(), seed ^ 0x5EED_0000_0000))
            .collect();
        ChangePlan { changes }
    }

    /// Rewrites the file of change `j` in `root` (in place, like an office save).
    fn apply(&self, root: &Path, j: usize) -> Result<&str> {
        let (rel, seed) = &self.changes[j];
        let kind = Kind::of(rel);
        let mut rng = Rng(*seed);
        let size = file_size(&mut rng);
        let path = root.join(rel);
        std::fs::write(&path, kind.content(&mut rng, size))
            .with_context(|| format!("cannot rewrite {}", path.display()))?;
        Ok(rel)
    }
}

/// The writer of phase (b), set up like the daemon's after a bulk import.
struct SteadyIngest {
    ingest: Ingest,
    progress: Arc<Progress>,
    import: Duration,
    import_sched: Sched,
    load_catalog: Duration,
    /// Requeues from ingest; kept open so ingest can send, and checked empty.
    requeued: mpsc::Receiver<WatchMsg>,
}

/// What phase (b) measured on docvault.
struct SteadyRun {
    import: Duration,
    import_sched: Sched,
    load_catalog: Duration,
    latencies: Vec<Duration>,
    /// The ingesting thread's time on a CPU and waiting for one, summed over the changes.
    sched: Sched,
}

impl SteadyIngest {
    /// Imports every file through `Ingest::ingest`, then reopens the archive
    /// and rebuilds the catalog from it, as a restarted daemon would.
    fn import(dir: &Path, share: &Path, files: &[String]) -> Result<SteadyIngest> {
        let config_path = dir.join("docvault.toml");
        let text = daemon_config(dir, share, "");
        std::fs::write(&config_path, &text)?;
        let config = Config::from_toml(&text, &config_path)?;
        let archive_path = config.data_dir.join("archive.git");
        let (ingest, progress, requeued) = writer(&config, &archive_path)?;
        let mut steady = SteadyIngest {
            ingest,
            progress,
            import: Duration::ZERO,
            import_sched: Sched::default(),
            load_catalog: Duration::ZERO,
            requeued,
        };
        let batch = files
            .iter()
            .map(|rel| settled(share, rel))
            .collect::<Result<Vec<_>>>()?;
        let (sched_before, started) = (Sched::this_thread(), Instant::now());
        steady.ingest.ingest(batch);
        steady.import = started.elapsed();
        steady.import_sched = Sched::this_thread() - sched_before;
        steady.expect_versions(files.len() as u64)?;

        let started = Instant::now();
        let (ingest, progress, requeued) = writer(&config, &archive_path)?;
        steady.load_catalog = started.elapsed();
        steady.ingest = ingest;
        steady.progress = progress;
        steady.requeued = requeued;
        Ok(steady)
    }

    /// Applies the plan at 50 changes/s, timing each `ingest` call.
    fn changes(&mut self, share: &Path, plan: &ChangePlan) -> Result<SteadyRun> {
        let slot = Duration::from_millis(20);
        let start = Instant::now();
        let mut latencies = Vec::with_capacity(plan.changes.len());
        let mut sched = Sched::default();
        for j in 0..plan.changes.len() {
            sleep_until(start + slot * j as u32);
            let rel = plan.apply(share, j)?;
            let item = settled(share, rel)?;
            let (sched_before, started) = (Sched::this_thread(), Instant::now());
            self.ingest.ingest(vec![item]);
            latencies.push(started.elapsed());
            if std::env::var_os("DV_TRACE").is_some() {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap();
                eprintln!(
                    "LAT {j} {:.6} {:.3}",
                    now.as_secs_f64(),
                    started.elapsed().as_secs_f64() * 1e3
                );
            }
            sched = sched + (Sched::this_thread() - sched_before);
            self.expect_versions(j as u64 + 1)?;
        }
        Ok(SteadyRun {
            import: self.import,
            import_sched: self.import_sched,
            load_catalog: self.load_catalog,
            latencies,
            sched,
        })
    }

    fn expect_versions(&self, want: u64) -> Result<()> {
        let got = self.progress.versions.load(Ordering::SeqCst);
        let requeued = self.requeued.try_recv().ok();
        ensure!(
            got == want && requeued.is_none(),
            "ingest committed {got} versions, expected {want} (requeued: {requeued:?}, \
             unreadable: {})",
            self.progress.unreadable.load(Ordering::SeqCst)
        );
        Ok(())
    }
}

type Writer = (Ingest, Arc<Progress>, mpsc::Receiver<WatchMsg>);

/// Opens the archive, rebuilds its catalog and makes the one writer over it.
fn writer(config: &Config, archive_path: &Path) -> Result<Writer> {
    let archive = Archive::open_or_init(archive_path)?;
    archive.ensure_branch(SHARE)?;
    let catalog = archive.load_catalog([SHARE])?;
    let progress = Arc::new(Progress::default());
    let (tx, rx) = mpsc::channel();
    let catalog = Arc::new(RwLock::new(catalog));
    // With the audit log, as the daemon has it: each version's event goes
    // in the version's commit.
    let audit = docvault::audit::AuditLog::load(&archive)?;
    let ingest = Ingest::new(config, archive, catalog, progress.clone(), tx).with_audit(audit);
    Ok((ingest, progress, rx))
}

/// The settled item the watch stage would hand over for `rel`.
fn settled(share: &Path, rel: &str) -> Result<Settled> {
    let path = share.join(rel);
    let stat = FileStat::of(&path)
        .with_context(|| format!("cannot stat {}", path.display()))?
        .with_context(|| format!("{} is gone", path.display()))?;
    Ok(Settled {
        share: 0,
        rel: rel.to_owned(),
        key: nfc(rel),
        stat: Some(stat),
        renamed_from: None,
    })
}

/// What ingest's two `syncfs` cost on their own: the same rewrites at the
/// same pace, each followed by two `syncfs` on the share's file system.
fn sync_floor(share: &Path, plan: &ChangePlan) -> Result<Vec<Duration>> {
    let fs = std::fs::File::open(share)?;
    let slot = Duration::from_millis(20);
    let start = Instant::now();
    let mut times = Vec::with_capacity(plan.changes.len());
    for j in 0..plan.changes.len() {
        sleep_until(start + slot * j as u32);
        plan.apply(share, j)?;
        let started = Instant::now();
        nix::unistd::syncfs(&fs)?;
        nix::unistd::syncfs(&fs)?;
        times.push(started.elapsed());
    }
    Ok(times)
}

/// Makes the gitwatch worktree a repository with everything committed and packed.
fn git_baseline_repo(worktree: &Path) -> Result<()> {
    let started = Instant::now();
    git_run(worktree, &["init", "-q"])?;
    git_run(worktree, &["add", "-A"])?;
    git_run(worktree, &["commit", "-q", "-m", "import"])?;
    // Packed, as a long-lived gitwatch repository is; without the delta
    // search, which would take minutes on 10,000 mostly incompressible files
    // and changes nothing that `add` and `commit` do.
    git_run(worktree, &["repack", "-a", "-d", "-q", "--window=0"])?;
    eprintln!(
        "(b) gitwatch repo: initial commit + repack in {}",
        secs(started.elapsed())
    );
    Ok(())
}

/// The gitwatch method: after each change, `git add -A && git commit`, timed.
fn gitwatch_changes(worktree: &Path, plan: &ChangePlan, config: &[&str]) -> Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(plan.changes.len());
    for j in 0..plan.changes.len() {
        plan.apply(worktree, j)?;
        let started = Instant::now();
        git_run(worktree, &[config, &["add", "-A"]].concat())?;
        git_run(
            worktree,
            &[config, &["commit", "-q", "-m", "change"]].concat(),
        )?;
        times.push(started.elapsed());
    }
    Ok(times)
}

// --- (c) a 2 GiB file ------------------------------------------------------------

fn phase_c(_opts: &Opts, table: &mut Table) -> Result<()> {
    let phase = "(c) one 2 GiB file".to_owned();
    let tmp = std::env::temp_dir();
    let free = free_space(&tmp)?;
    if free < BIG_FILE_FREE_SPACE {
        let reason = format!(
            "skipped: {} free in {}, needs {}",
            gb(free),
            tmp.display(),
            gb(BIG_FILE_FREE_SPACE)
        );
        eprintln!("(c) {reason}");
        table.row(Row {
            measure: reason,
            ..Row::info(&phase)
        });
        return Ok(());
    }
    let dir = temp_dir("docvault-bench-c-")?;
    let share = dir.path().join("share");
    std::fs::create_dir_all(&share)?;
    let file = share.join("site-survey.bin");
    eprintln!("(c) writing {} ({} free)", file.display(), gb(free));
    write_big_file(&file, 2 * GIB)?;
    let written = Instant::now();
    flush_disks();
    wait_past_settle(written);

    eprintln!("(c) starting the daemon on one 2 GiB file");
    let daemon = run_daemon(dir.path(), &share, 1, "max_file_size = \"4GiB\"\n")?;
    ensure!(
        count_archived(&dir.path().join("data/archive.git"))? == 1,
        "the 2 GiB file is not in the archive"
    );
    eprintln!("(c) docvault ready after {}", secs(daemon.ready));

    let copy = dir.path().join("git");
    std::fs::create_dir_all(&copy)?;
    std::fs::hard_link(&file, copy.join("site-survey.bin"))?;
    flush_disks();
    eprintln!("(c) git CLI: add + commit of the same file (hard link)");
    let git = git_import(&copy)?;
    eprintln!("(c) git done in {}", secs(git.time));

    let rate = (2 * GIB) as f64 / MIB as f64 / daemon.ready.as_secs_f64();
    let git_rate = (2 * GIB) as f64 / MIB as f64 / git.time.as_secs_f64();
    table.row(Row {
        phase: phase.clone(),
        measure: "time (spawn → `/readyz` 200)".into(),
        docvault: format!("{} ({rate:.0} MiB/s)", secs(daemon.ready)),
        baseline: format!("git add + commit: {} ({git_rate:.0} MiB/s)", secs(git.time)),
        ratio: format!("{:.2}× git", rate / git_rate),
        target: String::new(),
        met: None,
    });
    table.row(Row {
        phase: phase.clone(),
        measure: "peak RSS".into(),
        docvault: daemon.rss(),
        baseline: format!("git: {} (VmHWM, sampled)", mb(git.peak_rss)),
        ratio: String::new(),
        target: "≤ 100 MB".into(),
        met: Some(daemon.peak_rss <= 100 * 1_000_000),
    });
    table.row(Row {
        measure: "daemon CPU time (user + sys), time waiting for a CPU".into(),
        docvault: daemon.cpu(),
        ..Row::info(&phase)
    });
    let mut stored = stored_row(&phase, 2 * GIB, daemon.stored, git.stored);
    stored.measure = "stored size: how compressible the file is".into();
    table.row(stored);
    Ok(())
}

/// Writes `size` bytes in 1 MiB chunks: one mixed 1 MiB buffer, stamped with
/// the chunk number every 4 KiB so no two chunks are equal (zlib's 32 KiB
/// window could not see the repetition anyway).
fn write_big_file(path: &Path, size: u64) -> Result<()> {
    let mut rng = Rng(0xB16_F11E);
    let mut chunk = Vec::with_capacity(MIB as usize);
    for (i, kind) in [Kind::Text, Kind::Packed, Kind::Structured, Kind::Text]
        .iter()
        .cycle()
        .take(16)
        .enumerate()
    {
        let mut part = kind.content(&mut rng, (64 * KIB) as usize);
        part[..8].copy_from_slice(&(i as u64).to_le_bytes());
        chunk.extend_from_slice(&part);
    }
    let mut out = std::io::BufWriter::with_capacity(
        MIB as usize,
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
    );
    for n in 0..size / MIB {
        for (k, block) in chunk.chunks_mut(4 * KIB as usize).enumerate() {
            block[..8].copy_from_slice(&(n << 16 | k as u64).to_le_bytes());
        }
        out.write_all(&chunk)?;
    }
    out.flush()?;
    Ok(())
}

// --- the daemon ------------------------------------------------------------------

/// What one start-up of the real daemon measured.
struct DaemonRun {
    /// Spawn until `/readyz` first reported every file's version committed.
    versioned: Duration,
    /// Spawn until `/readyz` answered 200 (versioned, extracted, indexed).
    ready: Duration,
    peak_rss: u64,
    /// Sampled: the peak of anonymous memory, and the split of the
    /// largest resident sample into anonymous and file-backed memory.
    memory: MemorySplit,
    cpu_user: Duration,
    cpu_sys: Duration,
    /// Time its (live) threads spent runnable but waiting for a CPU.
    cpu_wait: Duration,
    /// The daemon's child processes (extraction workers) alive at ready, and
    /// the sum of their peak RSS.
    children: usize,
    children_peak_rss: u64,
    /// Bytes of the archive after it became ready.
    stored: u64,
}

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

fn daemon_config(dir: &Path, share: &Path, watch: &str) -> String {
    format!(
        "data_dir = '{data}'\n\n[server]\nlisten = \"127.0.0.1:0\"\n\n\
         [watch]\nsettle = \"1s\"\n{watch}\n\
         [[shares]]\nname = \"{SHARE}\"\npath = '{share}'\n",
        data = dir.join("data").display(),
        share = share.display(),
    )
}

/// Starts the daemon, waits for `/readyz`, and reads its peak RSS while it still runs.
fn run_daemon(dir: &Path, share: &Path, files: u64, watch: &str) -> Result<DaemonRun> {
    let config = dir.join("docvault.toml");
    std::fs::write(&config, daemon_config(dir, share, watch))?;
    let started = Instant::now();
    let daemon = Daemon::spawn(&config, &dir.join("daemon.log"))?;
    let pid = daemon.child.id();
    let sampler = MemorySampler::start(pid);
    let versioned = daemon.wait_ready(started, files)?;
    let ready = started.elapsed();
    let memory = sampler.stop();
    let peak_rss = proc_status_kb(pid, "VmHWM").context("cannot read the daemon's VmHWM")? * 1024;
    let (cpu_user, cpu_sys) = proc_cpu(pid).context("cannot read the daemon's CPU time")?;
    let cpu_wait = Sched::of_process(pid).waiting;
    let children = children_of(pid);
    let children_peak_rss = children
        .iter()
        .filter_map(|&c| proc_status_kb(c, "VmHWM"))
        .sum::<u64>()
        * 1024;
    drop(daemon);
    Ok(DaemonRun {
        versioned,
        ready,
        peak_rss,
        memory,
        cpu_user,
        cpu_sys,
        cpu_wait,
        children: children.len(),
        children_peak_rss,
        stored: dir_bytes(&dir.join("data/archive.git")),
    })
}

impl DaemonRun {
    fn cpu(&self) -> String {
        format!(
            "{} + {} of {} wall; waited {} for a CPU",
            secs(self.cpu_user),
            secs(self.cpu_sys),
            secs(self.ready),
            secs(self.cpu_wait)
        )
    }

    /// The daemon's peak RSS, and its workers' if it had any at ready.
    fn rss(&self) -> String {
        let m = &self.memory;
        let main = format!(
            "{} (VmHWM); sampled every 5 ms: anonymous memory peaked at {}, \
             the largest sample ({}) was {} anonymous + {} mapped files \
             (search index, packs, the binary)",
            mb(self.peak_rss),
            mb(m.peak_anon),
            mb(m.at_peak_anon + m.at_peak_file),
            mb(m.at_peak_anon),
            mb(m.at_peak_file)
        );
        match self.children {
            0 => main,
            n => format!(
                "{main}; + {n} extraction worker process(es): {} together",
                mb(self.children_peak_rss)
            ),
        }
    }
}

impl Daemon {
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

    /// Polls `/readyz` every 10 ms until it answers 200; returns when its
    /// progress first counted `versions` versions committed (or the ready
    /// time, if it never showed that while starting).
    fn wait_ready(&self, started: Instant, versions: u64) -> Result<Duration> {
        let mut next_note = Instant::now() + Duration::from_secs(10);
        let mut versioned = None;
        loop {
            match http_get(self.addr, "/readyz") {
                Ok((200, _)) => return Ok(versioned.unwrap_or_else(|| started.elapsed())),
                Ok((_, body)) if versioned.is_none() => {
                    let progress: serde_json::Value =
                        serde_json::from_slice(&body).unwrap_or_default();
                    let committed = progress["progress"]["versions_committed"].as_u64();
                    if committed.is_some_and(|c| c >= versions) {
                        versioned = Some(started.elapsed());
                    }
                }
                _ => {}
            }
            let running = proc_status_kb(self.child.id(), "VmRSS").is_some();
            ensure!(
                running,
                "the daemon exited before it was ready{}",
                self.log_tail()
            );
            ensure!(
                started.elapsed() < READY_DEADLINE,
                "the daemon was not ready after {}{}",
                secs(READY_DEADLINE),
                self.log_tail()
            );
            if Instant::now() >= next_note {
                eprintln!("    … not ready yet after {}", secs(started.elapsed()));
                next_note += Duration::from_secs(10);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("; daemon log ({}):\n{tail}", self.log.display())
    }
}

/// The status code and body of a `GET` on loopback (the body read to the
/// end: the request says `Connection: close`).
fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let status = answer
        .get(9..12)
        .and_then(|code| std::str::from_utf8(code).ok())
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP status line"))?;
    let body = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(Vec::new(), |at| answer[at + 4..].to_vec());
    Ok((status, body))
}

/// The number of files on the share's branch of the archive.
fn count_archived(archive: &Path) -> Result<usize> {
    let repo = git2::Repository::open_bare(archive)?;
    let tree = repo
        .find_reference(&format!("refs/heads/{SHARE}"))?
        .peel_to_tree()?;
    let mut files = 0;
    tree.walk(git2::TreeWalkMode::PreOrder, |_, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob) {
            files += 1;
        }
        git2::TreeWalkResult::Ok
    })?;
    Ok(files)
}

// --- the git CLI -----------------------------------------------------------------

/// What one `git add -A && git commit` import measured.
struct GitImport {
    time: Duration,
    peak_rss: u64,
    stored: u64,
}

/// `git init`, then timed `git add -A && git commit` of everything in `dir`.
fn git_import(dir: &Path) -> Result<GitImport> {
    git_run(dir, &["init", "-q"])?;
    let started = Instant::now();
    let add = git_sampled(dir, &["add", "-A"])?;
    let commit = git_sampled(dir, &["commit", "-q", "-m", "import"])?;
    let time = started.elapsed();
    Ok(GitImport {
        time,
        peak_rss: add.max(commit),
        stored: dir_bytes(&dir.join(".git/objects")),
    })
}

/// git with no user or system config, a fixed identity and no automatic gc
/// (a detached `gc --auto` would run on into the next measurement).
fn git(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .args(["-c", "gc.auto=0"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@localhost")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@localhost")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    cmd
}

fn git_run(dir: &Path, args: &[&str]) -> Result<()> {
    let status = git(dir, args)
        .status()
        .with_context(|| format!("cannot run git {}", args.join(" ")))?;
    ensure!(status.success(), "git {} failed: {status}", args.join(" "));
    Ok(())
}

/// Runs git while a thread samples its VmHWM every 5 ms; returns the peak in bytes.
fn git_sampled(dir: &Path, args: &[&str]) -> Result<u64> {
    let mut child = git(dir, args)
        .spawn()
        .with_context(|| format!("cannot run git {}", args.join(" ")))?;
    let (pid, done, peak) = (
        child.id(),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                if let Some(kb) = proc_status_kb(pid, "VmHWM") {
                    peak.fetch_max(kb * 1024, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let status = child.wait()?;
    done.store(true, Ordering::SeqCst);
    let _ = sampler.join();
    ensure!(status.success(), "git {} failed: {status}", args.join(" "));
    Ok(peak.load(Ordering::SeqCst))
}

// --- generated trees -------------------------------------------------------------

/// A generated share: its files (share-relative) and their total size.
struct Tree {
    files: Vec<String>,
    bytes: u64,
}

/// Writes `n` files of 2–50 KiB, `PER_FOLDER` to a folder, three folder levels deep.
fn generate_tree(root: &Path, n: usize, seed: u64) -> Result<Tree> {
    let mut rng = Rng(seed);
    let mut tree = Tree {
        files: Vec::with_capacity(n),
        bytes: 0,
    };
    for i in 0..n {
        let (rel, kind) = file_name(&mut rng, i);
        let path = root.join(&rel);
        if i % PER_FOLDER == 0 {
            std::fs::create_dir_all(path.parent().expect("a file has a folder"))?;
        }
        let size = file_size(&mut rng);
        std::fs::write(&path, kind.content(&mut rng, size))
            .with_context(|| format!("cannot write {}", path.display()))?;
        tree.bytes += size as u64;
        tree.files.push(rel);
    }
    Ok(tree)
}

/// The name of the `i`th file: `pNN/sNN/fNN/<stem>-NNNNN.<ext>`.
fn file_name(rng: &mut Rng, i: usize) -> (String, Kind) {
    const STEMS: [&str; 8] = [
        "Angebot",
        "Protokoll",
        "Prüfbericht",
        "Zeichnung",
        "Rechnung",
        "Übergabe",
        "report",
        "site plan",
    ];
    let folder = i / PER_FOLDER;
    let (ext, kind) = Kind::pick(rng);
    let stem = STEMS[rng.below(STEMS.len() as u64) as usize];
    let rel = format!(
        "p{:02}/s{:02}/f{:02}/{stem}-{i:05}.{ext}",
        folder / 64,
        folder / 8 % 8,
        folder % 8
    );
    (rel, kind)
}

fn file_size(rng: &mut Rng) -> usize {
    (2 * KIB + rng.below(48 * KIB + 1)) as usize
}

/// What a file's bytes look like, which decides how well it compresses.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Words, numbers and punctuation: compresses about 3×.
    Text,
    /// Already compressed (docx, pdf, jpg): a short header, then noise.
    Packed,
    /// Old binary formats: runs of zeros, small-alphabet and random blocks.
    Structured,
}

const EXTENSIONS: [(&str, Kind); 12] = [
    ("txt", Kind::Text),
    ("csv", Kind::Text),
    ("md", Kind::Text),
    ("html", Kind::Text),
    ("docx", Kind::Packed),
    ("pdf", Kind::Packed),
    ("jpg", Kind::Packed),
    ("xlsx", Kind::Packed),
    ("xls", Kind::Structured),
    ("doc", Kind::Structured),
    ("dwg", Kind::Structured),
    ("bin", Kind::Structured),
];

const WORDS: [&str; 48] = [
    "der",
    "die",
    "das",
    "und",
    "Projekt",
    "Bauabschnitt",
    "Angebot",
    "Termin",
    "Mängel",
    "Abnahme",
    "Statik",
    "Fassade",
    "Besprechung",
    "vereinbart",
    "gemäß",
    "the",
    "of",
    "and",
    "client",
    "schedule",
    "invoice",
    "drawing",
    "revision",
    "approved",
    "pending",
    "site",
    "meeting",
    "minutes",
    "cost",
    "estimate",
    "Beton",
    "Stahl",
    "Fenster",
    "Dach",
    "Heizung",
    "Lüftung",
    "Elektro",
    "Sanitär",
    "Nachtrag",
    "Rechnung",
    "Prüfung",
    "Bericht",
    "siehe",
    "Anlage",
    "Seite",
    "Kosten",
    "Frist",
    "Haus",
];

impl Kind {
    /// About 45% text, 35% packed, 20% structured files.
    fn pick(rng: &mut Rng) -> (&'static str, Kind) {
        let roll = rng.below(20);
        let (from, count) = match roll {
            0..9 => (0, 4),
            9..16 => (4, 4),
            _ => (8, 4),
        };
        EXTENSIONS[from + rng.below(count) as usize]
    }

    fn of(rel: &str) -> Kind {
        let ext = rel.rsplit('.').next().unwrap_or_default();
        EXTENSIONS
            .iter()
            .find(|(e, _)| *e == ext)
            .map_or(Kind::Packed, |(_, k)| *k)
    }

    fn content(self, rng: &mut Rng, size: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(size + 32);
        match self {
            Kind::Text => text(rng, &mut out, size),
            Kind::Packed => {
                out.extend_from_slice(b"PK\x03\x04\x14\x00\x06\x00");
                out.resize(size, 0);
                rng.fill(&mut out[8..]);
            }
            Kind::Structured => structured(rng, &mut out, size),
        }
        out.truncate(size);
        out
    }
}

fn text(rng: &mut Rng, out: &mut Vec<u8>, size: usize) {
    while out.len() < size {
        for _ in 0..5 + rng.below(10) {
            match rng.below(8) {
                0 => write!(
                    out,
                    "{}.{:03},{:02} ",
                    rng.below(900),
                    rng.below(1000),
                    rng.below(100)
                ),
                _ => write!(out, "{} ", WORDS[rng.below(WORDS.len() as u64) as usize]),
            }
            .expect("writing to a Vec cannot fail");
        }
        out.extend_from_slice(if rng.below(4) == 0 { b".\n\n" } else { b"; " });
    }
}

fn structured(rng: &mut Rng, out: &mut Vec<u8>, size: usize) {
    let mut block = [0u8; 512];
    while out.len() < size {
        match rng.below(10) {
            0..3 => block.fill(0),
            3..7 => {
                rng.fill(&mut block);
                block.iter_mut().for_each(|b| *b &= 0x0F);
            }
            _ => rng.fill(&mut block),
        }
        out.extend_from_slice(&block);
    }
}

/// SplitMix64: small, fast and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry?;
        let target = to.join(entry.path().strip_prefix(from)?);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}

// --- the machine -----------------------------------------------------------------

/// Where the bench runs.
struct Machine {
    cpus: String,
    cpu_model: String,
    kernel: String,
    tmp: PathBuf,
    filesystem: String,
    git: String,
    /// /proc/loadavg before and after the run: other work on the machine skews every number.
    load_before: String,
    load_after: String,
}

impl Machine {
    fn describe(tmp: &Path) -> Machine {
        let tmp = tmp.canonicalize().unwrap_or_else(|_| tmp.to_owned());
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Machine {
            cpus: command_line("nproc", &[]),
            cpu_model: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
                .unwrap_or_else(|| "unknown".into()),
            kernel: command_line("uname", &["-sr"]),
            filesystem: filesystem_of(&tmp),
            tmp,
            git: command_line("git", &["--version"]),
            load_before: load_average(),
            load_after: String::new(),
        }
    }

    fn line(&self, opts: &Opts) -> String {
        format!(
            "{} CPUs (nproc), {}; {}; temp dir {} on {}; {}; load {}; {} run",
            self.cpus,
            self.cpu_model,
            self.kernel,
            self.tmp.display(),
            self.filesystem,
            self.git,
            self.load_before,
            if opts.quick { "--quick" } else { "full" }
        )
    }
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The type, device and options of the mount holding `path`, from /proc/self/mounts.
fn filesystem_of(path: &Path) -> String {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f.len() >= 4 && path.starts_with(f[1])).then(|| (f[1].len(), f[2], f[0], f[1], f[3]))
        })
        .max_by_key(|m| m.0)
        .map(|(_, fs, dev, at, opts)| {
            format!("{fs}{} ({dev} on {at}, {opts})", journal_note(fs, dev))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// " without a journal" for an ext4 that has none (/proc/fs/jbd2 lists journals):
/// it changes what `syncfs` costs and how file creation scans for free inodes.
fn journal_note(fs: &str, dev: &str) -> &'static str {
    let name = dev.rsplit('/').next().unwrap_or(dev);
    let journaled = std::fs::read_dir("/proc/fs/jbd2").is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{name}-"))
        })
    });
    if fs == "ext4" && !journaled {
        " without a journal"
    } else {
        ""
    }
}

fn free_space(path: &Path) -> Result<u64> {
    let st = nix::sys::statvfs::statvfs(path)
        .with_context(|| format!("cannot statvfs {}", path.display()))?;
    Ok(st.blocks_available() as u64 * st.fragment_size() as u64)
}

// --- /proc, files, time ----------------------------------------------------------

/// The daemon's memory as [`MemorySampler`] saw it, in bytes.
#[derive(Debug, Default, Clone, Copy)]
struct MemorySplit {
    peak_anon: u64,
    at_peak_anon: u64,
    at_peak_file: u64,
}

/// Reads a process's resident memory from /proc/PID/statm every 5 ms (a
/// cheap read) and keeps its peaks, until stopped.
struct MemorySampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<MemorySplit>,
}

impl MemorySampler {
    fn start(pid: u32) -> MemorySampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut split = MemorySplit::default();
            while !flag.load(Ordering::Relaxed) {
                let Some(now) = docvault::memory::resident(Some(pid)) else {
                    break;
                };
                let (anon, file) = (now.anonymous as u64, now.shared as u64);
                split.peak_anon = split.peak_anon.max(anon);
                if anon + file > split.at_peak_anon + split.at_peak_file {
                    split.at_peak_anon = anon;
                    split.at_peak_file = file;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            split
        });
        MemorySampler { stop, thread }
    }

    fn stop(self) -> MemorySplit {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// A `kB` field (VmHWM, VmRSS) of /proc/PID/status; `None` once the process is gone.
fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Scheduler accounting from /proc/…/schedstat: time on a CPU, and time
/// runnable but waiting for one (which other work on the machine causes).
#[derive(Debug, Default, Clone, Copy)]
struct Sched {
    on_cpu: Duration,
    waiting: Duration,
}

impl Sched {
    fn this_thread() -> Sched {
        Sched::read("/proc/thread-self/schedstat").unwrap_or_default()
    }

    /// Summed over the live threads of `pid`.
    fn of_process(pid: u32) -> Sched {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return Sched::default();
        };
        tasks
            .filter_map(|t| Sched::read(t.ok()?.path().join("schedstat")))
            .fold(Sched::default(), |a, b| a + b)
    }

    fn read(path: impl AsRef<Path>) -> Option<Sched> {
        let text = std::fs::read_to_string(path).ok()?;
        let mut ns = text.split_whitespace().map(|f| f.parse::<u64>().ok());
        Some(Sched {
            on_cpu: Duration::from_nanos(ns.next()??),
            waiting: Duration::from_nanos(ns.next()??),
        })
    }

    /// `wall` split into on CPU, waiting for a CPU, and the rest (blocked: I/O, syncfs).
    fn split(self, wall: Duration, unit: fn(Duration) -> String) -> String {
        let blocked = wall.saturating_sub(self.on_cpu + self.waiting);
        format!(
            "on CPU {}, waiting for a CPU {}, blocked (I/O, syncfs) {}",
            unit(self.on_cpu),
            unit(self.waiting),
            unit(blocked)
        )
    }
}

impl std::ops::Add for Sched {
    type Output = Sched;
    fn add(self, o: Sched) -> Sched {
        Sched {
            on_cpu: self.on_cpu + o.on_cpu,
            waiting: self.waiting + o.waiting,
        }
    }
}

impl std::ops::Sub for Sched {
    type Output = Sched;
    fn sub(self, o: Sched) -> Sched {
        Sched {
            on_cpu: self.on_cpu.saturating_sub(o.on_cpu),
            waiting: self.waiting.saturating_sub(o.waiting),
        }
    }
}

impl std::ops::Div<u32> for Sched {
    type Output = Sched;
    fn div(self, n: u32) -> Sched {
        Sched {
            on_cpu: self.on_cpu / n,
            waiting: self.waiting / n,
        }
    }
}

/// The processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|stat| {
                    stat.rsplit_once(')')?
                        .1
                        .split_whitespace()
                        .nth(1)?
                        .parse::<u32>()
                        .ok()
                })
                == Some(pid)
        })
        .collect()
}

/// User and system CPU time of a process, from /proc/PID/stat (USER_HZ is 100).
fn proc_cpu(pid: u32) -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)?
            .parse::<u64>()
            .ok()
            .map(|t| Duration::from_millis(t * 10))
    };
    Some((ticks(11)?, ticks(12)?))
}

fn dir_bytes(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

fn temp_dir(prefix: &str) -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .context("cannot create a temp dir")
}

/// Writes every dirty page out, so no measurement pays for an earlier one's writes
/// (docvault's `syncfs` would flush them all).
fn flush_disks() {
    nix::unistd::sync();
}

/// Lets recent deletions age out of ext4's view before a timed part.
///
/// On an ext4 without a journal, every inode allocation skips the free
/// inodes deleted within the last 60 s (`RECENTCY_MIN` in the kernel's
/// `fs/ext4/ialloc.c`; 360 s while their inode table block is dirty), and
/// checks each candidate in the buffer cache to know. Right after a mass
/// delete (the previous phase's cleanup, `git gc` pruning loose objects)
/// every file creation scans those thousands of inodes. Full runs write
/// everything out (so the blocks are clean) and wait the 60 s out;
/// `--quick` only flushes.
fn quiet_fs(opts: &Opts) {
    flush_disks();
    if opts.quick {
        return;
    }
    let wait = Duration::from_secs(61);
    eprintln!("    waiting {} for recent deletions to age out", secs(wait));
    std::thread::sleep(wait);
}

/// The start-up scan takes files older than `watch.settle` (1 s) as settled.
fn wait_past_settle(last_write: Instant) {
    sleep_until(last_write + Duration::from_millis(1_100));
}

fn sleep_until(at: Instant) {
    let now = Instant::now();
    if at > now {
        std::thread::sleep(at - now);
    }
}

/// The nearest-rank percentile (`q` = 1.0 is the maximum).
fn pct(samples: &[Duration], q: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied().unwrap_or_default()
}

// --- the table -------------------------------------------------------------------

/// One line of the result table.
struct Row {
    phase: String,
    measure: String,
    docvault: String,
    baseline: String,
    ratio: String,
    target: String,
    /// Whether the target is met; `None` for information rows.
    met: Option<bool>,
}

impl Row {
    fn info(phase: &str) -> Row {
        Row {
            phase: phase.to_owned(),
            measure: String::new(),
            docvault: String::new(),
            baseline: String::new(),
            ratio: String::new(),
            target: String::new(),
            met: None,
        }
    }
}

#[derive(Default)]
struct Table {
    rows: Vec<Row>,
}

impl Table {
    fn row(&mut self, row: Row) {
        self.rows.push(row);
    }

    fn render(&self, machine: &Machine, opts: &Opts) -> String {
        let mut out = String::from("## docvault ingest benchmark\n\n");
        let _ = writeln!(out, "- CPUs (nproc): {}", machine.cpus);
        let _ = writeln!(out, "- CPU: {}", machine.cpu_model);
        let _ = writeln!(out, "- kernel: {}", machine.kernel);
        let _ = writeln!(
            out,
            "- temp dir: {} on {}",
            machine.tmp.display(),
            machine.filesystem
        );
        let _ = writeln!(
            out,
            "- baseline: {} (loose objects zlib level 1, like libgit2)",
            machine.git
        );
        let _ = writeln!(
            out,
            "- load average (1/5/15 min): {} before, {} after",
            machine.load_before, machine.load_after
        );
        let _ = writeln!(
            out,
            "- run: {}\n",
            if opts.quick { "--quick" } else { "full" }
        );
        out.push_str("| phase | measure | docvault | baseline | ratio | target | met |\n");
        out.push_str("| --- | --- | --- | --- | --- | --- | --- |\n");
        for r in &self.rows {
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {met} |",
                r.phase, r.measure, r.docvault, r.baseline, r.ratio, r.target
            );
        }
        out
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn gb(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / GIB as f64)
}

fn percent(part: u64, whole: u64) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}
