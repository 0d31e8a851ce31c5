//! `TestDaemon`: the real `docvault` binary, run against a temp folder.
//!
//! A test builds one with `TestDaemon::new().share("alpha").start()`: that
//! makes a temp folder holding `shares/<name>/` and `data/`, writes
//! `docvault.toml` (listening on port 0, short watch timings), spawns
//! `docvault serve`, reads the bound address from its one stdout line and
//! polls `/readyz` until the start-up scan is committed. The daemon's stderr
//! goes to `daemon.log` in the temp folder; every wait that times out, and
//! every test that panics while the daemon is alive, prints its tail. Drop
//! kills the daemon.
//!
//! Effects are waited for by polling with a deadline ([`TestDaemon::wait_for`]),
//! never by sleeping a fixed time. HTTP goes through [`http_get`], a tiny
//! HTTP/1.1 client on `std::net::TcpStream`, so the tests need no async
//! runtime and send paths exactly as written (`..` included).

#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_docvault");

/// How long an effect may take before a wait fails. Generous: the tests run
/// in parallel on a small machine; they normally finish far sooner.
pub const WAIT: Duration = Duration::from_secs(15);

/// How long start-up (address line, then `/readyz`) may take.
const START: Duration = Duration::from_secs(30);

/// How long the daemon may take to exit after a signal.
const EXIT: Duration = Duration::from_secs(20);

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(25);

/// The uid and gid of `nobody`, for the tests that need a non-root daemon.
const NOBODY: u32 = 65534;

/// A daemon under test and the temp folder it works in.
pub struct TestDaemon {
    tmp: tempfile::TempDir,
    root: PathBuf,
    shares: Vec<String>,
    settle: String,
    delete_grace: String,
    rescan_every: String,
    extra_config: String,
    as_nobody: bool,
    token: Option<String>,
    env: Vec<(String, String)>,
    child: Option<Child>,
    addr: Option<SocketAddr>,
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", self.text()))
    }
}

impl TestDaemon {
    /// A daemon to be: a temp folder, settle 200ms, delete grace 600ms.
    pub fn new() -> TestDaemon {
        let tmp = tempfile::Builder::new()
            .prefix("docvault-test-")
            .tempdir()
            .expect("create temp dir");
        let root = tmp.path().canonicalize().expect("canonical temp dir");
        TestDaemon {
            tmp,
            root,
            shares: Vec::new(),
            settle: "200ms".into(),
            delete_grace: "600ms".into(),
            rescan_every: "1h".into(),
            extra_config: String::new(),
            as_nobody: false,
            token: None,
            env: Vec::new(),
            child: None,
            addr: None,
        }
    }

    /// Adds a share `name` at `shares/<name>` (created now, empty).
    pub fn share(mut self, name: &str) -> TestDaemon {
        fs::create_dir_all(self.root.join("shares").join(name)).expect("create share folder");
        self.shares.push(name.to_owned());
        self
    }

    pub fn settle(mut self, settle: &str) -> TestDaemon {
        self.settle = settle.to_owned();
        self
    }

    pub fn delete_grace(mut self, grace: &str) -> TestDaemon {
        self.delete_grace = grace.to_owned();
        self
    }

    pub fn rescan_every(mut self, every: &str) -> TestDaemon {
        self.rescan_every = every.to_owned();
        self
    }

    /// TOML appended to the generated config.
    pub fn config(mut self, toml: &str) -> TestDaemon {
        self.extra_config.push_str(toml);
        self
    }

    /// Runs the daemon as `nobody` (through `setpriv`), with the temp folder
    /// open to everyone, so that file permissions mean something.
    pub fn run_as_nobody(mut self) -> TestDaemon {
        self.as_nobody = true;
        self
    }

    /// Configures API tokens (`[[tokens]]` with these names, roles and
    /// secrets); the test's own requests then carry `default`'s secret.
    pub fn tokens(mut self, tokens: &[(&str, &str, &str)], default: &str) -> TestDaemon {
        for (name, role, secret) in tokens {
            self.extra_config.push_str(&format!(
                "\n[[tokens]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{}\"\n",
                sha256_hex(secret)
            ));
        }
        self.token = Some(default.to_owned());
        self
    }

