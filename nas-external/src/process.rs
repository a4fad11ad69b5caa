//! One external process: spawned with its stdin and stdout piped and its stderr appended
//! to a log file, spoken to one JSON line at a time, every answer awaited with a timeout.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use crate::protocol::{PROTOCOL, Reply, Request, Role};

/// How to start a process.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// Program and arguments, e.g. `["python3", "my_strategy.py"]`.
    pub command: Vec<String>,
    /// Working directory (a config's folder, so that relative paths in the command
    /// resolve against it).
    pub workdir: PathBuf,
    /// File the process's stderr is appended to.
    pub log: PathBuf,
    /// Longest wait for any one answer.
    pub timeout: Duration,
}

/// What went wrong with an external process: which process, what, and the offending line.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessError {
    /// The command, as written.
    pub process: String,
    /// What went wrong.
    pub what: String,
    /// The line it wrote, when a line is at fault.
    pub line: Option<String>,
    /// Where its stderr is.
    pub log: PathBuf,
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "external process `{}`: {}", self.process, self.what)?;
        if let Some(line) = &self.line {
            let shown: String = line.chars().take(300).collect();
            write!(f, " (its line: `{shown}`)")?;
        }
        write!(f, "; its stderr is in {}", self.log.display())
    }
}

impl std::error::Error for ProcessError {}

/// A running process.
#[derive(Debug)]
pub struct Process {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<std::io::Result<String>>,
    launch: Launch,
    /// The name the process gave in its `hello`.
    pub name: Option<String>,
}

impl Process {
    fn error(&self, what: impl Into<String>, line: Option<String>) -> ProcessError {
        ProcessError {
            process: self.launch.command.join(" "),
            what: what.into(),
            line,
            log: self.launch.log.clone(),
        }
    }

    /// Starts the process and exchanges `hello`.
    ///
    /// # Errors
    /// When it cannot start, or does not answer `hello` with this protocol version.
    pub fn start(launch: &Launch, role: Role) -> Result<Process, ProcessError> {
        let fail = |what: String| ProcessError {
            process: launch.command.join(" "),
            what,
            line: None,
            log: launch.log.clone(),
        };
        let (program, args) = launch
            .command
            .split_first()
            .ok_or_else(|| fail("the command is empty".into()))?;
        if let Some(dir) = launch.log.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&launch.log)
            .map_err(|e| fail(format!("cannot open its log {}: {e}", launch.log.display())))?;
        let mut child = Command::new(program)
            .args(args)
            .current_dir(&launch.workdir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| {
                fail(format!(
                    "cannot start it in {}: {e}",
                    launch.workdir.display()
                ))
            })?;
        let stdout = child.stdout.take().expect("piped");
        let stdin = child.stdin.take();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let end = line.is_err();
                if tx.send(line).is_err() || end {
                    break;
                }
            }
        });
        let mut process = Process {
            child,
            stdin,
            lines: rx,
            launch: launch.clone(),
            name: None,
        };
        process.send(&Request::Hello {
            protocol: PROTOCOL,
            role,
            nas_version: env!("CARGO_PKG_VERSION").to_string(),
        })?;
        match process.receive()? {
            (Reply::Hello { protocol, name, .. }, line) => {
                if protocol != PROTOCOL {
                    return Err(process.error(
                        format!("speaks protocol {protocol}; this nas speaks {PROTOCOL}"),
                        Some(line),
                    ));
                }
                process.name = name;
                Ok(process)
            }
            (other, line) => Err(process.error(
                format!("answered `hello` with `{}`", kind(&other)),
                Some(line),
            )),
        }
    }

    /// Sends one message.
    ///
    /// # Errors
    /// When the process has closed its input: "exited before answering", with its exit
    /// status (as [`Process::receive`] says when the read notices it first).
    pub fn send(&mut self, request: &Request) -> Result<(), ProcessError> {
        let mut line = serde_json::to_string(request).expect("requests serialize");
        line.push('\n');
        let result = match self.stdin.as_mut() {
            Some(stdin) => stdin
                .write_all(line.as_bytes())
                .and_then(|()| stdin.flush()),
            None => Err(std::io::Error::other("input closed")),
        };
        result.map_err(|e| {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                // Its input is closed: it exited (or is exiting) without reading the
                // request, which is the same fault as exiting before the answer, whether
                // the write or the read notices it first.
                let status = self.exit_status_within(Duration::from_secs(1));
                return self.error(format!("exited before answering{status}"), None);
            }
            let status = self.exit_status();
            self.error(format!("cannot be written to ({e}){status}"), None)
        })
    }

    /// Waits for the next message (at most the launch's timeout); returns it with its line.
    ///
    /// # Errors
    /// When the process exits, times out (it is killed) or writes a line that is not a
    /// message of the protocol.
    pub fn receive(&mut self) -> Result<(Reply, String), ProcessError> {
        let line = match self.lines.recv_timeout(self.launch.timeout) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(self.error(format!("its output cannot be read: {e}"), None)),
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(self.error(
                    format!(
                        "did not answer within {} s (it was stopped)",
                        self.launch.timeout.as_secs_f64()
                    ),
                    None,
                ));
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.exit_status();
                return Err(self.error(format!("exited before answering{status}"), None));
            }
        };
        match serde_json::from_str::<Reply>(&line) {
            Ok(reply) => Ok((reply, line)),
            Err(e) => Err(self.error(
                format!("wrote a line that is not a message of the protocol: {e}"),
                Some(line),
            )),
        }
    }

    /// " (exit status N)" once the process has exited, else "".
    fn exit_status(&mut self) -> String {
        std::thread::sleep(Duration::from_millis(20));
        match self.child.try_wait() {
            Ok(Some(status)) => format!(" ({status})"),
            _ => String::new(),
        }
    }

    /// " (exit status N)" when the process exits within `wait`, else "".
    fn exit_status_within(&mut self, wait: Duration) -> String {
        let start = std::time::Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return format!(" ({status})");
            }
            if start.elapsed() >= wait {
                return String::new();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// An error about this process (for callers that check what it said).
    pub fn fault(&self, what: impl Into<String>, line: Option<String>) -> ProcessError {
        self.error(what, line)
    }

    /// Where its stderr goes.
    pub fn log(&self) -> &Path {
        &self.launch.log
    }
}

