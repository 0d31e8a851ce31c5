//! The search benchmark: how fast docvault's index takes documents and
//! answers queries, against scanning the same text with ripgrep.
//!
//! One run, in a temp dir removed at the end:
//!
//! 1. index 100,000 generated documents (~2 KiB of text each, 20,000-word
//!    vocabulary drawn with a Zipf distribution, a unique marker per
//!    document), committing every 10,000 as a bulk import does;
//! 2. record 10 more versions of 1,000 of them (supersede + add);
//! 3. time ~1,000 searches of each kind (term, AND, phrase, `title:`,
//!    share + type filter, as_of, all_versions), each returning the first 10
//!    hits with snippets, in process;
//! 4. time add + commit + reload of one new version until a search finds it,
//!    200 times;
//! 5. baseline: the same current texts as one `.txt` file per document, and
//!    `rg -l -F WORD DIR` for the first term queries (page cache warm).
//!
//! Run with `cargo bench --bench search [-- --quick]` (`--quick`: 10,000
//! documents, 10 versions of 100). Needs `rg` on PATH (Debian: `apt-get
//! install ripgrep`); without it the baseline rows say so. Progress goes to
//! stderr, the markdown table to stdout. The corpus comes from a seeded
//! generator: every run indexes the same text.

#[path = "common/mod.rs"]
#[allow(dead_code)] // each bench uses part of it
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail, ensure};
use common::{
    Corpus, Rng, SHARES, cpu_pressure, dir_size, fsync_latency, load_average, mib, ms, percentiles,
    thousands,
};
use docvault::index::{Entry, Index, Query};

/// Hits per search, as the web page asks.
const PAGE: usize = 10;
/// Documents per index commit during the bulk import.
const BATCH: usize = 10_000;
const VERSIONS: u32 = 10;
const NRT_ROUNDS: usize = 200;

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
    docs: usize,
    versioned: usize,
    queries: usize,
    rg_queries: usize,
}

impl Opts {
    fn parse() -> Result<Opts> {
        let mut quick = false;
        for arg in std::env::args().skip(1) {
            match arg.as_str() {
                "--quick" => quick = true,
                // cargo bench passes --bench to harness-less benches.
                "--bench" => {}
                other => bail!("unknown argument {other:?} (use --quick)"),
            }
        }
        Ok(if quick {
            Opts {
                quick,
                docs: 10_000,
                versioned: 100,
                queries: 300,
                rg_queries: 20,
            }
        } else {
            Opts {
                quick,
                docs: 100_000,
                versioned: 1_000,
                queries: 1_000,
                rg_queries: 20,
            }
        })
    }
}

fn run() -> Result<()> {
    let opts = Opts::parse()?;
    let tmp = tempfile::Builder::new()
        .prefix("docvault-search-bench")
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
    let mut table = Table {
        fsync: fsync_latency(tmp.path())?,
        pressure_before: cpu_pressure(),
        ..Table::default()
    };
    let mut bench = Bench::new(&tmp.path().join("index"), &corpus, &opts)?;
    bench.import(&mut table)?;
    bench.versions(&mut table)?;
    let mut bench = bench.settle(&mut table)?;
    table.row(
        "index size on disk",
        &format!(
            "{} ({} B per version)",
            mib(dir_size(&tmp.path().join("index"))),
            dir_size(&tmp.path().join("index")) / bench.entries as u64
        ),
        "",
    );
    let term_p50 = bench.searches(&mut table)?;
    bench.near_real_time(&mut table)?;
    baseline(
        &corpus,
        &bench,
        &tmp.path().join("texts"),
        term_p50,
        &mut table,
    )?;
    println!("{}", table.render(&opts));
    Ok(())
}

// --- the runs ------------------------------------------------------------------

struct Bench<'a> {
    index: Index,
    dir: PathBuf,
    corpus: &'a Corpus,
    opts: &'a Opts,
    /// The current version of each versioned document (index = document).
    current: BTreeMap<usize, u32>,
    /// Index entries (versions) in all.
    entries: usize,
    term_words: Vec<String>,
}

