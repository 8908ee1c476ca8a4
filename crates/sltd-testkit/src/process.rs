//! Running the workspace's programs from tests, as an operator runs them.
//!
//! Binaries are found where cargo put them for the running test: the test
//! executable lives in `target/<profile>/deps`, the binaries one level up
//! (the way ripgrep's tests find `rg`). When a binary is missing, or older
//! than a source of the workspace, because only a test package was built
//! (`cargo test -p sltd-tests`), it is built once with the cargo that builds
//! the tests: a test never runs a program built from other sources.
//!
//! Every run captures its output, so a failed assertion shows what the
//! program said; a program left running is killed when its handle drops.
//! Children get no `SLTD*` environment variable of the test's environment,
//! so an operator's settings cannot change what a test sees.

use std::ffi::OsStr;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Which package builds each program.
const PACKAGES: &[(&str, &str)] = &[
    ("sltd", "sltd-cli"),
    ("sltdd", "sltd-server"),
    ("sltd-sync", "sltd-sync"),
];

/// The directory cargo puts binaries in for the running test's profile.
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let mut dir = exe
        .parent()
        .expect("the test executable is in a directory")
        .to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// Whether a source the programs are built from (`crates/` but for tests
/// and benchmarks, `proto/`, the workspace's manifest and lock file) was
/// changed after `binary` was built.
fn older_than_sources(binary: &Path) -> bool {
    let Ok(built) = binary.metadata().and_then(|m| m.modified()) else {
        return true;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let newer = |p: &Path| {
        p.metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t > built)
    };
    fn walk(dir: &Path, newer: &dyn Fn(&Path) -> bool) -> bool {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return false;
        };
        entries.flatten().any(|e| {
            let p = e.path();
            match e.file_type() {
                // What the programs are not built from: tests, benchmarks.
                Ok(t) if t.is_dir() => {
                    !matches!(e.file_name().to_str(), Some("target" | "tests" | "benches"))
                        && walk(&p, newer)
                }
                Ok(_) => newer(&p),
                Err(_) => false,
            }
        })
    }
    newer(&root.join("Cargo.toml"))
        || newer(&root.join("Cargo.lock"))
        || walk(&root.join("crates"), &newer)
        || walk(&root.join("proto"), &newer)
}

/// Builds `name` into `path`'s directory, once per test process.
fn build(name: &str, path: &Path) {
    static BUILDING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = BUILDING.lock().unwrap_or_else(|p| p.into_inner());
    if path.is_file() && !older_than_sources(path) {
        return;
    }
    let package = PACKAGES
        .iter()
        .find(|(bin, _)| *bin == name)
        .map(|(_, package)| *package)
        .unwrap_or_else(|| panic!("no package builds a program called {name}"));
    let dir = path.parent().expect("a binary directory");
    let profile = dir
        .file_name()
        .and_then(OsStr::to_str)
        .expect("a profile directory");
    let target_dir = dir.parent().expect("a target directory");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "--package", package, "--bin", name])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir);
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let out = cmd.output().expect("cargo runs");
    assert!(
        out.status.success() && path.is_file(),
        "building {name} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One of the workspace's programs.
#[derive(Clone, Debug)]
pub struct Program {
    path: PathBuf,
}

impl Program {
    /// The program called `name` (`sltd`, `sltdd`, `sltd-sync`), built
    /// first if it is missing.
    pub fn find(name: &str) -> Self {
        let path = bin_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        if !path.is_file() || older_than_sources(&path) {
            build(name, &path);
        }
        Self { path }
    }

    /// The program at `path` (e.g. `env!("CARGO_BIN_EXE_sltdd")` in the
    /// tests of the package that builds it).
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A command for the program with a clean `SLTD*` environment and no
    /// standard input.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(&self.path);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SLTD") {
                cmd.env_remove(key);
            }
        }
        cmd.args(args).stdin(Stdio::null());
        cmd
    }

    /// Runs the program to completion.
    pub fn run<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Run::of(self.command(args))
    }

    /// Starts the program in the background.
    pub fn spawn<I, S>(&self, args: I) -> Spawned
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Spawned::of(self.command(args))
    }
}

