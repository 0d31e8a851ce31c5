//! The sandbox: extraction in worker processes, so that a parser's panic,
//! stack overflow, runaway allocation or endless loop ends as a `failed`
//! status for that one version and never reaches the daemon.
//!
//! A worker is the docvault binary itself in the hidden `extract-worker`
//! subcommand. It caps its own address space (`RLIMIT_AS`), keeps its real
//! stdout for the protocol (anything a library prints goes to stderr), and
//! answers one request at a time: a length-prefixed JSON header (name,
//! limits) and the bytes in, a length-prefixed JSON [`Extracted`] out. The
//! daemon side, [`Worker`], waits at most `limits.timeout` for an answer,
//! kills a worker that overran, and starts a fresh one for the next file.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};

use serde::{Deserialize, Serialize};

use super::{Extracted, Limits, Status, detect};

/// Largest answer a worker may send (the text limit plus room for JSON escaping).
fn max_answer(limits: &Limits) -> usize {
    limits.max_text * 6 + (1 << 20)
}

#[derive(Debug, Serialize, Deserialize)]
struct Request {
    name: String,
    limits: Limits,
    size: u64,
}

/// A worker process on the daemon's side.
pub struct Worker {
    exe: PathBuf,
    limits: Limits,
    faults: bool,
    live: Option<Live>,
}

struct Live {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    answers: Receiver<io::Result<Vec<u8>>>,
}

impl Worker {
    /// A worker that runs `exe extract-worker` (started on first use).
    pub fn new(exe: PathBuf, limits: Limits) -> Worker {
        Worker {
            exe,
            limits,
            faults: false,
            live: None,
        }
    }

    /// Arms fault injection in the workers (for the sandbox's own tests).
    pub fn with_faults(mut self) -> Worker {
        self.faults = true;
        self
    }

    /// The current binary as worker executable.
    pub fn current_exe(limits: Limits) -> io::Result<Worker> {
        Ok(Worker::new(std::env::current_exe()?, limits))
    }

    /// Extracts `data` in the worker; every failure becomes a status.
    pub fn extract(&mut self, data: &[u8], name: &str) -> Extracted {
        let mime = detect::detect(data, name).mime().to_owned();
        let failed = |reason: String| Extracted {
            text: String::new(),
            title: None,
            author: None,
            mime: mime.clone(),
            status: Status::Failed(reason),
        };
        if data.len() as u64 > self.limits.max_input {
            return Extracted {
                status: Status::Refused("input size over limit".into()),
                ..failed(String::new())
            };
        }
        let answer = match self.ask(data, name) {
            Ok(answer) => answer,
            Err(reason) => return failed(reason),
        };
        serde_json::from_slice(&answer)
            .unwrap_or_else(|e| failed(format!("worker sent a bad answer: {e}")))
    }

    fn ask(&mut self, data: &[u8], name: &str) -> Result<Vec<u8>, String> {
        let limits = self.limits;
        let live = match &mut self.live {
            Some(live) => live,
            None => {
                let live = spawn(&self.exe, &limits, self.faults)
                    .map_err(|e| format!("cannot start worker: {e}"))?;
                self.live.insert(live)
            }
        };
        let request = Request {
            name: name.to_owned(),
            limits,
            size: data.len() as u64,
        };
        let sent = send(&mut live.stdin, &request, data);
        let answer = match sent {
            Ok(()) => live.answers.recv_timeout(limits.timeout),
            Err(_) => Err(RecvTimeoutError::Disconnected),
        };
        match answer {
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => Err(self.bury("worker died")),
            Err(RecvTimeoutError::Timeout) => {
                let secs = limits.timeout.as_secs_f64();
                Err(self.bury(&format!("timed out after {secs}s")))
            }
        }
    }

    /// Kills and reaps the worker; says how it ended.
    fn bury(&mut self, what: &str) -> String {
        let Some(mut live) = self.live.take() else {
            return what.to_owned();
        };
        let _ = live.child.kill();
        match live.child.wait() {
            Ok(status) if what == "worker died" => {
                let mib = self.limits.memory >> 20;
                format!("{what} ({status}; memory limit {mib} MiB)")
            }
            _ => what.to_owned(),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut live) = self.live.take() {
            drop(live.stdin);
            let _ = live.child.kill();
            let _ = live.child.wait();
        }
    }
}

