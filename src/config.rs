//! Configuration: the TOML file an operator writes, and the validated
//! [`Config`] every other part reads.
//!
//! The file is read into raw serde structs that mirror it one to one
//! (`deny_unknown_fields` on every table; durations and sizes kept as text),
//! then checked and built into a [`Config`]: paths made absolute and
//! normalised, durations and sizes parsed, globs compiled once to prove them,
//! cross-references (retention rule → share, data dir ↔ share) resolved. Every
//! problem is one line that names the file and the TOML key,
//! `{file}: {key}: {problem}`, so `docvault check-config` says exactly what to
//! fix; TOML syntax and type errors read `{file}: line N: {key}: {problem}`.
//!
//! Keys beyond the example in DESIGN.md:
//! - `watch.delete_grace` (default `"2s"`, at most 1h): how long a file must
//!   stay missing before its deletion is versioned, so that "delete, then
//!   rename a temp file into place" saves come out as one `modified` version.
//! - `watch.settle_cap` (default `"60s"`, at least `watch.settle`): a file that
//!   never stops changing is versioned anyway after this long.
//! - `shares[].create` (default `false`): `serve` creates a missing share
//!   folder (and its parents) instead of refusing to start.
//! - `[extract]`: reserved; an empty table is accepted.
//!
//! Ignore rules: the [`BUILTIN_IGNORES`] (editors' and office suites' temporary
//! and lock files) match the file name anywhere in a share, case-insensitively;
//! rsync's `.NAME.XXXXXX` temporaries are recognised by [`is_builtin_ignored`];
//! users' globs (`watch.ignore`, `shares[].ignore`) match the whole
//! share-relative path (`drafts/**`), and `*` never crosses a `/`.

use std::collections::HashMap;
use std::fmt::Display;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use bytesize::ByteSize;
use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// Where `--config` is looked for when it is not given, in this order.
pub const DEFAULT_CONFIG_PATHS: [&str; 2] = ["./docvault.toml", "/etc/docvault/docvault.toml"];

/// Temporary and lock files of editors and office suites, matched against the
/// file name (last path component) anywhere in a share. rsync's
/// `.NAME.XXXXXX` temporaries are too precise for a glob: see
/// [`is_builtin_ignored`].
pub const BUILTIN_IGNORES: &[&str] = &[
    "~$*",
    ".~lock.*#",
    "~WRL*.tmp",
    "*.tmp",
    ".*.sw[a-p]",
    ".*.swx",
    "*~",
    ".#*",
    "4913",
    "*.part",
    "*.crdownload",
    ".DS_Store",
    "._*",
    "Thumbs.db",
    "desktop.ini",
];

const DEFAULT_DATA_DIR: &str = "./docvault-data";
const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8270);
const DEFAULT_SETTLE: Duration = Duration::from_secs(1);
const DEFAULT_RESCAN_EVERY: Duration = Duration::from_secs(3600);
const DEFAULT_MAX_FILE_SIZE: u64 = 1 << 30;
const DEFAULT_DELETE_GRACE: Duration = Duration::from_secs(2);
const DEFAULT_SETTLE_CAP: Duration = Duration::from_secs(60);
const DEFAULT_POLL_EVERY: Duration = Duration::from_secs(30);
const HOUR: Duration = Duration::from_secs(3600);
const MIN_RESCAN_EVERY: Duration = Duration::from_secs(1);
const MIN_POLL_EVERY: Duration = Duration::from_millis(100);
const SHARE_NAME_RULE: &str =
    "lowercase letters, digits, '-' and '_', up to 64, starting with a letter or digit";

/// The validated configuration of one docvault instance.
#[derive(Debug, Clone)]
pub struct Config {
    /// Absolute path of the config file it came from.
    pub file: PathBuf,
    /// Absolute and normalised; relative paths resolve against the config
    /// file's folder.
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub watch: WatchConfig,
    pub shares: Vec<ShareConfig>,
    /// In file order: the first matching rule wins.
    pub retention: Vec<RetentionRule>,
    pub tokens: Vec<TokenConfig>,
    pub extract: ExtractConfig,
}

/// `[server]`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Default `127.0.0.1:8270`.
    pub listen: SocketAddr,
}

/// `[watch]`: settings shared by every share.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// A file is read once it has stayed unchanged this long; default 1s,
    /// more than 0 and at most 1h.
    pub settle: Duration,
    /// Reconciliation scan interval; default 1h, at least 1s.
    pub rescan_every: Duration,
    /// Bytes; default 1 GiB. In TOML a string (`"1GiB"`, `"500 MB"`) or an
    /// integer number of bytes.
    pub max_file_size: u64,
    /// How long a missing file must stay missing before its deletion is
    /// versioned; default 2s, at most 1h.
    pub delete_grace: Duration,
    /// A file that never stops changing is versioned anyway after this;
    /// default 60s, at least `settle`.
    pub settle_cap: Duration,
    /// Extra globs on the share-relative path, for every share.
    pub ignore: Vec<String>,
}

/// One `[[shares]]` table: a watched folder.
#[derive(Debug, Clone)]
pub struct ShareConfig {
    /// `^[a-z0-9][a-z0-9_-]{0,63}$`: it is a git branch name and a URL segment.
    pub name: String,
    /// Absolute and normalised, symlinks resolved where the folder exists.
    pub path: PathBuf,
    pub watcher: WatcherKind,
    /// Poll interval when polling; default 30s, at least 100ms.
    pub poll_every: Duration,
    /// Extra globs on the share-relative path, for this share.
    pub ignore: Vec<String>,
    /// Create the folder (and its parents) at `serve` if it is missing.
    pub create: bool,
}

/// How a share is watched: `"auto"` (native, or polling on network mounts),
/// `"native"` or `"poll"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatcherKind {
    Auto,
    Native,
    Poll,
}

/// One `[[retention]]` table.
#[derive(Debug, Clone)]
pub struct RetentionRule {
    pub name: String,
    /// `None`: every share. Every name is a configured share.
    pub shares: Option<Vec<String>>,
    /// Globs on the share-relative path; default `["**"]`.
    pub paths: Vec<String>,
    pub keep_last: Option<u32>,
    pub keep_hourly: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    /// `None`: keep forever.
    pub retain_for: Option<Duration>,
    /// Dispose of this rule's due versions automatically, this often
    /// (`auto_dispose = "1d"`); `None` (the default): only on request.
    pub auto_dispose: Option<Duration>,
}

/// What an API token may do; `Reader < Editor < Admin`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Reader,
    Editor,
    Admin,
}

/// One `[[tokens]]` table: only the token's SHA-256 is stored.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    pub name: String,
    pub role: Role,
    /// SHA-256 of the token's UTF-8 bytes.
    pub sha256: [u8; 32],
}

/// `[extract]`: text extraction's bounds and its worker processes.
#[derive(Debug, Clone, Default)]
pub struct ExtractConfig {
    /// Worker processes extracting in parallel (`workers`, default 2; 0 turns extraction and search off).
    pub workers: usize,
    /// `max_input_size` (256MiB), `max_unzipped_size` (512MiB), `max_ratio`
    /// (200), `max_text` (4MiB), `timeout` (30s), `memory_limit` (2GiB).
    pub limits: crate::extract::Limits,
}

/// A config file that cannot be found, read, parsed or accepted. The messages
/// are shown to the operator as they are.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no config file: neither {} exists; pass --config FILE", list_nor(.tried))]
    NotFound { tried: Vec<PathBuf> },
    #[error("{}: cannot read the config file: {error}", .file.display())]
    Read {
        file: PathBuf,
        error: std::io::Error,
    },
    /// TOML syntax, an unknown key or a value of the wrong type.
    #[error("{}: {message}", .file.display())]
    Syntax { file: PathBuf, message: String },
    /// A value that parses but is not acceptable.
    #[error("{}: {key}: {problem}", .file.display())]
    Invalid {
        file: PathBuf,
        key: String,
        problem: String,
    },
}

fn list_nor(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(" nor ")
}

impl Config {
    /// Read, parse and validate. Does not require missing share folders with
    /// `create = true` to exist.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            file: path.to_path_buf(),
            error,
        })?;
        Self::from_toml(&text, path)
    }

    /// Parse `text` as if it were the file at `path` (relative paths resolve
    /// against its folder), with the same validation as [`Config::load`].
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| syntax_error(path, text, &e))?;
        let file = std::path::absolute(path)
            .map(|p| real_path(&normalize(&p)))
            .map_err(|error| ConfigError::Read {
                file: path.to_path_buf(),
                error,
            })?;
        let base = file.parent().unwrap_or(Path::new("/"));
        let check = Checker { file: path, base };
        raw.build(&check, file.clone())
    }

    /// Resolve the `--config` flag: the flag if given, else the first of
    /// [`DEFAULT_CONFIG_PATHS`] that exists.
    pub fn locate(flag: Option<&Path>) -> Result<PathBuf, ConfigError> {
        locate_in(flag, &DEFAULT_CONFIG_PATHS.map(PathBuf::from))
    }

    /// The share called `name`.
    pub fn share(&self, name: &str) -> Option<&ShareConfig> {
        self.shares.iter().find(|s| s.name == name)
    }
}