/// A command line as the test ran it, for messages.
fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| {
            let a = a.to_string_lossy();
            if a.contains(char::is_whitespace) || a.is_empty() {
                format!("'{a}'")
            } else {
                a.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A finished run: its exit status and everything it printed.
#[derive(Debug)]
pub struct Run {
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Runs `cmd` to completion, capturing its output.
    pub fn of(mut cmd: Command) -> Self {
        let command = describe(&cmd);
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {command}: {e}"));
        Self {
            command,
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The exit code (`None` when a signal ended the program).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics, showing the whole run, unless it exited with `code`.
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code(),
            Some(code),
            "expected exit status {code}: {self}"
        );
        self
    }

    /// Panics, showing the whole run, unless it exited with 0.
    #[track_caller]
    pub fn success(self) -> Self {
        self.expect_code(0)
    }

    /// Standard output as one JSON value.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("standard output is not one JSON value ({e}): {self}"))
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` exited with {}\n--- stdout\n{}\n--- stderr\n{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }
}

/// Which output of a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// The lines a program printed so far, and whether its pipe closed.
#[derive(Debug, Default)]
struct Captured {
    state: Mutex<CapturedState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct CapturedState {
    lines: Vec<String>,
    closed: bool,
}

impl Captured {
    fn lock(&self) -> MutexGuard<'_, CapturedState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Collects the lines of `pipe` on a thread until it closes.
    fn collect(pipe: impl Read + Send + 'static) -> Arc<Self> {
        let captured = Arc::new(Self::default());
        let c = Arc::clone(&captured);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line);
                        c.lock()
                            .lines
                            .push(text.trim_end_matches(['\n', '\r']).to_string());
                        c.changed.notify_all();
                    }
                }
            }
            c.lock().closed = true;
            c.changed.notify_all();
        });
        captured
    }
}

/// A program running in the background, killed when dropped.
#[derive(Debug)]
pub struct Spawned {
    command: String,
    child: Child,
    stdout: Arc<Captured>,
    stderr: Arc<Captured>,
}

impl Spawned {
    /// Starts `cmd` with its output captured.
    pub fn of(mut cmd: Command) -> Self {
        let command = describe(&cmd);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command}: {e}"));
        let stdout = Captured::collect(child.stdout.take().expect("piped stdout"));
        let stderr = Captured::collect(child.stderr.take().expect("piped stderr"));
        Self {
            command,
            child,
            stdout,
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn captured(&self, stream: Stream) -> &Captured {
        match stream {
            Stream::Stdout => &self.stdout,
            Stream::Stderr => &self.stderr,
        }
    }

    /// Waits for the first line of `stream` (from the start of the output)
    /// for which `matches` gives a value. Panics, showing the output, when
    /// the program closes the stream without printing it, or after
    /// `timeout`.
    #[track_caller]
    pub fn wait_for_line<T>(
        &self,
        stream: Stream,
        timeout: Duration,
        what: &str,
        mut matches: impl FnMut(&str) -> Option<T>,
    ) -> T {
        let captured = self.captured(stream);
        let deadline = Instant::now() + timeout;
        let mut seen = 0;
        let mut state = captured.lock();
        loop {
            while seen < state.lines.len() {
                if let Some(v) = matches(&state.lines[seen]) {
                    return v;
                }
                seen += 1;
            }
            if state.closed {
                drop(state);
                panic!("{what}: never printed:\n{}", self.output());
            }
            let now = Instant::now();
            if now >= deadline {
                drop(state);
                panic!("{what}: not printed within {timeout:?}:\n{}", self.output());
            }
            state = captured
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// The lines of `stream` printed so far.
    pub fn lines(&self, stream: Stream) -> Vec<String> {
        self.captured(stream).lock().lines.clone()
    }

    /// The command line and everything printed so far, for messages.
    pub fn output(&self) -> String {
        format!(
            "`{}`\n--- stdout\n{}\n--- stderr\n{}",
            self.command,
            self.lines(Stream::Stdout).join("\n"),
            self.lines(Stream::Stderr).join("\n")
        )
    }

    /// Sends a signal by name (`HUP`, `INT`, `TERM`).
    #[track_caller]
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args(["-s", name, &self.pid().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -s {name} {} failed", self.pid());
    }

    /// Whether the program is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the program to exit and for its output to be read to the
    /// end; panics after `timeout`.
    #[track_caller]
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait for the child") {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "did not exit within {timeout:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        for captured in [&self.stdout, &self.stderr] {
            let mut state = captured.lock();
            while !state.closed {
                let now = Instant::now();
                assert!(now < deadline, "output still open after the exit");
                state = captured
                    .changed
                    .wait_timeout(state, deadline - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
        status
    }
}

impl Spawned {
    /// Waits (at most `timeout`, then panics) for the program to exit, as
    /// a [`Run`]: a watchdog for a program that must end by itself.
    #[track_caller]
    pub fn finish(mut self, timeout: Duration) -> Run {
        let status = self.wait_exit(timeout);
        Run {
            command: self.command.clone(),
            status,
            stdout: self.lines(Stream::Stdout).join("\n"),
            stderr: self.lines(Stream::Stderr).join("\n"),
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
