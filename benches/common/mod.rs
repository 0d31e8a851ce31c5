//! What the benchmarks share: the seeded document corpus (the same text in
//! every run), the numbers' formatting, and readings of how busy the machine
//! was. Included by each bench with `#[path = "common/mod.rs"] mod common;`;
//! a bench uses only part of it, hence the `dead_code` allowance there.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use docvault::index::Entry;

/// Words in the vocabulary.
pub const VOCABULARY: usize = 20_000;
/// Text per document (bytes, about).
pub const TEXT_BYTES: usize = 2048;
/// The documents are spread over this many shares (`s0`, `s1`, …).
pub const SHARES: usize = 5;
/// File extensions and MIME types, by document number.
pub const EXTENSIONS: [(&str, &str); 8] = [
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("pdf", "application/pdf"),
    ("txt", "text/plain"),
    ("md", "text/markdown"),
    ("csv", "text/csv"),
    (
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    ("eml", "message/rfc822"),
];

// --- the corpus ----------------------------------------------------------------

/// splitmix64: small, seeded, good enough for text.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The generated documents: every text is a function of (document, version).
pub struct Corpus {
    words: Vec<String>,
    /// Cumulative Zipf weights (s = 1) of `words`, by rank.
    cdf: Vec<f64>,
    pub docs: usize,
    start: SystemTime,
}

const SYLLABLES: [&str; 32] = [
    "ka", "lo", "mi", "ne", "ru", "ta", "sel", "mon", "dra", "vi", "pe", "gor", "us", "an", "tek",
    "bri", "zo", "fa", "hul", "em", "qui", "ost", "ja", "ren", "wi", "pla", "cor", "di", "nu",
    "sto", "e", "ly",
];

impl Corpus {
    pub fn new(docs: usize) -> Corpus {
        let mut rng = Rng::new(1);
        let mut seen = HashSet::new();
        let mut words = Vec::with_capacity(VOCABULARY);
        while words.len() < VOCABULARY {
            let n = 1 + rng.below(4);
            let word: String = (0..n)
                .map(|_| SYLLABLES[rng.below(SYLLABLES.len())])
                .collect();
            if word.len() >= 3 && seen.insert(word.clone()) {
                words.push(word);
            }
        }
        let mut total = 0.0;
        let mut cdf: Vec<f64> = (0..VOCABULARY)
            .map(|r| {
                total += 1.0 / (r as f64 + 1.0);
                total
            })
            .collect();
        cdf.iter_mut().for_each(|c| *c /= total);
        Corpus {
            words,
            cdf,
            docs,
            start: UNIX_EPOCH + Duration::from_secs(1_750_000_000),
        }
    }

    pub fn zipf<'a>(&'a self, rng: &mut Rng) -> &'a str {
        let u = rng.unit();
        let rank = self.cdf.partition_point(|&c| c < u).min(VOCABULARY - 1);
        &self.words[rank]
    }

    /// A word whose rank is in `ranks` (rank 0 is the most frequent).
    pub fn ranked(&self, rng: &mut Rng, ranks: std::ops::Range<usize>) -> &str {
        &self.words[ranks.start + rng.below(ranks.len())]
    }

    pub fn marker(doc: usize, version: u32) -> String {
        format!("zq{doc}v{version}x")
    }

    /// The text of a version: sentences of Zipf words, an ID now and then, the marker.
    pub fn text(&self, doc: usize, version: u32) -> String {
        let mut rng = Rng::new((doc as u64) << 8 | u64::from(version));
        let mut text = String::with_capacity(TEXT_BYTES + 64);
        let marker_at = rng.below(TEXT_BYTES / 2);
        let mut marked = false;
        let mut sentence = 0;
        while text.len() < TEXT_BYTES {
            if sentence == 0 {
                sentence = 6 + rng.below(12);
            }
            if text.len() >= marker_at && !marked {
                text.push_str(&Corpus::marker(doc, version));
                marked = true;
            } else if rng.below(60) == 0 {
                text.push_str(&format!("R-{}", rng.below(500)));
            } else {
                text.push_str(self.zipf(&mut rng));
            }
            sentence -= 1;
            text.push_str(if sentence == 0 { ". " } else { " " });
        }
        text
    }

    pub fn title(&self, doc: usize) -> String {
        let mut rng = Rng::new(u64::MAX - doc as u64);
        (0..4)
            .map(|_| self.ranked(&mut rng, 50..5000))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub fn share(doc: usize) -> String {
        format!("s{}", doc % SHARES)
    }

    pub fn path(doc: usize) -> String {
        let ext = EXTENSIONS[doc % EXTENSIONS.len()].0;
        format!("proj{}/folder{}/doc{doc}.{ext}", doc % 50, doc % 7)
    }

    pub fn recorded(&self, doc: usize) -> SystemTime {
        self.start + Duration::from_secs(doc as u64)
    }

    /// When version `version` (2 and up) of a versioned document was recorded.
    pub fn changed(&self, doc: usize, version: u32) -> SystemTime {
        self.start + Duration::from_secs(10_000_000 + u64::from(version) * 100_000 + doc as u64)
    }

    pub fn entry(&self, doc: usize, version: u32) -> Entry {
        let at = if version == 1 {
            self.recorded(doc)
        } else {
            self.changed(doc, version)
        };
        let text = self.text(doc, version);
        Entry {
            share: Corpus::share(doc),
            path: Corpus::path(doc),
            version,
            valid_from: at,
            valid_to: None,
            modified: at,
            size: text.len() as u64,
            mime: EXTENSIONS[doc % EXTENSIONS.len()].1.into(),
            title: Some(self.title(doc)),
            author: Some("Bench Author".into()),
            status: "ok".into(),
            text,
        }
    }
}

// --- numbers and the machine ------------------------------------------------------

pub fn percentiles(times: &mut [Duration]) -> (Duration, Duration) {
    times.sort_unstable();
    let at = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    (at(0.50), at(0.99))
}

pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.0}")
    }
}

pub fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

pub fn thousands(n: usize) -> String {
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

pub fn dir_size(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok()?.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// `some avg10/avg60/avg300` of /proc/pressure/cpu: how much other work
/// made runnable threads wait for a CPU.
pub fn cpu_pressure() -> String {
    std::fs::read_to_string("/proc/pressure/cpu")
        .ok()
        .and_then(|p| {
            let some = p.lines().find(|l| l.starts_with("some"))?;
            let avgs: Vec<&str> = some
                .split_whitespace()
                .filter_map(|f| f.split_once('=').map(|(_, v)| v))
                .take(3)
                .collect();
            Some(format!("{}%", avgs.join("/")))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// p50 of writing a 4 KiB file and fsyncing it, 30 times.
pub fn fsync_latency(dir: &Path) -> Result<Duration> {
    use std::io::Write as _;
    let mut times = Vec::new();
    for i in 0..30 {
        let path = dir.join(format!("fsync-probe-{i}"));
        let started = Instant::now();
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&[0u8; 4096])?;
        f.sync_all()?;
        times.push(started.elapsed());
        std::fs::remove_file(&path)?;
    }
    Ok(percentiles(&mut times).0)
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