impl<'a> Bench<'a> {
    fn new(dir: &Path, corpus: &'a Corpus, opts: &'a Opts) -> Result<Bench<'a>> {
        Ok(Bench {
            index: Index::open_or_create(dir)?,
            dir: dir.to_owned(),
            corpus,
            opts,
            current: BTreeMap::new(),
            entries: 0,
            term_words: Vec::new(),
        })
    }

    /// Waits for the segment merges the import started, and opens the index
    /// again, as a restarted daemon would: the searches measure the steady state.
    fn settle(self, table: &mut Table) -> Result<Bench<'a>> {
        let Bench {
            index,
            dir,
            corpus,
            opts,
            current,
            entries,
            term_words,
        } = self;
        let started = Instant::now();
        index.finish()?;
        let took = started.elapsed();
        table.row(
            "waiting for the import's segment merges, then reopening",
            &format!("{:.1} s", took.as_secs_f64()),
            "",
        );
        Ok(Bench {
            index: Index::open_or_create(&dir)?,
            dir,
            corpus,
            opts,
            current,
            entries,
            term_words,
        })
    }

    fn commit(&mut self) -> Result<()> {
        Ok(self.index.commit(&BTreeMap::new())?)
    }

    /// Indexes every document at v1, a batch at a time; generating the
    /// batch's text is not timed.
    fn import(&mut self, table: &mut Table) -> Result<()> {
        let mut took = Duration::ZERO;
        for batch in (0..self.corpus.docs).collect::<Vec<_>>().chunks(BATCH) {
            let entries: Vec<Entry> = batch.iter().map(|&doc| self.corpus.entry(doc, 1)).collect();
            let started = Instant::now();
            for entry in entries {
                self.index.add(entry)?;
            }
            self.commit()?;
            took += started.elapsed();
            eprintln!("bench: indexed {} docs", batch[batch.len() - 1] + 1);
        }
        self.entries += self.corpus.docs;
        table.row(
            &format!(
                "indexing {} docs of ~2 KiB, commit every {}",
                thousands(self.corpus.docs),
                thousands(BATCH)
            ),
            &format!(
                "{} docs/s ({:.1} s)",
                thousands((self.corpus.docs as f64 / took.as_secs_f64()) as usize),
                took.as_secs_f64()
            ),
            "≥ 10,000 docs/s",
        );
        Ok(())
    }

    /// 10 more versions of the first `versioned` documents, one commit per round.
    fn versions(&mut self, table: &mut Table) -> Result<()> {
        let mut took = Duration::ZERO;
        for version in 2..=VERSIONS + 1 {
            let entries: Vec<Entry> = (0..self.opts.versioned)
                .map(|doc| self.corpus.entry(doc, version))
                .collect();
            let started = Instant::now();
            for entry in entries {
                self.index
                    .supersede(&entry.share, &entry.path, version - 1, entry.valid_from)?;
                self.index.add(entry)?;
            }
            self.commit()?;
            took += started.elapsed();
        }
        for doc in 0..self.opts.versioned {
            self.current.insert(doc, VERSIONS + 1);
        }
        let n = VERSIONS as usize * self.opts.versioned;
        self.entries += n;
        table.row(
            &format!(
                "{VERSIONS} more versions of {} docs (supersede + add, commit per round)",
                thousands(self.opts.versioned)
            ),
            &format!(
                "{} versions/s",
                thousands((n as f64 / took.as_secs_f64()) as usize)
            ),
            "",
        );
        eprintln!("bench: {n} versions recorded");
        Ok(())
    }

    /// Times each kind of search; returns the term p50.
    fn searches(&mut self, table: &mut Table) -> Result<Duration> {
        let mut rng = Rng::new(7);
        let n = self.opts.queries;
        let mid = 200..2000;
        let kinds: Vec<(&str, &str, Vec<Query>)> = vec![
            (
                "term (word of rank 200–2,000)",
                "≤ 1 / ≤ 10 ms",
                (0..n)
                    .map(|_| query(self.corpus.ranked(&mut rng, mid.clone())))
                    .collect(),
            ),
            (
                "term, frequent (rank < 20)",
                "",
                (0..n)
                    .map(|_| query(self.corpus.ranked(&mut rng, 0..20)))
                    .collect(),
            ),
            (
                "term, unique marker",
                "",
                (0..n)
                    .map(|_| {
                        // Documents past the versioned ones are still at v1.
                        let doc =
                            self.opts.versioned + rng.below(self.corpus.docs - self.opts.versioned);
                        query(&Corpus::marker(doc, 1))
                    })
                    .collect(),
            ),
            (
                "AND of two words (rank 50–1,000)",
                "≤ 1 / ≤ 10 ms",
                (0..n)
                    .map(|_| {
                        let a = self.corpus.ranked(&mut rng, 50..1000);
                        let b = self.corpus.ranked(&mut rng, 50..1000);
                        query(&format!("{a} {b}"))
                    })
                    .collect(),
            ),
            (
                "phrase of two adjacent words",
                "p99 ≤ 25 ms",
                (0..n).map(|_| query(&self.phrase(&mut rng))).collect(),
            ),
            (
                "field: `title:word`",
                "≤ 1 / ≤ 10 ms",
                (0..n)
                    .map(|_| query(&format!("title:{}", self.corpus.ranked(&mut rng, 50..5000))))
                    .collect(),
            ),
            (
                "filtered: word + share + type:docx",
                "≤ 1 / ≤ 10 ms",
                (0..n)
                    .map(|_| Query {
                        share: Some(Corpus::share(rng.below(SHARES))),
                        types: Some("docx".into()),
                        ..query(self.corpus.ranked(&mut rng, mid.clone()))
                    })
                    .collect(),
            ),
            (
                "as_of: word at a past moment",
                "",
                (0..n)
                    .map(|_| {
                        let version = 2 + rng.below(VERSIONS as usize) as u32;
                        Query {
                            as_of: Some(self.corpus.changed(0, version)),
                            ..query(self.corpus.ranked(&mut rng, mid.clone()))
                        }
                    })
                    .collect(),
            ),
            (
                "all_versions: word, folded per document",
                "",
                (0..n)
                    .map(|_| Query {
                        all_versions: true,
                        ..query(self.corpus.ranked(&mut rng, mid.clone()))
                    })
                    .collect(),
            ),
        ];
        self.term_words = kinds[0].2.iter().map(|q| q.q.clone()).collect();
        let searcher = self.index.searcher();
        let mut term_p50 = Duration::ZERO;
        for (name, target, queries) in kinds {
            // Warm up: the first searches page the index in.
            for q in queries.iter().take(50) {
                searcher.search(q)?;
            }
            let mut times = Vec::with_capacity(queries.len());
            let mut totals = Vec::with_capacity(queries.len());
            let mut slowest = (Duration::ZERO, "");
            for q in &queries {
                let started = Instant::now();
                let hits = searcher.search(q)?;
                let took = started.elapsed();
                times.push(took);
                totals.push(hits.total);
                if took > slowest.0 {
                    slowest = (took, &q.q);
                }
                let must_match = name.starts_with("term") || name.starts_with("phrase");
                ensure!(hits.total > 0 || !must_match, "{:?} found nothing", q.q);
            }
            let (p50, p99) = percentiles(&mut times);
            if term_p50.is_zero() {
                term_p50 = p50;
            }
            totals.sort_unstable();
            table.row(
                &format!("search p50 / p99: {name}"),
                &format!(
                    "{} / {} ms (median total {})",
                    ms(p50),
                    ms(p99),
                    thousands(totals[totals.len() / 2])
                ),
                target,
            );
            eprintln!(
                "bench: {name}: p50 {} ms, slowest {} ms: {}",
                ms(p50),
                ms(slowest.0),
                slowest.1
            );
        }
        Ok(term_p50)
    }

    /// Two adjacent words of some document's current text, as a phrase query.
    fn phrase(&self, rng: &mut Rng) -> String {
        loop {
            let doc = rng.below(self.corpus.docs);
            let version = self.current.get(&doc).copied().unwrap_or(1);
            let text = self.corpus.text(doc, version);
            let words: Vec<&str> = text.split(' ').collect();
            let i = rng.below(words.len() - 1);
            let (a, b) = (words[i], words[i + 1]);
            let plain = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase());
            if plain(a) && plain(b) {
                return format!("\"{a} {b}\"");
            }
        }
    }

    /// A new version of a document, committed, until a search finds it.
    fn near_real_time(&mut self, table: &mut Table) -> Result<()> {
        let searcher = self.index.searcher();
        let mut rng = Rng::new(11);
        let mut times = Vec::with_capacity(NRT_ROUNDS);
        let mut commits = Vec::with_capacity(NRT_ROUNDS);
        for round in 0..NRT_ROUNDS {
            let doc = rng.below(self.corpus.docs);
            let version = self.current.get(&doc).copied().unwrap_or(1);
            let mut entry = self.corpus.entry(doc, version + 1);
            entry.valid_from = SystemTime::now();
            let marker = format!("nrt{round}q");
            entry.text.push_str(&marker);
            let started = Instant::now();
            self.index
                .supersede(&entry.share, &entry.path, version, entry.valid_from)?;
            self.index.add(entry)?;
            let commit = Instant::now();
            self.commit()?;
            commits.push(commit.elapsed());
            let hits = searcher.search(&query(&marker))?;
            times.push(started.elapsed());
            ensure!(hits.total == 1, "{marker} not found right after commit");
            self.current.insert(doc, version + 1);
            self.entries += 1;
        }
        let (p50, p99) = percentiles(&mut times);
        let (c50, c99) = percentiles(&mut commits);
        table.row(
            &format!("one new version: supersede + add + commit + reload until found, p50 / p99 ({NRT_ROUNDS} rounds)"),
            &format!("{} / {} ms (commit + reload alone {} / {} ms)", ms(p50), ms(p99), ms(c50), ms(c99)),
            "≤ 25 / ≤ 100 ms",
        );
        Ok(())
    }
}