fn locate_in(flag: Option<&Path>, candidates: &[PathBuf]) -> Result<PathBuf, ConfigError> {
    if let Some(path) = flag {
        return Ok(path.to_path_buf());
    }
    let found = candidates.iter().find(|p| p.exists()).cloned();
    found.ok_or_else(|| ConfigError::NotFound {
        tried: candidates.to_vec(),
    })
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: DEFAULT_LISTEN,
        }
    }
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            settle: DEFAULT_SETTLE,
            rescan_every: DEFAULT_RESCAN_EVERY,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            delete_grace: DEFAULT_DELETE_GRACE,
            settle_cap: DEFAULT_SETTLE_CAP,
            ignore: Vec::new(),
        }
    }
}

impl WatchConfig {
    /// The built-in ignore list plus the `[watch]` and the share's own globs,
    /// compiled. Use it with [`is_ignored`], which adds the rsync check.
    pub fn ignore_set(&self, share: &ShareConfig) -> GlobSet {
        let mut set = GlobSetBuilder::new();
        for glob in BUILTIN_GLOBS.iter() {
            set.add(glob.clone());
        }
        for glob in self.ignore.iter().chain(&share.ignore) {
            // Validated at load; a hand-built config with a bad glob loses it.
            if let Ok(glob) = user_glob(glob) {
                set.add(glob);
            }
        }
        set.build()
            .expect("globs that compiled alone also compile as a set")
    }
}

/// Whether the share-relative, `/`-separated `rel_path` is ignored by `set`
/// (from [`WatchConfig::ignore_set`]) or is an rsync temporary.
pub fn is_ignored(set: &GlobSet, rel_path: &str) -> bool {
    is_rsync_temp(file_name(rel_path)) || set.is_match(rel_path)
}

/// Whether a file name (last path component) is one of the built-in ignores:
/// [`BUILTIN_IGNORES`], or rsync's temporary `.NAME.XXXXXX` (a leading dot,
/// the name, a dot and exactly six ASCII letters or digits).
pub fn is_builtin_ignored(file_name: &str) -> bool {
    BUILTIN_SET.is_match(file_name) || is_rsync_temp(file_name)
}

static BUILTIN_GLOBS: LazyLock<Vec<Glob>> =
    LazyLock::new(|| BUILTIN_IGNORES.iter().map(|p| builtin_glob(p)).collect());

static BUILTIN_SET: LazyLock<GlobSet> = LazyLock::new(|| {
    let mut set = GlobSetBuilder::new();
    for glob in BUILTIN_GLOBS.iter() {
        set.add(glob.clone());
    }
    set.build().expect("the built-in globs compile as a set")
});

fn builtin_glob(pattern: &str) -> Glob {
    GlobBuilder::new(&format!("**/{pattern}"))
        .literal_separator(true)
        .case_insensitive(true)
        .build()
        .expect("the built-in globs are valid")
}

fn user_glob(glob: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(glob).literal_separator(true).build()
}

fn file_name(rel_path: &str) -> &str {
    rel_path.rsplit_once('/').map_or(rel_path, |(_, name)| name)
}

fn is_rsync_temp(name: &str) -> bool {
    let Some((stem, suffix)) = name.strip_prefix('.').and_then(|n| n.rsplit_once('.')) else {
        return false;
    };
    // mkstemp's six characters mix cases and digits; requiring one upper-case
    // letter or digit keeps real hidden files such as `.notes.backup` in.
    !stem.is_empty()
        && suffix.len() == 6
        && suffix.bytes().all(|b| b.is_ascii_alphanumeric())
        && suffix
            .bytes()
            .any(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

impl Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Role, String> {
        match text {
            "reader" => Ok(Role::Reader),
            "editor" => Ok(Role::Editor),
            "admin" => Ok(Role::Admin),
            _ => Err(format!(
                "unknown role {text:?} (expected reader, editor or admin)"
            )),
        }
    }
}

impl FromStr for WatcherKind {
    type Err = String;

    fn from_str(text: &str) -> Result<WatcherKind, String> {
        match text {
            "auto" => Ok(WatcherKind::Auto),
            "native" => Ok(WatcherKind::Native),
            "poll" => Ok(WatcherKind::Poll),
            _ => Err(format!(
                "unknown watcher {text:?} (expected auto, native or poll)"
            )),
        }
    }
}

// ---------------------------------------------------------------------------
// TOML syntax and type errors

fn syntax_error(file: &Path, text: &str, error: &toml::de::Error) -> ConfigError {
    let message = match error.span() {
        Some(span) => located(text, span, &one_line(error.message())),
        None => one_line(&error.to_string()),
    };
    ConfigError::Syntax {
        file: file.to_path_buf(),
        message,
    }
}

/// `line N: {key}: {message}`, or `line N: {message} (at `{text}`)` when the
/// error is not inside a key or value (TOML syntax errors).
fn located(text: &str, span: Range<usize>, message: &str) -> String {
    let before = &text.as_bytes()[..span.start.min(text.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    if let Some(key) = key_at(text, span.start) {
        return format!("line {line}: {key}: {message}");
    }
    match text
        .get(span)
        .filter(|t| !t.is_empty() && t.len() <= 60 && !t.contains('\n'))
    {
        Some(near) => format!("line {line}: {message} (at `{near}`)"),
        None => format!("line {line}: {message}"),
    }
}

fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(": ")
}

/// The TOML path (`shares[1].watcher`) of the key or value at byte `at`.
fn key_at(text: &str, at: usize) -> Option<String> {
    let doc = DeTable::parse(text).ok()?;
    table_key_at(doc.get_ref(), at, "")
}

fn table_key_at(table: &DeTable<'_>, at: usize, prefix: &str) -> Option<String> {
    table.iter().find_map(|(key, value)| {
        let path = match prefix {
            "" => key.get_ref().to_string(),
            _ => format!("{prefix}.{}", key.get_ref()),
        };
        value_key_at(value, at, &path).or_else(|| key.span().contains(&at).then_some(path))
    })
}

fn value_key_at(value: &Spanned<DeValue<'_>>, at: usize, path: &str) -> Option<String> {
    let inner = match value.get_ref() {
        DeValue::Table(table) => table_key_at(table, at, path),
        DeValue::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| value_key_at(item, at, &format!("{path}[{i}]"))),
        _ => None,
    };
    inner.or_else(|| value.span().contains(&at).then(|| path.to_string()))
}

// ---------------------------------------------------------------------------
// Raw tables, exactly as written

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    data_dir: Option<String>,
    server: RawServer,
    watch: RawWatch,
    shares: Vec<RawShare>,
    retention: Vec<RawRule>,
    tokens: Vec<RawToken>,
    extract: RawExtract,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawWatch {
    settle: Option<String>,
    rescan_every: Option<String>,
    max_file_size: Option<toml::Value>,
    delete_grace: Option<String>,
    settle_cap: Option<String>,
    ignore: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawShare {
    name: Option<String>,
    path: Option<String>,
    watcher: Option<String>,
    poll_every: Option<String>,
    ignore: Vec<String>,
    create: bool,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    shares: Option<Vec<String>>,
    paths: Option<Vec<String>>,
    keep_last: Option<u32>,
    keep_hourly: Option<u32>,
    keep_daily: Option<u32>,
    keep_weekly: Option<u32>,
    keep_monthly: Option<u32>,
    retain_for: Option<String>,
    auto_dispose: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawToken {
    name: Option<String>,
    role: Option<String>,
    sha256: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawExtract {
    workers: Option<u32>,
    max_input_size: Option<toml::Value>,
    max_unzipped_size: Option<toml::Value>,
    max_ratio: Option<u32>,
    max_text: Option<toml::Value>,
    timeout: Option<String>,
    memory_limit: Option<toml::Value>,
}

impl RawExtract {
    fn build(self, c: &Checker) -> Result<ExtractConfig, ConfigError> {
        let d = crate::extract::Limits::default();
        let size = |key: &str, v: Option<toml::Value>, default: u64| {
            v.map_or(Ok(default), |v| c.size(&format!("extract.{key}"), &v))
        };
        let workers = self.workers.unwrap_or(2);
        c.ensure(workers <= 64, "extract.workers", || {
            format!("must be between 0 (extraction and search off) and 64, got {workers}")
        })?;
        let max_ratio = self.max_ratio.map_or(d.max_ratio, u64::from);
        c.ensure(max_ratio >= 2, "extract.max_ratio", || {
            format!("must be at least 2, got {max_ratio}")
        })?;
        let memory = size("memory_limit", self.memory_limit, d.memory)?;
        c.ensure(memory >= 64 << 20, "extract.memory_limit", || {
            "must be at least 64MiB (a worker needs room to start)".into()
        })?;
        let timeout = c.duration_in(
            "extract.timeout",
            self.timeout.as_deref(),
            d.timeout,
            "between 100ms and 1h",
            |t| t >= Duration::from_millis(100) && t <= HOUR,
        )?;
        let limits = crate::extract::Limits {
            max_input: size("max_input_size", self.max_input_size, d.max_input)?,
            max_unzipped: size("max_unzipped_size", self.max_unzipped_size, d.max_unzipped)?,
            max_ratio,
            max_text: size("max_text", self.max_text, d.max_text as u64)? as usize,
            timeout,
            memory,
        };
        Ok(ExtractConfig {
            workers: workers as usize,
            limits,
        })
    }
}

// ---------------------------------------------------------------------------
// Validation

/// Builds `{file}: {key}: {problem}` errors and resolves relative paths.
struct Checker<'a> {
    /// The config file as the operator named it.
    file: &'a Path,
    /// The config file's folder, absolute.
    base: &'a Path,
}

impl Checker<'_> {
    fn fail(&self, key: impl Display, problem: impl Display) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_path_buf(),
            key: key.to_string(),
            problem: problem.to_string(),
        }
    }

    fn ensure(
        &self,
        ok: bool,
        key: &str,
        problem: impl FnOnce() -> String,
    ) -> Result<(), ConfigError> {
        if ok {
            Ok(())
        } else {
            Err(self.fail(key, problem()))
        }
    }

    fn required<T>(&self, key: &str, value: Option<T>, hint: &str) -> Result<T, ConfigError> {
        value.ok_or_else(|| self.fail(key, format!("missing ({hint})")))
    }

    fn non_empty(&self, key: &str, text: &str) -> Result<(), ConfigError> {
        self.ensure(!text.is_empty(), key, || "must not be empty".into())
    }

    fn duration(&self, key: &str, text: &str) -> Result<Duration, ConfigError> {
        humantime::parse_duration(text)
            .map_err(|e| self.fail(key, format!("invalid duration {text:?}: {e}")))
    }

    /// `text` parsed (or `default`), and `rule` holds for it.
    fn duration_in(
        &self,
        key: &str,
        text: Option<&str>,
        default: Duration,
        rule: &str,
        holds: impl Fn(Duration) -> bool,
    ) -> Result<Duration, ConfigError> {
        let value = text.map_or(Ok(default), |text| self.duration(key, text))?;
        self.ensure(holds(value), key, || {
            format!("must be {rule}, got {}", show(value))
        })?;
        Ok(value)
    }

    fn size(&self, key: &str, value: &toml::Value) -> Result<u64, ConfigError> {
        let bytes = match value {
            toml::Value::Integer(n) => u64::try_from(*n).ok(),
            toml::Value::String(s) => s.parse::<ByteSize>().ok().map(|b| b.as_u64()),
            _ => None,
        };
        let bytes = bytes.ok_or_else(|| {
            let problem = format!(
                "invalid size {value}: expected a number of bytes or a size like \"500 MB\" \
                 or \"1GiB\""
            );
            self.fail(key, problem)
        })?;
        self.ensure(bytes > 0, key, || "must be more than 0 bytes".into())?;
        Ok(bytes)
    }

    fn globs(&self, key: &str, globs: &[String]) -> Result<(), ConfigError> {
        for (i, glob) in globs.iter().enumerate() {
            let key = format!("{key}[{i}]");
            let compiled = user_glob(glob);
            compiled.map_err(|e| self.fail(&key, format!("bad glob {glob:?}: {}", e.kind())))?;
            self.ensure(!glob.starts_with('/'), &key, || {
                format!(
                    "{glob:?} never matches: globs apply to the share-relative path, which has \
                     no leading '/'"
                )
            })?;
        }
        Ok(())
    }

    /// Absolute, normalised, and with symlinks resolved as far as it exists.
    fn resolve(&self, text: &str) -> PathBuf {
        real_path(&normalize(&self.base.join(text)))
    }
}