fn spawn(exe: &PathBuf, limits: &Limits, faults: bool) -> io::Result<Live> {
    let mut command = Command::new(exe);
    if faults {
        command.env("DOCVAULT_EXTRACT_FAULTS", "1");
    }
    let mut child = command
        .args(["extract-worker", "--memory", &limits.memory.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdin = BufWriter::new(child.stdin.take().expect("stdin is piped"));
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, answers) = channel();
    let max = max_answer(limits);
    std::thread::Builder::new()
        .name("extract-answers".into())
        .spawn(move || {
            let mut stdout = BufReader::new(stdout);
            loop {
                let answer = read_frame(&mut stdout, max);
                let end = answer.is_err();
                if tx.send(answer).is_err() || end {
                    return;
                }
            }
        })?;
    Ok(Live {
        child,
        stdin,
        answers,
    })
}

fn send(out: &mut impl Write, request: &Request, data: &[u8]) -> io::Result<()> {
    let header = serde_json::to_vec(request).map_err(io::Error::other)?;
    out.write_all(&(header.len() as u32).to_le_bytes())?;
    out.write_all(&header)?;
    out.write_all(data)?;
    out.flush()
}

fn read_frame(input: &mut impl Read, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(io::Error::other(format!(
            "frame of {len} bytes is over the limit"
        )));
    }
    let mut buf = vec![0u8; len];
    input.read_exact(&mut buf)?;
    Ok(buf)
}

/// The worker process: `docvault extract-worker --memory BYTES`.
pub fn worker_main(memory: u64) -> anyhow::Result<()> {
    use nix::sys::resource::{Resource, setrlimit};
    setrlimit(Resource::RLIMIT_AS, memory, memory)?;
    // Extraction is background work: when the CPUs are busy, versioning
    // (the daemon's writer) and the API go first.
    rustix::process::nice(crate::background::NICE)?;
    // A worker never outlives the daemon, even one stuck in a parser.
    // (Orphaned before this line, it reads EOF on stdin and exits.)
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
    // A stop signal sent to the whole group (systemd, timeout, Ctrl-C) is for
    // the daemon, which finishes its work and then ends the workers.
    let mut stop = nix::sys::signal::SigSet::empty();
    stop.add(nix::sys::signal::Signal::SIGTERM);
    stop.add(nix::sys::signal::Signal::SIGINT);
    stop.thread_block()?;
    // The protocol keeps the real stdout; whatever a parser prints lands on stderr.
    let protocol = std::fs::File::from(nix::unistd::dup(io::stdout())?);
    nix::unistd::dup2_stdout(io::stderr())?;
    std::panic::set_hook(Box::new(|_| {}));
    let faults = std::env::var_os("DOCVAULT_EXTRACT_FAULTS").is_some();
    let mut input = BufReader::new(io::stdin().lock());
    let mut output = BufWriter::new(protocol);
    loop {
        let header = match read_frame(&mut input, 1 << 20) {
            Ok(h) => h,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let request: Request = serde_json::from_slice(&header)?;
        let mut data = Vec::new();
        (&mut input).take(request.size).read_to_end(&mut data)?;
        let answer = contained(&data, &request.name, || {
            if faults {
                inject_fault(&request.name);
            }
            super::extract(&data, &request.name, &request.limits)
        });
        let answer = serde_json::to_vec(&answer)?;
        output.write_all(&(answer.len() as u32).to_le_bytes())?;
        output.write_all(&answer)?;
        output.flush()?;
    }
}

/// Fault injection for the sandbox's own tests (only with
/// `DOCVAULT_EXTRACT_FAULTS` set): a file named `fault.<kind>` makes the
/// worker panic, abort, overflow its stack, exhaust its memory or hang.
fn inject_fault(name: &str) {
    match name {
        "fault.panic" => panic!("injected panic"),
        "fault.abort" => std::process::abort(),
        "fault.stack" => {
            fn deep(n: u64) -> u64 {
                let pad = std::hint::black_box([n; 64]);
                if pad[0] == u64::MAX {
                    0
                } else {
                    deep(n + 1) + pad[1]
                }
            }
            std::hint::black_box(deep(0));
        }
        "fault.oom" => {
            let mut hog: Vec<Vec<u8>> = Vec::new();
            loop {
                hog.push(vec![1u8; 64 << 20]);
                std::hint::black_box(&hog);
            }
        }
        "fault.hang" => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
        _ => {}
    }
}

/// [`super::extract`] with panics turned into a `failed` status.
pub fn extract_contained(data: &[u8], name: &str, limits: &Limits) -> Extracted {
    contained(data, name, || super::extract(data, name, limits))
}

fn contained(data: &[u8], name: &str, f: impl FnOnce() -> Extracted) -> Extracted {
    super::contain(f).unwrap_or_else(|msg| Extracted {
        text: String::new(),
        title: None,
        author: None,
        mime: detect::detect(data, name).mime().to_owned(),
        status: Status::Failed(format!("parser panicked: {msg}")),
    })
}