    /// Sets an environment variable for the daemon (from the next start on).
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.env.retain(|(k, _)| k != key);
        if let Some(v) = value {
            self.env.push((key.to_owned(), v.to_owned()));
        }
    }

    /// The bearer token the test's requests carry, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Writes the config, spawns the daemon and waits until it is ready.
    pub fn start(mut self) -> TestDaemon {
        if self.shares.is_empty() {
            self = self.share("alpha");
        }
        fs::create_dir_all(self.root.join("data")).expect("create data dir");
        fs::write(self.config_path(), self.config_text()).expect("write config");
        if self.as_nobody {
            self.open_to_everyone();
        }
        self.spawn();
        self
    }

    /// The temp folder everything lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config_path(&self) -> PathBuf {
        self.root.join("docvault.toml")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    pub fn archive(&self) -> PathBuf {
        self.data_dir().join("archive.git")
    }

    pub fn share_dir(&self, share: &str) -> PathBuf {
        self.root.join("shares").join(share)
    }

    /// `shares/<share>/<rel>`.
    pub fn path(&self, share: &str, rel: &str) -> PathBuf {
        self.share_dir(share).join(rel)
    }

    /// Writes a file into a share, creating its folders.
    pub fn write(&self, share: &str, rel: &str, bytes: impl AsRef<[u8]>) {
        let path = self.path(share, rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent folders");
        }
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    pub fn rename(&self, share: &str, from: &str, to: &str) {
        fs::rename(self.path(share, from), self.path(share, to))
            .unwrap_or_else(|e| panic!("rename {from} -> {to}: {e}"));
    }

    pub fn remove(&self, share: &str, rel: &str) {
        fs::remove_file(self.path(share, rel)).unwrap_or_else(|e| panic!("remove {rel}: {e}"));
    }

    /// The daemon's address; panics if it is not running.
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("the daemon is running")
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// GET `route` (already percent-encoded), with the default token if any.
    pub fn request(&self, route: &str) -> Response {
        self.send("GET", route, None)
    }

    /// `method route` with the default token (if any) and a JSON body.
    pub fn send(&self, method: &str, route: &str, json: Option<&Value>) -> Response {
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        self.send_as(method, route, auth.as_deref(), json)
    }

    /// `method route` with this `Authorization` header (or none) and a JSON body.
    pub fn send_as(
        &self,
        method: &str,
        route: &str,
        authorization: Option<&str>,
        json: Option<&Value>,
    ) -> Response {
        let mut headers = Vec::new();
        if let Some(a) = authorization {
            headers.push(("Authorization", a));
        }
        let body = json.map(|j| j.to_string());
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        http(
            self.addr(),
            method,
            route,
            &headers,
            body.as_deref().map(str::as_bytes),
        )
        .unwrap_or_else(|e| panic!("{method} {route}: {e}\n{}", self.log_tail()))
    }

    /// GET `route`: status and body.
    pub fn get(&self, route: &str) -> (u16, Vec<u8>) {
        let r = self.request(route);
        (r.status, r.body)
    }

    /// GET `route`: status and the body as JSON.
    pub fn get_json(&self, route: &str) -> (u16, Value) {
        let r = self.request(route);
        (r.status, r.json())
    }

    /// A document's versions, newest first; empty when it has none (404).
    pub fn history(&self, share: &str, path: &str) -> Vec<Value> {
        let route = format!("/api/v1/shares/{share}/history/{}", encode_path(path));
        let (status, body) = self.get_json(&route);
        match status {
            200 => body["versions"].as_array().cloned().unwrap_or_default(),
            404 => Vec::new(),
            _ => panic!("GET {route}: {status} {body}\n{}", self.log_tail()),
        }
    }

    /// The `event` of each version, oldest first.
    pub fn events(&self, share: &str, path: &str) -> Vec<String> {
        let mut events: Vec<String> = self
            .history(share, path)
            .iter()
            .map(|v| v["event"].as_str().unwrap_or("?").to_owned())
            .collect();
        events.reverse();
        events
    }

    /// The bytes of a document's version (the current one for `None`).
    pub fn file(&self, share: &str, path: &str, version: Option<u32>) -> Response {
        let mut route = format!("/api/v1/shares/{share}/files/{}", encode_path(path));
        if let Some(v) = version {
            route.push_str(&format!("?version={v}"));
        }
        self.request(&route)
    }

    /// Every document of a share (`deleted=true` includes deleted ones), walking all pages.
    pub fn documents(&self, share: &str, deleted: bool) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut route = format!("/api/v1/shares/{share}/documents?limit=1000");
            if deleted {
                route.push_str("&deleted=true");
            }
            if let Some(c) = &cursor {
                route.push_str(&format!("&cursor={c}"));
            }
            let (status, body) = self.get_json(&route);
            assert_eq!(status, 200, "GET {route}: {body}");
            all.extend(body["documents"].as_array().cloned().unwrap_or_default());
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return all,
            }
        }
    }

    /// The paths of [`TestDaemon::documents`].
    pub fn document_paths(&self, share: &str, deleted: bool) -> Vec<String> {
        self.documents(share, deleted)
            .iter()
            .map(|d| d["path"].as_str().unwrap_or("?").to_owned())
            .collect()
    }

    /// Polls `cond` until it holds; after [`WAIT`] panics with `what` and the log tail.
    pub fn wait_for(&self, cond: impl FnMut() -> bool, what: &str) {
        self.wait_for_within(WAIT, cond, what);
    }

    pub fn wait_for_within(&self, within: Duration, mut cond: impl FnMut() -> bool, what: &str) {
        let deadline = Instant::now() + within;
        loop {
            if cond() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "timed out after {within:?} waiting for {what}\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits until the document has `n` versions; returns them, newest first.
    pub fn wait_versions(&self, share: &str, path: &str, n: usize) -> Vec<Value> {
        let mut last = Vec::new();
        self.wait_for(
            || {
                last = self.history(share, path);
                last.len() >= n
            },
            &format!("{share}/{path} to have {n} version(s)"),
        );
        last
    }

    /// SIGTERM, then the exit status (waited for with a deadline).
    pub fn stop(&mut self) -> ExitStatus {
        let pid = self.child.as_ref().expect("the daemon is running").id();
        signal(pid, "TERM");
        self.reap()
    }

    /// SIGKILL, then the exit status.
    pub fn kill(&mut self) -> ExitStatus {
        let child = self.child.as_mut().expect("the daemon is running");
        child.kill().expect("SIGKILL the daemon");
        self.reap()
    }

    /// Stops the daemon if it runs (asserting a clean exit), then starts it again.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            let status = self.stop();
            assert!(status.success(), "daemon exited with {status} on SIGTERM");
        }
        self.spawn();
    }

    /// Waits for the daemon to exit on its own (a crash); its exit status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        self.reap()
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the daemon is running").id()
    }

    /// Whether the daemon process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().expect("try_wait").is_none())
    }

    /// Runs `docvault --config <this config> ARGS` against this daemon
    /// (`DOCVAULT_URL` points at it).
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config").arg(self.config_path()).args(args);
        if let Some(addr) = self.addr {
            cmd.env("DOCVAULT_URL", format!("http://{addr}"));
        }
        match &self.token {
            Some(t) => cmd.env("DOCVAULT_TOKEN", t),
            None => cmd.env_remove("DOCVAULT_TOKEN"),
        };
        cmd.output().expect("run docvault")
    }

    /// The last lines of the daemon's stderr, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(80)..].join("\n");
        format!(
            "--- daemon log ({}), last {} lines ---\n{tail}\n--- end of daemon log ---",
            self.log_path().display(),
            lines.len().min(80)
        )
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.root.join("daemon.log")
    }

    fn config_text(&self) -> String {
        let mut text = format!(
            "data_dir = \"data\"\n\n[server]\nlisten = \"127.0.0.1:0\"\n\n[watch]\n\
             settle = \"{}\"\ndelete_grace = \"{}\"\nrescan_every = \"{}\"\n",
            self.settle, self.delete_grace, self.rescan_every
        );
        for share in &self.shares {
            text.push_str(&format!(
                "\n[[shares]]\nname = \"{share}\"\npath = \"shares/{share}\"\n"
            ));
        }
        text.push_str(&self.extra_config);
        text
    }

    /// chmod 0777 on the temp folder, `shares/`, every share and `data/`.
    fn open_to_everyone(&self) {
        use std::os::unix::fs::PermissionsExt;
        let mut dirs = vec![self.root.clone(), self.root.join("shares"), self.data_dir()];
        dirs.extend(self.shares.iter().map(|s| self.share_dir(s)));
        for dir in dirs {
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o777))
                .unwrap_or_else(|e| panic!("chmod 0777 {}: {e}", dir.display()));
        }
    }

    fn command(&self) -> Command {
        let mut cmd = if self.as_nobody {
            let mut cmd = Command::new("setpriv");
            cmd.arg(format!("--reuid={NOBODY}"))
                .arg(format!("--regid={NOBODY}"))
                .arg("--clear-groups")
                .arg("--")
                .arg(BIN);
            // nobody cannot read root's home; give it one it can.
            cmd.env("HOME", &self.root);
            cmd
        } else {
            Command::new(BIN)
        };
        cmd.arg("serve").arg("--config").arg(self.config_path());
        cmd.env("DOCVAULT_LOG", "docvault=debug,tower_http=info");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Spawns the daemon, reads its address, waits for `/readyz`.
    fn spawn(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open daemon log");
        writeln!(&log, "=== test: starting docvault serve ===").expect("write daemon log");
        let mut child = match self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
        {
            Ok(child) => child,
            Err(e) if self.as_nobody && e.kind() == std::io::ErrorKind::NotFound => panic!(
                "this test runs the daemon as nobody through `setpriv`, which is not installed \
                 (apt-get install util-linux): {e}"
            ),
            Err(e) => panic!("cannot spawn {BIN}: {e}"),
        };
        let stdout = child.stdout.take().expect("piped stdout");
        self.child = Some(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep the pipe open (and drained) for the daemon's lifetime.
            for _ in lines {}
        });
        let line = match rx.recv_timeout(START) {
            Ok(line) => line,
            Err(e) => panic!(
                "no address line from the daemon within {START:?} ({e}); it exited: {:?}\n{}",
                self.child.as_mut().map(|c| c.try_wait()),
                self.log_tail()
            ),
        };
        let addr = line
            .strip_prefix("listening on http://")
            .and_then(|a| a.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first stdout line {line:?}"));
        self.addr = Some(addr);
        self.wait_for_within(
            START,
            || http_get(addr, "/readyz").is_ok_and(|r| r.status == 200),
            "GET /readyz to answer 200",
        );
    }

    fn reap(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("the daemon is running");
        self.addr = None;
        let deadline = Instant::now() + EXIT;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the daemon did not exit within {EXIT:?}\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
            if std::env::var_os("DOCVAULT_TEST_KEEP").is_some() {
                eprintln!("keeping {}", self.tmp.path().display());
                self.tmp.disable_cleanup(true);
            }
        }
    }
}