fn show(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(d)
}

impl RawConfig {
    fn build(self, c: &Checker, file: PathBuf) -> Result<Config, ConfigError> {
        let server = self.server.build(c)?;
        let watch = self.watch.build(c)?;
        let shares = build_shares(c, self.shares)?;
        let data_dir = self.data_dir.as_deref().unwrap_or(DEFAULT_DATA_DIR);
        c.non_empty("data_dir", data_dir)?;
        let data_dir = c.resolve(data_dir);
        check_data_dir(c, &data_dir, &shares)?;
        let retention = enumerate_build(self.retention, |i, r| r.build(c, i, &shares))?;
        check_unique(
            c,
            "retention",
            "rule",
            retention.iter().map(|r| r.name.as_str()),
        )?;
        let tokens = build_tokens(c, self.tokens)?;
        let extract = self.extract.build(c)?;
        Ok(Config {
            file,
            data_dir,
            server,
            watch,
            shares,
            retention,
            tokens,
            extract,
        })
    }
}

fn enumerate_build<R, T>(
    raw: Vec<R>,
    build: impl Fn(usize, R) -> Result<T, ConfigError>,
) -> Result<Vec<T>, ConfigError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, r)| build(i, r))
        .collect()
}

/// Fails on the first name used twice: `{table}[j].name: duplicate {what}
/// name "x" (also {table}[i])`.
fn check_unique<'a>(
    c: &Checker,
    table: &str,
    what: &str,
    names: impl Iterator<Item = &'a str>,
) -> Result<(), ConfigError> {
    let mut seen = HashMap::new();
    for (j, name) in names.enumerate() {
        if let Some(i) = seen.insert(name, j) {
            let problem = format!("duplicate {what} name {name:?} (also {table}[{i}])");
            return Err(c.fail(format!("{table}[{j}].name"), problem));
        }
    }
    Ok(())
}

impl RawServer {
    fn build(self, c: &Checker) -> Result<ServerConfig, ConfigError> {
        let Some(text) = self.listen else {
            return Ok(ServerConfig::default());
        };
        let listen = text.parse::<SocketAddr>().map_err(|e| {
            let problem =
                format!("invalid address {text:?}: {e} (expected IP:PORT, like 127.0.0.1:8270)");
            c.fail("server.listen", problem)
        })?;
        Ok(ServerConfig { listen })
    }
}

impl RawWatch {
    fn build(self, c: &Checker) -> Result<WatchConfig, ConfigError> {
        let settle = c.duration_in(
            "watch.settle",
            self.settle.as_deref(),
            DEFAULT_SETTLE,
            "more than 0s and at most 1h",
            |d| !d.is_zero() && d <= HOUR,
        )?;
        let cap_rule = format!("at least watch.settle ({})", show(settle));
        let settle_cap = c.duration_in(
            "watch.settle_cap",
            self.settle_cap.as_deref(),
            DEFAULT_SETTLE_CAP,
            &cap_rule,
            |d| d >= settle,
        )?;
        let rescan_every = c.duration_in(
            "watch.rescan_every",
            self.rescan_every.as_deref(),
            DEFAULT_RESCAN_EVERY,
            "at least 1s",
            |d| d >= MIN_RESCAN_EVERY,
        )?;
        let delete_grace = c.duration_in(
            "watch.delete_grace",
            self.delete_grace.as_deref(),
            DEFAULT_DELETE_GRACE,
            "at most 1h",
            |d| d <= HOUR,
        )?;
        let max_file_size = match &self.max_file_size {
            Some(value) => c.size("watch.max_file_size", value)?,
            None => DEFAULT_MAX_FILE_SIZE,
        };
        c.globs("watch.ignore", &self.ignore)?;
        let ignore = self.ignore;
        Ok(WatchConfig {
            settle,
            rescan_every,
            max_file_size,
            delete_grace,
            settle_cap,
            ignore,
        })
    }
}

fn build_shares(c: &Checker, raw: Vec<RawShare>) -> Result<Vec<ShareConfig>, ConfigError> {
    c.ensure(!raw.is_empty(), "shares", || {
        "no share configured; add a [[shares]] table".into()
    })?;
    let shares = enumerate_build(raw, |i, s| s.build(c, i))?;
    check_unique(c, "shares", "share", shares.iter().map(|s| s.name.as_str()))?;
    check_nesting(c, &shares)?;
    Ok(shares)
}