fn query(text: &str) -> Query {
    Query {
        q: text.into(),
        limit: PAGE,
        ..Query::default()
    }
}

// --- the ripgrep baseline --------------------------------------------------------

fn baseline(
    corpus: &Corpus,
    bench: &Bench,
    dir: &Path,
    term_p50: Duration,
    table: &mut Table,
) -> Result<()> {
    let words = &bench.term_words[..bench.opts.rg_queries.min(bench.term_words.len())];
    if Command::new("rg")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        table.row(
            "ripgrep baseline",
            "skipped: `rg` not on PATH (apt-get install ripgrep)",
            "",
        );
        return Ok(());
    }
    eprintln!("bench: writing {} text files for ripgrep", corpus.docs);
    for doc in 0..corpus.docs {
        let version = bench.current.get(&doc).copied().unwrap_or(1);
        let path = dir
            .join(Corpus::share(doc))
            .join(format!("{}.txt", Corpus::path(doc)));
        std::fs::create_dir_all(path.parent().expect("a file path has a parent"))?;
        std::fs::write(&path, corpus.text(doc, version))?;
    }
    let rg = |word: &str| -> Result<(Duration, usize)> {
        let started = Instant::now();
        let out = Command::new("rg")
            .args(["-l", "-F", word])
            .arg(dir)
            .output()?;
        let took = started.elapsed();
        Ok((took, out.stdout.iter().filter(|&&b| b == b'\n').count()))
    };
    rg(&words[0])?; // warm the page cache
    let mut times = Vec::new();
    let mut files = Vec::new();
    for word in words {
        let (took, n) = rg(word)?;
        times.push(took);
        files.push(n);
    }
    let (p50, p99) = percentiles(&mut times);
    files.sort_unstable();
    table.row(
        &format!(
            "baseline `rg -l -F WORD` over the texts, {} term queries, p50 / p99",
            words.len()
        ),
        &format!(
            "{} / {} ms ({} files, {}; median {} files listed)",
            ms(p50),
            ms(p99),
            thousands(corpus.docs),
            mib(dir_size(dir)),
            thousands(files[files.len() / 2])
        ),
        "",
    );
    table.row(
        "index vs ripgrep, term p50",
        &format!("{:.0}× faster", p50.as_secs_f64() / term_p50.as_secs_f64()),
        "≥ 100×",
    );
    Ok(())
}

// --- the table ---------------------------------------------------------------------

#[derive(Default)]
struct Table {
    rows: Vec<[String; 3]>,
    /// p50 of writing and fsyncing a 4 KiB file in the temp dir.
    fsync: Duration,
    pressure_before: String,
}

impl Table {
    fn row(&mut self, what: &str, measured: &str, target: &str) {
        self.rows
            .push([what.into(), measured.into(), target.into()]);
    }

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
            "### docvault search benchmark ({} run)\n\n\
             {} CPUs, {cpu}; searches in process, {PAGE} hits with snippets each. \
             The machine: 4 KiB write + fsync p50 {} ms in the temp dir; \
             CPU pressure (`/proc/pressure/cpu` some avg10/60/300) {} before, {} after; \
             load after {}.\n\n",
            if opts.quick { "--quick" } else { "full" },
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            ms(self.fsync),
            self.pressure_before,
            cpu_pressure(),
            load_average()
        );
        out.push_str("| measure | measured | target |\n| --- | --- | --- |\n");
        for [what, measured, target] in &self.rows {
            out.push_str(&format!("| {what} | {measured} | {target} |\n"));
        }
        out
    }
}