impl Drop for Process {
    /// Sends `close`, gives the process a moment to exit, then stops it.
    fn drop(&mut self) {
        let _ = self.send(&Request::Close);
        self.stdin = None;
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `type` of a reply, for messages.
pub fn kind(reply: &Reply) -> &'static str {
    match reply {
        Reply::Hello { .. } => "hello",
        Reply::Ok {} => "ok",
        Reply::Proposal { .. } => "proposal",
        Reply::Query { .. } => "query",
        Reply::Result { .. } => "result",
        Reply::Error { .. } => "error",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A launch of `python3 -c SCRIPT` (the interpreter from `$NAS_PYTHON`, else
    /// `python3`) logging into `dir`.
    pub(crate) fn python(dir: &Path, script: &str, timeout: f64) -> Launch {
        Launch {
            command: vec![
                std::env::var("NAS_PYTHON").unwrap_or_else(|_| "python3".into()),
                "-c".into(),
                script.into(),
            ],
            workdir: dir.to_path_buf(),
            log: dir.join("logs/p.log"),
            timeout: Duration::from_secs_f64(timeout),
        }
    }

    /// A process that answers `hello` with `hello` (version `protocol`) and then every
    /// line with `reply`, after writing `stderr` to its stderr.
    pub(crate) fn replier(protocol: u32, reply: &str, stderr: &str) -> String {
        format!(
            r#"import sys
for line in sys.stdin:
    if '"hello"' in line:
        print('{{"type":"hello","protocol":{protocol}}}', flush=True)
    elif '"close"' in line:
        break
    else:
        print({stderr:?}, file=sys.stderr, flush=True)
        print({reply:?}, flush=True)
"#
        )
    }

    #[test]
    fn a_process_is_greeted_and_answers_in_lines() {
        let tmp = tempfile::tempdir().unwrap();
        let launch = python(
            tmp.path(),
            &replier(1, r#"{"type":"ok"}"#, "hi there"),
            30.0,
        );
        let mut p = Process::start(&launch, Role::Strategy).unwrap();
        p.send(&Request::Ask).unwrap();
        let (reply, line) = p.receive().unwrap();
        assert_eq!(reply, Reply::Ok {});
        assert_eq!(line, r#"{"type":"ok"}"#);
        drop(p);
        let log = std::fs::read_to_string(tmp.path().join("logs/p.log")).unwrap();
        assert_eq!(log, "hi there\n", "its stderr is in its log");
    }

    #[test]
    fn another_protocol_version_is_refused_naming_the_process_and_line() {
        let tmp = tempfile::tempdir().unwrap();
        let launch = python(tmp.path(), &replier(2, "{}", ""), 30.0);
        let e = Process::start(&launch, Role::Evaluator).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("speaks protocol 2; this nas speaks 1"),
            "{text}"
        );
        assert!(text.contains(r#"{"type":"hello","protocol":2}"#), "{text}");
        assert!(text.contains("python"), "{text}");
        assert!(text.contains("p.log"), "{text}");
    }

    #[test]
    fn malformed_lines_timeouts_exits_and_missing_programs_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let cases = [
            (replier(1, "not json", ""), "not a message of the protocol"),
            (replier(1, r#"{"type":"ok","extra":1}"#, ""), "not a message of the protocol"),
            (replier(1, r#"{"type":"teapot"}"#, ""), "not a message of the protocol"),
            (
                replier(1, r#"{"type":"ok"}"#, "").replace("print(\"\"", "import time; time.sleep(30); print(\"\""),
                "did not answer within 3 s",
            ),
            (
                "import sys\nsys.stdin.readline()\nprint('{\"type\":\"hello\",\"protocol\":1}', flush=True)\nsys.exit(7)\n".into(),
                "exited before answering",
            ),
        ];
        for (script, expected) in cases {
            // Long enough for Python to start on a busy machine.
            let launch = python(tmp.path(), &script, 3.0);
            let mut p = Process::start(&launch, Role::Strategy).unwrap();
            let text = p
                .send(&Request::Ask)
                .and_then(|()| p.receive())
                .map(|r| format!("{r:?}"))
                .unwrap_err()
                .to_string();
            assert!(text.contains(expected), "`{expected}` not in: {text}");
        }
        let mut launch = python(tmp.path(), "", 1.0);
        launch.command = vec!["/nonexistent/nas-strategy".into()];
        let text = Process::start(&launch, Role::Strategy)
            .unwrap_err()
            .to_string();
        assert!(text.contains("cannot start it"), "{text}");
        launch.command.clear();
        let text = Process::start(&launch, Role::Strategy)
            .unwrap_err()
            .to_string();
        assert!(text.contains("the command is empty"), "{text}");
    }
}