impl RawShare {
    fn build(self, c: &Checker, i: usize) -> Result<ShareConfig, ConfigError> {
        let key = |k: &str| format!("shares[{i}].{k}");
        let hint = "every share needs a name and a path";
        let name = c.required(&key("name"), self.name, hint)?;
        c.ensure(is_share_name(&name), &key("name"), || {
            format!("{name:?} is not a valid share name ({SHARE_NAME_RULE})")
        })?;
        let path = c.required(&key("path"), self.path, hint)?;
        let path = share_folder(c, &key("path"), &path, self.create)?;
        let watcher = self.watcher.as_deref().unwrap_or("auto");
        let watcher = watcher.parse().map_err(|e| c.fail(key("watcher"), e))?;
        let poll_every = c.duration_in(
            &key("poll_every"),
            self.poll_every.as_deref(),
            DEFAULT_POLL_EVERY,
            "at least 100ms",
            |d| d >= MIN_POLL_EVERY,
        )?;
        c.globs(&key("ignore"), &self.ignore)?;
        let (ignore, create) = (self.ignore, self.create);
        Ok(ShareConfig {
            name,
            path,
            watcher,
            poll_every,
            ignore,
            create,
        })
    }
}

/// `^[a-z0-9][a-z0-9_-]{0,63}$`
fn is_share_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let rest_ok =
        bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    first_ok && rest_ok && name.len() <= 64
}