/// Sends `SIG<name>` to `pid` with kill(1).
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// A blocking HTTP/1.1 GET with `Connection: close`; `route` is sent as is.
pub fn http_get(addr: SocketAddr, route: &str) -> std::io::Result<Response> {
    http(addr, "GET", route, &[], None)
}

/// A blocking HTTP/1.1 request with `Connection: close`; `route` is sent as
/// is, `body` (if any) with its Content-Length.
pub fn http(
    addr: SocketAddr,
    method: &str,
    route: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut head = format!(
        "{method} {route} HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\nConnection: close\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if let Some(body) = body {
        stream.write_all(body)?;
    }
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw, method == "HEAD")
}

fn parse_response(raw: &[u8], head_only: bool) -> std::io::Result<Response> {
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_owned());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("headers are not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut response = Response {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    };
    if head_only {
        return Ok(response);
    }
    if response
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        response.body = dechunk(&response.body).ok_or_else(|| bad("bad chunked body"))?;
    } else if let Some(len) = response.header("content-length") {
        let len: usize = len.parse().map_err(|_| bad("bad content-length"))?;
        if response.body.len() != len {
            return Err(bad(&format!(
                "body has {} bytes, content-length says {len}",
                response.body.len()
            )));
        }
    }
    Ok(response)
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

/// Percent-encodes each `/`-separated segment of a path for a URL.
pub fn encode_path(path: &str) -> String {
    path.split('/').map(encode).collect::<Vec<_>>().join("/")
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(Sha256::digest(bytes.as_ref()))
}

/// Every regular file under `dir` (relative path → bytes), skipping `.git`.
pub fn tree_files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let walker = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git");
    for entry in walker {
        let entry = entry.expect("walk tree");
        if entry.file_type().is_file() {
            let rel = entry
                .path()
                .strip_prefix(dir)
                .expect("under dir")
                .to_str()
                .expect("UTF-8 path")
                .to_owned();
            files.insert(rel, fs::read(entry.path()).expect("read file"));
        }
    }
    files
}

/// Runs `docvault ARGS` with no daemon (e.g. `check-config`).
pub fn docvault(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run docvault")
}

/// Runs `git ARGS`; panics with its output when it fails.
pub fn git(args: &[&str]) -> Output {
    let out = Command::new("git")
        .args(args)
        .output()
        .expect("run git (is it installed?)");
    assert!(
        out.status.success(),
        "git {args:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