/// The share's absolute folder; it must be a folder, or be missing with
/// `create = true`.
fn share_folder(c: &Checker, key: &str, text: &str, create: bool) -> Result<PathBuf, ConfigError> {
    c.non_empty(key, text)?;
    let path = c.resolve(text);
    let shown = path.display();
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_dir() => Ok(path),
        Ok(_) => Err(c.fail(key, format!("{shown} is not a folder"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => Ok(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(c.fail(
            key,
            format!("share folder {shown} does not exist (create it, or set create = true)"),
        )),
        Err(e) => Err(c.fail(key, format!("cannot read share folder {shown}: {e}"))),
    }
}

/// No share may be inside another, or be the same folder.
fn check_nesting(c: &Checker, shares: &[ShareConfig]) -> Result<(), ConfigError> {
    for (j, later) in shares.iter().enumerate() {
        for (i, earlier) in shares[..j].iter().enumerate() {
            if let Some(problem) = overlap(&later.path, earlier) {
                return Err(c.fail(format!("shares[{j}].path"), problem));
            }
            if let Some(problem) = overlap(&earlier.path, later) {
                return Err(c.fail(format!("shares[{i}].path"), problem));
            }
        }
    }
    Ok(())
}

fn overlap(path: &Path, share: &ShareConfig) -> Option<String> {
    let (shown, name, other) = (path.display(), &share.name, share.path.display());
    if path == share.path {
        Some(format!("{shown} is the same folder as share {name:?}"))
    } else if path.starts_with(&share.path) {
        Some(format!("{shown} is inside share {name:?} ({other})"))
    } else {
        None
    }
}

/// The data dir and the shares must not overlap: the archive would watch
/// itself.
fn check_data_dir(c: &Checker, data_dir: &Path, shares: &[ShareConfig]) -> Result<(), ConfigError> {
    for share in shares {
        let problem = overlap(data_dir, share).or_else(|| {
            let (name, path) = (&share.name, share.path.display());
            let inside = share.path.starts_with(data_dir);
            inside.then(|| format!("{} contains share {name:?} ({path})", data_dir.display()))
        });
        if let Some(problem) = problem {
            return Err(c.fail("data_dir", problem));
        }
    }
    Ok(())
}

impl RawRule {
    fn build(
        self,
        c: &Checker,
        i: usize,
        shares: &[ShareConfig],
    ) -> Result<RetentionRule, ConfigError> {
        let key = |k: &str| format!("retention[{i}].{k}");
        let name = c.required(&key("name"), self.name, "every rule needs a name")?;
        c.non_empty(&key("name"), &name)?;
        if let Some(names) = &self.shares {
            check_rule_shares(c, &key("shares"), names, shares)?;
        }
        let paths = self.paths.unwrap_or_else(|| vec!["**".to_string()]);
        c.ensure(!paths.is_empty(), &key("paths"), || {
            "must not be empty (omit it to match every path)".into()
        })?;
        c.globs(&key("paths"), &paths)?;
        let keeps = [
            ("keep_last", self.keep_last),
            ("keep_hourly", self.keep_hourly),
            ("keep_daily", self.keep_daily),
            ("keep_weekly", self.keep_weekly),
            ("keep_monthly", self.keep_monthly),
        ];
        for (k, n) in keeps {
            c.ensure(n != Some(0), &key(k), || "must be at least 1, got 0".into())?;
        }
        let retain_for = self
            .retain_for
            .map(|t| c.duration(&key("retain_for"), &t))
            .transpose()?;
        let auto_dispose = self
            .auto_dispose
            .map(|t| c.duration(&key("auto_dispose"), &t))
            .transpose()?;
        c.ensure(
            auto_dispose != Some(Duration::ZERO),
            &key("auto_dispose"),
            || "must be a positive interval (omit it to dispose only on request)".into(),
        )?;
        c.ensure(
            auto_dispose.is_none() || retain_for.is_some(),
            &key("auto_dispose"),
            || "needs retain_for: without it nothing under this rule is ever due".into(),
        )?;
        let has_rule = keeps.iter().any(|(_, n)| n.is_some()) || retain_for.is_some();
        c.ensure(has_rule, &format!("retention[{i}]"), || {
            "a rule needs keep_last, keep_hourly/daily/weekly/monthly or retain_for".into()
        })?;
        Ok(RetentionRule {
            name,
            shares: self.shares,
            paths,
            keep_last: self.keep_last,
            keep_hourly: self.keep_hourly,
            keep_daily: self.keep_daily,
            keep_weekly: self.keep_weekly,
            keep_monthly: self.keep_monthly,
            retain_for,
            auto_dispose,
        })
    }
}

fn check_rule_shares(
    c: &Checker,
    key: &str,
    names: &[String],
    shares: &[ShareConfig],
) -> Result<(), ConfigError> {
    c.ensure(!names.is_empty(), key, || {
        "must not be empty (omit it for every share)".into()
    })?;
    for (j, name) in names.iter().enumerate() {
        let known = shares.iter().any(|s| &s.name == name);
        c.ensure(known, &format!("{key}[{j}]"), || {
            format!("unknown share {name:?}")
        })?;
    }
    Ok(())
}

fn build_tokens(c: &Checker, raw: Vec<RawToken>) -> Result<Vec<TokenConfig>, ConfigError> {
    let tokens = enumerate_build(raw, |i, t| t.build(c, i))?;
    check_unique(c, "tokens", "token", tokens.iter().map(|t| t.name.as_str()))?;
    let mut seen = HashMap::new();
    for (j, token) in tokens.iter().enumerate() {
        if let Some(i) = seen.insert(token.sha256, j) {
            let problem = format!(
                "duplicate token hash (also tokens[{i}]); every token needs its own secret"
            );
            return Err(c.fail(format!("tokens[{j}].sha256"), problem));
        }
    }
    Ok(tokens)
}

impl RawToken {
    fn build(self, c: &Checker, i: usize) -> Result<TokenConfig, ConfigError> {
        let key = |k: &str| format!("tokens[{i}].{k}");
        let hint = "every token needs a name, a role and a sha256";
        let name = c.required(&key("name"), self.name, hint)?;
        c.non_empty(&key("name"), &name)?;
        let role = c.required(&key("role"), self.role, hint)?;
        let role = role.parse().map_err(|e| c.fail(key("role"), e))?;
        let sha256 = c.required(&key("sha256"), self.sha256, hint)?;
        let sha256 = parse_sha256(&sha256).map_err(|e| c.fail(key("sha256"), e))?;
        Ok(TokenConfig { name, role, sha256 })
    }
}

fn parse_sha256(text: &str) -> Result<[u8; 32], String> {
    let expected = "expected 64 hex characters (the SHA-256 of the token)";
    let count = text.chars().count();
    if count != 64 {
        return Err(format!("{expected}, got {count}"));
    }
    if let Some(bad) = text.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("{expected}, got {bad:?}"));
    }
    let mut hash = [0; 32];
    hex::decode_to_slice(text, &mut hash).map_err(|e| format!("{expected}: {e}"))?;
    Ok(hash)
}

// ---------------------------------------------------------------------------
// Paths

/// Removes `.` and resolves `..` without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Canonicalises the longest part of `path` that exists and appends the rest,
/// so paths compare equal whether or not their folders exist yet.
fn real_path(path: &Path) -> PathBuf {
    for ancestor in path.ancestors() {
        let Ok(real) = ancestor.canonicalize() else {
            continue;
        };
        let rest = path
            .strip_prefix(ancestor)
            .expect("an ancestor is a prefix");
        return match rest.as_os_str().is_empty() {
            true => real,
            false => real.join(rest),
        };
    }
    path.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::fs;

    /// A temp folder holding `shares/alpha` and `shares/beta`, with the config
    /// file at `docvault.toml` inside it. Error texts show it as `$DIR`.
    struct Site {
        _tmp: tempfile::TempDir,
        root: PathBuf,
    }

    impl Site {
        fn new() -> Site {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path().canonicalize().unwrap();
            for share in ["shares/alpha", "shares/beta"] {
                fs::create_dir_all(root.join(share)).unwrap();
            }
            Site { _tmp: tmp, root }
        }

        fn file(&self) -> PathBuf {
            self.root.join("docvault.toml")
        }

        fn load(&self, text: &str) -> Config {
            Config::from_toml(text, &self.file()).unwrap_or_else(|e| panic!("{e}"))
        }

        fn error(&self, text: &str) -> String {
            let error = Config::from_toml(text, &self.file()).unwrap_err();
            self.hide_root(&error.to_string())
        }

        fn hide_root(&self, text: &str) -> String {
            text.replace(&self.root.display().to_string(), "$DIR")
        }
    }

    const ALPHA: &str = "[[shares]]\nname = \"alpha\"\npath = \"shares/alpha\"\n";

    fn with_alpha(rest: &str) -> String {
        format!("{ALPHA}{rest}")
    }

    fn sha256_hex(token: &str) -> String {
        hex::encode(Sha256::digest(token.as_bytes()))
    }

    fn full_config(pmo: &str, ops: &str) -> String {
        format!(
            r#"data_dir = "./docvault-data"

[server]
listen = "0.0.0.0:9000"

[watch]
settle = "2s"
rescan_every = "30m"
max_file_size = "500 MB"
delete_grace = "3s"
settle_cap = "2m"
ignore = ["*.bak"]

[[shares]]
name = "alpha"
path = "./shares/alpha"
watcher = "poll"
poll_every = "10s"
ignore = ["drafts/**"]

[[shares]]
name = "beta"
path = "./shares/beta"
watcher = "native"

[[shares]]
name = "gamma_2"
path = "./shares/gamma"
create = true

[[retention]]
name = "project-records"
shares = ["alpha"]
paths = ["**"]
keep_last = 3
keep_hourly = 24
keep_daily = 30
keep_weekly = 52
keep_monthly = 24
retain_for = "7y"

[[retention]]
name = "scratch"
paths = ["tmp/**", "*.log"]
retain_for = "30days"

[[tokens]]
name = "pmo-team"
role = "editor"
sha256 = "{pmo}"

[[tokens]]
name = "ops"
role = "admin"
sha256 = "{ops}"

[extract]
"#
        )
    }

    #[test]
    fn full_config_with_every_key() {
        let site = Site::new();
        let ops_hex = sha256_hex("ops-secret").to_uppercase();
        let config = site.load(&full_config(&sha256_hex("s3cret"), &ops_hex));
        assert_eq!(config.file, site.file());
        assert_eq!(config.data_dir, site.root.join("docvault-data"));
        assert_eq!(config.server.listen, "0.0.0.0:9000".parse().unwrap());
        let watch = &config.watch;
        assert_eq!(watch.settle, Duration::from_secs(2));
        assert_eq!(watch.rescan_every, Duration::from_secs(30 * 60));
        assert_eq!(watch.max_file_size, 500_000_000);
        assert_eq!(watch.delete_grace, Duration::from_secs(3));
        assert_eq!(watch.settle_cap, Duration::from_secs(120));
        assert_eq!(watch.ignore, ["*.bak"]);
        assert_eq!(config.shares.len(), 3);
        let alpha = &config.shares[0];
        assert_eq!(alpha.name, "alpha");
        assert_eq!(alpha.path, site.root.join("shares/alpha"));
        assert_eq!(alpha.watcher, WatcherKind::Poll);
        assert_eq!(alpha.poll_every, Duration::from_secs(10));
        assert_eq!(alpha.ignore, ["drafts/**"]);
        assert!(!alpha.create);
        assert_eq!(config.shares[1].watcher, WatcherKind::Native);
        let gamma = config.share("gamma_2").unwrap();
        assert_eq!(gamma.path, site.root.join("shares/gamma"));
        assert!(gamma.create);
        assert!(!gamma.path.exists(), "loading never creates a share folder");
    }

    #[test]
    fn full_config_retention_and_tokens() {
        let site = Site::new();
        let ops_hex = sha256_hex("ops-secret").to_uppercase();
        let config = site.load(&full_config(&sha256_hex("s3cret"), &ops_hex));
        let records = &config.retention[0];
        assert_eq!(records.name, "project-records");
        assert_eq!(records.shares, Some(vec!["alpha".to_string()]));
        assert_eq!(records.paths, ["**"]);
        let keeps = [records.keep_last, records.keep_hourly, records.keep_daily];
        assert_eq!(keeps, [Some(3), Some(24), Some(30)]);
        assert_eq!(
            [records.keep_weekly, records.keep_monthly],
            [Some(52), Some(24)]
        );
        assert_eq!(
            records.retain_for,
            Some(humantime::parse_duration("7y").unwrap())
        );
        let scratch = &config.retention[1];
        assert_eq!(scratch.shares, None);
        assert_eq!(scratch.paths, ["tmp/**", "*.log"]);
        assert_eq!(scratch.keep_last, None);
        assert_eq!(scratch.retain_for, Some(Duration::from_secs(30 * 86_400)));
        let pmo = &config.tokens[0];
        assert_eq!((pmo.name.as_str(), pmo.role), ("pmo-team", Role::Editor));
        assert_eq!(pmo.sha256, <[u8; 32]>::from(Sha256::digest(b"s3cret")));
        let ops = &config.tokens[1];
        assert_eq!((ops.name.as_str(), ops.role), ("ops", Role::Admin));
        assert_eq!(ops.sha256, <[u8; 32]>::from(Sha256::digest(b"ops-secret")));
    }

    #[test]
    fn defaults_when_sections_are_omitted() {
        let site = Site::new();
        let config = site.load(ALPHA);
        assert_eq!(config.data_dir, site.root.join("docvault-data"));
        assert_eq!(config.server.listen, "127.0.0.1:8270".parse().unwrap());
        let watch = &config.watch;
        assert_eq!(watch.settle, Duration::from_secs(1));
        assert_eq!(watch.rescan_every, Duration::from_secs(3600));
        assert_eq!(watch.max_file_size, 1024 * 1024 * 1024);
        assert_eq!(watch.delete_grace, Duration::from_secs(2));
        assert_eq!(watch.settle_cap, Duration::from_secs(60));
        assert!(watch.ignore.is_empty());
        let alpha = &config.shares[0];
        assert_eq!(alpha.watcher, WatcherKind::Auto);
        assert_eq!(alpha.poll_every, Duration::from_secs(30));
        assert!(alpha.ignore.is_empty() && !alpha.create);
        assert!(config.retention.is_empty() && config.tokens.is_empty());
    }

    #[test]
    fn relative_paths_resolve_against_the_config_folder() {
        let site = Site::new();
        let absolute = site.root.join("shares/beta");
        let text = format!(
            "data_dir = \"../var/./data\"\n{}\n[[shares]]\nname = \"beta\"\npath = \"{}\"\n",
            ALPHA.replace("shares/alpha", "../shares/beta/../alpha/"),
            absolute.display(),
        );
        let file = site.root.join("etc/docvault.toml");
        let config = Config::from_toml(&text, &file).unwrap();
        assert_eq!(config.file, file);
        assert_eq!(config.data_dir, site.root.join("var/data"));
        assert_eq!(config.shares[0].path, site.root.join("shares/alpha"));
        assert_eq!(config.shares[1].path, absolute);
    }

    #[test]
    fn a_relative_config_path_is_made_absolute() {
        let site = Site::new();
        let text = ALPHA.replace(
            "shares/alpha",
            &site.root.join("shares/alpha").display().to_string(),
        );
        let config = Config::from_toml(&text, Path::new("./some/../docvault.toml")).unwrap();
        let cwd = std::env::current_dir().unwrap().canonicalize().unwrap();
        assert_eq!(config.file, cwd.join("docvault.toml"));
        assert_eq!(config.data_dir, cwd.join("docvault-data"));
    }

    #[test]
    fn share_folders_behind_symlinks_are_canonical() {
        let site = Site::new();
        std::os::unix::fs::symlink(site.root.join("shares"), site.root.join("link")).unwrap();
        let config = site.load(&ALPHA.replace("shares/alpha", "link/alpha"));
        assert_eq!(config.shares[0].path, site.root.join("shares/alpha"));
    }

    #[test]
    fn load_reads_the_file() {
        let site = Site::new();
        fs::write(site.file(), ALPHA).unwrap();
        let config = Config::load(&site.file()).unwrap();
        assert_eq!(config.shares[0].name, "alpha");
        assert_eq!(config.file, site.file());
    }

    #[test]
    fn load_names_a_missing_file() {
        let site = Site::new();
        let error = Config::load(&site.root.join("missing.toml")).unwrap_err();
        assert_eq!(
            site.hide_root(&error.to_string()),
            "$DIR/missing.toml: cannot read the config file: No such file or directory (os error 2)"
        );
    }

    #[test]
    fn locate_prefers_the_flag_then_the_first_existing_default() {
        let site = Site::new();
        let (a, b) = (site.root.join("a.toml"), site.root.join("b.toml"));
        fs::write(&b, "").unwrap();
        let flag = Path::new("given.toml");
        assert_eq!(
            locate_in(Some(flag), &[a.clone(), b.clone()]).unwrap(),
            flag
        );
        assert_eq!(locate_in(None, &[a.clone(), b.clone()]).unwrap(), b);
        fs::write(&a, "").unwrap();
        assert_eq!(locate_in(None, &[a.clone(), b]).unwrap(), a);
    }

    #[test]
    fn locate_names_every_default_when_none_exists() {
        let site = Site::new();
        let tried = [site.root.join("a.toml"), site.root.join("c.toml")];
        let error = locate_in(None, &tried).unwrap_err();
        assert_eq!(
            site.hide_root(&error.to_string()),
            "no config file: neither $DIR/a.toml nor $DIR/c.toml exists; pass --config FILE"
        );
        let tried = DEFAULT_CONFIG_PATHS.map(PathBuf::from).to_vec();
        assert_eq!(
            ConfigError::NotFound { tried }.to_string(),
            "no config file: neither ./docvault.toml nor /etc/docvault/docvault.toml exists; pass --config FILE"
        );
    }

    #[test]
    fn share_finds_by_name() {
        let site = Site::new();
        let config = site.load(ALPHA);
        assert_eq!(config.share("alpha").unwrap().name, "alpha");
        assert!(config.share("beta").is_none());
    }

    // --- TOML syntax, unknown keys, wrong types

    #[test]
    fn unknown_key_names_line_and_key() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha("[watch]\nsetle = \"1s\"\n")),
            "$DIR/docvault.toml: line 5: watch.setle: unknown field `setle`, expected one of \
             `settle`, `rescan_every`, `max_file_size`, `delete_grace`, `settle_cap`, `ignore`"
        );
    }

    #[test]
    fn unknown_key_in_a_share_names_its_index() {
        let site = Site::new();
        let text = format!(
            "{ALPHA}{}watch = \"poll\"\n",
            ALPHA.replace("alpha", "beta")
        );
        assert_eq!(
            site.error(&text),
            "$DIR/docvault.toml: line 7: shares[1].watch: unknown field `watch`, expected one of \
             `name`, `path`, `watcher`, `poll_every`, `ignore`, `create`"
        );
    }

    #[test]
    fn extract_limits_parse_and_default() {
        let site = Site::new();
        let config = site.load(&with_alpha(
            "[extract]\nworkers = 3\nmax_text = \"1MiB\"\ntimeout = \"5s\"\nmemory_limit = \"1GiB\"\n",
        ));
        assert_eq!(config.extract.workers, 3);
        assert_eq!(config.extract.limits.max_text, 1 << 20);
        assert_eq!(config.extract.limits.timeout, Duration::from_secs(5));
        assert_eq!(config.extract.limits.memory, 1 << 30);
        assert_eq!(config.extract.limits.max_unzipped, 512 << 20);
        let defaults = site.load(&with_alpha(""));
        assert_eq!(defaults.extract.workers, 2);
        assert_eq!(
            site.error(&with_alpha("[extract]\nmemory_limit = \"1MiB\"\n")),
            "$DIR/docvault.toml: extract.memory_limit: must be at least 64MiB (a worker needs room to start)"
        );
    }

    #[test]
    fn unknown_key_in_extract() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha("[extract]\nocr = true\n")),
            "$DIR/docvault.toml: line 5: extract.ocr: unknown field `ocr`, expected one of `workers`, \
             `max_input_size`, `max_unzipped_size`, `max_ratio`, `max_text`, `timeout`, `memory_limit`"
        );
    }

    #[test]
    fn unknown_top_level_key() {
        let site = Site::new();
        assert_eq!(
            site.error(&format!("datadir = \"x\"\n{ALPHA}")),
            "$DIR/docvault.toml: line 1: datadir: unknown field `datadir`, expected one of \
             `data_dir`, `server`, `watch`, `shares`, `retention`, `tokens`, `extract`"
        );
    }

    #[test]
    fn wrong_type_names_line_and_key() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha("[watch]\nsettle = 1\n")),
            "$DIR/docvault.toml: line 5: watch.settle: invalid type: integer `1`, expected a string"
        );
    }

    #[test]
    fn wrong_type_inside_an_array() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha("[watch]\nignore = [\"*.bak\", 3]\n")),
            "$DIR/docvault.toml: line 5: watch.ignore[1]: invalid type: integer `3`, expected a string"
        );
    }

    #[test]
    fn negative_keep_is_a_type_error() {
        let site = Site::new();
        let text = with_alpha("[[retention]]\nname = \"r\"\nkeep_last = -1\n");
        assert_eq!(
            site.error(&text),
            "$DIR/docvault.toml: line 6: retention[0].keep_last: invalid value: integer `-1`, expected u32"
        );
    }

    #[test]
    fn duplicate_key_shows_the_key() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha("[watch]\nsettle = \"1s\"\nsettle = \"2s\"\n")),
            "$DIR/docvault.toml: line 6: duplicate key (at `settle`)"
        );
    }

    #[test]
    fn toml_syntax_error_names_the_line() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha("[watch\nsettle = \"1s\"\n")),
            "$DIR/docvault.toml: line 4: unclosed table, expected `]`"
        );
    }

    // --- data_dir

    #[test]
    fn data_dir_inside_a_share() {
        let site = Site::new();
        assert_eq!(
            site.error(&format!("data_dir = \"shares/alpha/.docvault\"\n{ALPHA}")),
            "$DIR/docvault.toml: data_dir: $DIR/shares/alpha/.docvault is inside share \"alpha\" ($DIR/shares/alpha)"
        );
    }

    #[test]
    fn data_dir_same_as_a_share() {
        let site = Site::new();
        assert_eq!(
            site.error(&format!("data_dir = \"shares/alpha\"\n{ALPHA}")),
            "$DIR/docvault.toml: data_dir: $DIR/shares/alpha is the same folder as share \"alpha\""
        );
    }

    #[test]
    fn data_dir_containing_a_share() {
        let site = Site::new();
        assert_eq!(
            site.error(&format!("data_dir = \"shares\"\n{ALPHA}")),
            "$DIR/docvault.toml: data_dir: $DIR/shares contains share \"alpha\" ($DIR/shares/alpha)"
        );
    }

    #[test]
    fn empty_data_dir() {
        let site = Site::new();
        assert_eq!(
            site.error(&format!("data_dir = \"\"\n{ALPHA}")),
            "$DIR/docvault.toml: data_dir: must not be empty"
        );
    }

    // --- server

    #[test]
    fn bad_listen_address() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha("[server]\nlisten = \"x\"\n")),
            "$DIR/docvault.toml: server.listen: invalid address \"x\": invalid socket address syntax \
             (expected IP:PORT, like 127.0.0.1:8270)"
        );
    }

    // --- watch

    #[test]
    fn bad_duration() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha("[watch]\nsettle = \"fast\"\n")),
            "$DIR/docvault.toml: watch.settle: invalid duration \"fast\": expected number at 0"
        );
    }

    #[test]
    fn settle_of_zero() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha("[watch]\nsettle = \"0s\"\n")),
            "$DIR/docvault.toml: watch.settle: must be more than 0s and at most 1h, got 0s"
        );
    }

    #[test]
    fn settle_over_an_hour() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha(
                "[watch]\nsettle = \"2h\"\nsettle_cap = \"3h\"\n"
            )),
            "$DIR/docvault.toml: watch.settle: must be more than 0s and at most 1h, got 2h"
        );
    }

    #[test]
    fn settle_cap_below_settle() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha(
                "[watch]\nsettle = \"5s\"\nsettle_cap = \"2s\"\n"
            )),
            "$DIR/docvault.toml: watch.settle_cap: must be at least watch.settle (5s), got 2s"
        );
    }

    #[test]
    fn rescan_every_too_short() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha("[watch]\nrescan_every = \"500ms\"\n")),
            "$DIR/docvault.toml: watch.rescan_every: must be at least 1s, got 500ms"
        );
    }

    #[test]
    fn delete_grace_too_long() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha("[watch]\ndelete_grace = \"2h\"\n")),
            "$DIR/docvault.toml: watch.delete_grace: must be at most 1h, got 2h"
        );
    }

    #[test]
    fn max_file_size_accepts_strings_and_integers() {
        let site = Site::new();
        let size = |value: &str| {
            let text = with_alpha(&format!("[watch]\nmax_file_size = {value}\n"));
            site.load(&text).watch.max_file_size
        };
        assert_eq!(size("\"1GiB\""), 1 << 30);
        assert_eq!(size("\"500 MB\""), 500_000_000);
        assert_eq!(size("\"1024\""), 1024);
        assert_eq!(size("2048"), 2048);
    }

    #[test]
    fn bad_max_file_size() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha("[watch]\nmax_file_size = \"huge\"\n")),
            "$DIR/docvault.toml: watch.max_file_size: invalid size \"huge\": expected a number of bytes \
             or a size like \"500 MB\" or \"1GiB\""
        );
        assert_eq!(
            site.error(&with_alpha("[watch]\nmax_file_size = -5\n")),
            "$DIR/docvault.toml: watch.max_file_size: invalid size -5: expected a number of bytes \
             or a size like \"500 MB\" or \"1GiB\""
        );
    }

    #[test]
    fn zero_max_file_size() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha("[watch]\nmax_file_size = 0\n")),
            "$DIR/docvault.toml: watch.max_file_size: must be more than 0 bytes"
        );
    }

    #[test]
    fn bad_watch_ignore_glob() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha("[watch]\nignore = [\"[\"]\n")),
            "$DIR/docvault.toml: watch.ignore[0]: bad glob \"[\": unclosed character class; missing ']'"
        );
    }

    #[test]
    fn absolute_ignore_glob_never_matches() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha("[watch]\nignore = [\"/drafts/**\"]\n")),
            "$DIR/docvault.toml: watch.ignore[0]: \"/drafts/**\" never matches: globs apply to the \
             share-relative path, which has no leading '/'"
        );
    }

    // --- shares

    #[test]
    fn no_share() {
        let site = Site::new();
        assert_eq!(
            site.error("[server]\nlisten = \"127.0.0.1:1\"\n"),
            "$DIR/docvault.toml: shares: no share configured; add a [[shares]] table"
        );
    }

    #[test]
    fn bad_share_name() {
        let site = Site::new();
        assert_eq!(
            site.error(&ALPHA.replace("name = \"alpha\"", "name = \"Bad Name\"")),
            "$DIR/docvault.toml: shares[0].name: \"Bad Name\" is not a valid share name (lowercase \
             letters, digits, '-' and '_', up to 64, starting with a letter or digit)"
        );
    }

    #[test]
    fn share_name_rules() {
        assert!(is_share_name("alpha") && is_share_name("0-a_b") && is_share_name(&"a".repeat(64)));
        assert!(!is_share_name("") && !is_share_name("-a") && !is_share_name("_a"));
        assert!(
            !is_share_name("Alpha") && !is_share_name("a.b") && !is_share_name(&"a".repeat(65))
        );
        assert!(!is_share_name("a/b") && !is_share_name("ä"));
    }

    #[test]
    fn duplicate_share_name() {
        let site = Site::new();
        let beta = ALPHA.replace("alpha", "beta");
        let again = ALPHA.replace("shares/alpha", "shares");
        assert_eq!(
            site.error(&format!("{ALPHA}{beta}{again}")),
            "$DIR/docvault.toml: shares[2].name: duplicate share name \"alpha\" (also shares[0])"
        );
    }

    #[test]
    fn missing_share_name() {
        let site = Site::new();
        assert_eq!(
            site.error("[[shares]]\npath = \"shares/alpha\"\n"),
            "$DIR/docvault.toml: shares[0].name: missing (every share needs a name and a path)"
        );
    }

    #[test]
    fn missing_share_path() {
        let site = Site::new();
        assert_eq!(
            site.error("[[shares]]\nname = \"alpha\"\n"),
            "$DIR/docvault.toml: shares[0].path: missing (every share needs a name and a path)"
        );
    }

    #[test]
    fn missing_share_folder() {
        let site = Site::new();
        assert_eq!(
            site.error(&ALPHA.replace("shares/alpha", "shares/gone")),
            "$DIR/docvault.toml: shares[0].path: share folder $DIR/shares/gone does not exist \
             (create it, or set create = true)"
        );
    }

    #[test]
    fn missing_share_folder_with_create_is_accepted() {
        let site = Site::new();
        let text = ALPHA.replace("shares/alpha", "new/deep/alpha") + "create = true\n";
        let config = site.load(&text);
        assert_eq!(config.shares[0].path, site.root.join("new/deep/alpha"));
        assert!(!site.root.join("new").exists());
    }

    #[test]
    fn share_path_is_a_file() {
        let site = Site::new();
        fs::write(site.root.join("notes.txt"), "x").unwrap();
        assert_eq!(
            site.error(&ALPHA.replace("shares/alpha", "notes.txt")),
            "$DIR/docvault.toml: shares[0].path: $DIR/notes.txt is not a folder"
        );
    }

    #[test]
    fn share_inside_an_earlier_share() {
        let site = Site::new();
        fs::create_dir(site.root.join("shares/alpha/sub")).unwrap();
        let inner = ALPHA
            .replace("\"alpha\"", "\"inner\"")
            .replace("alpha\"", "alpha/sub\"");
        assert_eq!(
            site.error(&format!("{ALPHA}{inner}")),
            "$DIR/docvault.toml: shares[1].path: $DIR/shares/alpha/sub is inside share \"alpha\" ($DIR/shares/alpha)"
        );
    }

    #[test]
    fn share_inside_a_later_share() {
        let site = Site::new();
        let outer = ALPHA
            .replace("\"alpha\"", "\"outer\"")
            .replace("shares/alpha", "shares");
        assert_eq!(
            site.error(&format!("{ALPHA}{outer}")),
            "$DIR/docvault.toml: shares[0].path: $DIR/shares/alpha is inside share \"outer\" ($DIR/shares)"
        );
    }

    #[test]
    fn two_shares_on_the_same_folder() {
        let site = Site::new();
        let twin = ALPHA
            .replace("\"alpha\"", "\"twin\"")
            .replace("shares/alpha", "./shares/beta/../alpha");
        assert_eq!(
            site.error(&format!("{ALPHA}{twin}")),
            "$DIR/docvault.toml: shares[1].path: $DIR/shares/alpha is the same folder as share \"alpha\""
        );
    }

    #[test]
    fn unknown_watcher() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha("watcher = \"inotify\"\n")),
            "$DIR/docvault.toml: shares[0].watcher: unknown watcher \"inotify\" (expected auto, native or poll)"
        );
    }

    #[test]
    fn poll_every_too_short() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha("poll_every = \"10ms\"\n")),
            "$DIR/docvault.toml: shares[0].poll_every: must be at least 100ms, got 10ms"
        );
    }

    #[test]
    fn bad_share_ignore_glob() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha("ignore = [\"drafts/**\", \"[\"]\n")),
            "$DIR/docvault.toml: shares[0].ignore[1]: bad glob \"[\": unclosed character class; missing ']'"
        );
    }

    // --- retention

    fn rule(body: &str) -> String {
        with_alpha(&format!("[[retention]]\nname = \"records\"\n{body}"))
    }

    #[test]
    fn retention_unknown_share() {
        let site = Site::new();
        assert_eq!(
            site.error(&rule("shares = [\"alpha\", \"gamma\"]\nkeep_last = 3\n")),
            "$DIR/docvault.toml: retention[0].shares[1]: unknown share \"gamma\""
        );
    }

    #[test]
    fn retention_empty_shares() {
        let site = Site::new();
        assert_eq!(
            site.error(&rule("shares = []\nkeep_last = 3\n")),
            "$DIR/docvault.toml: retention[0].shares: must not be empty (omit it for every share)"
        );
    }

    #[test]
    fn retention_bad_path_glob() {
        let site = Site::new();
        assert_eq!(
            site.error(&rule("paths = [\"a/{b\"]\nkeep_last = 3\n")),
            "$DIR/docvault.toml: retention[0].paths[0]: bad glob \"a/{b\": unclosed alternate group; \
             missing '}' (maybe escape '{' with '[{]'?)"
        );
    }

    #[test]
    fn retention_empty_paths() {
        let site = Site::new();
        assert_eq!(
            site.error(&rule("paths = []\nkeep_last = 3\n")),
            "$DIR/docvault.toml: retention[0].paths: must not be empty (omit it to match every path)"
        );
    }

    #[test]
    fn retention_keep_of_zero() {
        let site = Site::new();
        assert_eq!(
            site.error(&rule("keep_last = 3\nkeep_daily = 0\n")),
            "$DIR/docvault.toml: retention[0].keep_daily: must be at least 1, got 0"
        );
    }

    #[test]
    fn retention_rule_without_a_keep() {
        let site = Site::new();
        assert_eq!(
            site.error(&rule("paths = [\"**/*.pdf\"]\n")),
            "$DIR/docvault.toml: retention[0]: a rule needs keep_last, keep_hourly/daily/weekly/monthly or retain_for"
        );
    }

    #[test]
    fn retention_auto_dispose() {
        let site = Site::new();
        assert_eq!(
            site.error(&rule("keep_last = 1\nauto_dispose = \"1d\"\n")),
            "$DIR/docvault.toml: retention[0].auto_dispose: needs retain_for: without it nothing \
             under this rule is ever due"
        );
        assert_eq!(
            site.error(&rule("retain_for = \"1d\"\nauto_dispose = \"0s\"\n")),
            "$DIR/docvault.toml: retention[0].auto_dispose: must be a positive interval (omit it \
             to dispose only on request)"
        );
    }

    #[test]
    fn retention_bad_retain_for() {
        let site = Site::new();
        assert_eq!(
            site.error(&rule("retain_for = \"7\"\n")),
            "$DIR/docvault.toml: retention[0].retain_for: invalid duration \"7\": time unit needed, \
             for example 7sec or 7ms"
        );
    }

    #[test]
    fn retention_missing_or_empty_name() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha("[[retention]]\nkeep_last = 1\n")),
            "$DIR/docvault.toml: retention[0].name: missing (every rule needs a name)"
        );
        assert_eq!(
            site.error(&with_alpha("[[retention]]\nname = \"\"\nkeep_last = 1\n")),
            "$DIR/docvault.toml: retention[0].name: must not be empty"
        );
    }

    #[test]
    fn retention_duplicate_name() {
        let site = Site::new();
        let second = "[[retention]]\nname = \"records\"\nretain_for = \"1y\"\n";
        assert_eq!(
            site.error(&(rule("keep_last = 3\n") + second)),
            "$DIR/docvault.toml: retention[1].name: duplicate rule name \"records\" (also retention[0])"
        );
    }

    // --- tokens

    fn token(name: &str, role: &str, sha256: &str) -> String {
        format!("[[tokens]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{sha256}\"\n")
    }

    #[test]
    fn token_hash_of_the_wrong_length() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha(&token("pmo", "editor", "0123456789ab"))),
            "$DIR/docvault.toml: tokens[0].sha256: expected 64 hex characters (the SHA-256 of the token), got 12"
        );
    }

    #[test]
    fn token_hash_not_hex() {
        let site = Site::new();
        let hash = format!("{}zz", &sha256_hex("x")[..62]);
        assert_eq!(
            site.error(&with_alpha(&token("pmo", "editor", &hash))),
            "$DIR/docvault.toml: tokens[0].sha256: expected 64 hex characters (the SHA-256 of the token), got 'z'"
        );
    }

    #[test]
    fn token_unknown_role() {
        let site = Site::new();
        assert_eq!(
            site.error(&with_alpha(&token("pmo", "boss", &sha256_hex("x")))),
            "$DIR/docvault.toml: tokens[0].role: unknown role \"boss\" (expected reader, editor or admin)"
        );
    }

    #[test]
    fn token_missing_or_empty_name() {
        let site = Site::new();
        let text = with_alpha(&format!(
            "[[tokens]]\nrole = \"reader\"\nsha256 = \"{}\"\n",
            sha256_hex("x")
        ));
        assert_eq!(
            site.error(&text),
            "$DIR/docvault.toml: tokens[0].name: missing (every token needs a name, a role and a sha256)"
        );
        assert_eq!(
            site.error(&with_alpha(&token("", "reader", &sha256_hex("x")))),
            "$DIR/docvault.toml: tokens[0].name: must not be empty"
        );
    }

    #[test]
    fn token_duplicate_name() {
        let site = Site::new();
        let tokens =
            token("pmo", "reader", &sha256_hex("a")) + &token("pmo", "admin", &sha256_hex("b"));
        assert_eq!(
            site.error(&with_alpha(&tokens)),
            "$DIR/docvault.toml: tokens[1].name: duplicate token name \"pmo\" (also tokens[0])"
        );
    }

    #[test]
    fn token_duplicate_hash() {
        let site = Site::new();
        let upper = sha256_hex("a").to_uppercase();
        let tokens = token("pmo", "reader", &sha256_hex("a")) + &token("ops", "admin", &upper);
        assert_eq!(
            site.error(&with_alpha(&tokens)),
            "$DIR/docvault.toml: tokens[1].sha256: duplicate token hash (also tokens[0]); every token \
             needs its own secret"
        );
    }

    #[test]
    fn roles_are_ordered_and_parse() {
        assert!(Role::Reader < Role::Editor && Role::Editor < Role::Admin);
        assert_eq!("admin".parse::<Role>(), Ok(Role::Admin));
        assert_eq!(Role::Editor.to_string(), "editor");
        assert_eq!(serde_json::to_string(&Role::Reader).unwrap(), "\"reader\"");
    }

    // --- ignore rules

    fn ignore_set(user: &[&str]) -> GlobSet {
        let site = Site::new();
        let config = site.load(ALPHA);
        let share = ShareConfig {
            ignore: user.iter().map(|g| g.to_string()).collect(),
            ..config.shares[0].clone()
        };
        config.watch.ignore_set(&share)
    }

    #[test]
    fn builtin_ignores_match_temp_and_lock_files() {
        let set = ignore_set(&[]);
        for path in [
            "~$budget.xlsx",
            ".~lock.plan.odt#",
            "lu12345.tmp",
            "~WRL0001.tmp",
            ".plan.txt.swp",
            ".plan.txt.swx",
            "plan.txt~",
            ".#plan.txt",
            "4913",
            "big.iso.part",
            "setup.exe.crdownload",
            "sub/dir/Thumbs.db",
            "sub/thumbs.db",
            ".DS_Store",
            "._x",
            "desktop.ini",
            ".plan.docx.Ab12Cd",
            "deep/in/.plan.docx.Ab12Cd",
        ] {
            assert!(is_ignored(&set, path), "{path} should be ignored");
        }
    }

    #[test]
    fn builtin_ignores_leave_documents_alone() {
        let set = ignore_set(&[]);
        for path in [
            "plan.txt",
            "budget 2026.xlsx",
            "sub/4913x",
            "-leading.txt",
            ".hidden.md",
            ".plan.docx.Ab12C",
            "..Ab12Cd",
            ".notes.backup",
            "tmp/plan.txt",
            ".sw/plan.txt",
        ] {
            assert!(!is_ignored(&set, path), "{path} should not be ignored");
        }
    }

    #[test]
    fn user_globs_match_the_whole_relative_path() {
        let set = ignore_set(&["drafts/**"]);
        assert!(is_ignored(&set, "drafts/a/b.txt"));
        assert!(!is_ignored(&set, "x/drafts/b.txt"));
        let set = ignore_set(&["*.bak"]);
        assert!(is_ignored(&set, "old.bak"));
        assert!(!is_ignored(&set, "sub/old.bak"), "* does not cross /");
    }

    #[test]
    fn watch_and_share_globs_both_apply() {
        let site = Site::new();
        let config = site.load(&with_alpha(
            "ignore = [\"drafts/**\"]\n[watch]\nignore = [\"**/*.bak\"]\n",
        ));
        let set = config.watch.ignore_set(&config.shares[0]);
        assert!(is_ignored(&set, "drafts/plan.txt"));
        assert!(is_ignored(&set, "sub/old.bak"));
        assert!(!is_ignored(&set, "plan.txt"));
    }

    #[test]
    fn is_builtin_ignored_checks_file_names() {
        assert!(is_builtin_ignored("Thumbs.db") && is_builtin_ignored("~$a.docx"));
        assert!(is_builtin_ignored(".report.pdf.x9Y8z7"));
        assert!(!is_builtin_ignored("report.pdf") && !is_builtin_ignored(".hidden.md"));
    }

    proptest::proptest! {
        #[test]
        fn any_text_gives_a_config_or_an_error_never_a_panic(text in "\\PC{0,200}") {
            let _ = Config::from_toml(&text, Path::new("/nonexistent/docvault.toml"));
        }

        #[test]
        fn tomlish_text_never_panics(text in "(\\[+[a-z_]{0,8}\\]+\n|[a-z_.]{1,12} = (\"[^\"]{0,12}\"|[0-9]{1,4}|\\[\\])\n){0,8}") {
            let _ = Config::from_toml(&text, Path::new("/nonexistent/docvault.toml"));
        }
    }
}
