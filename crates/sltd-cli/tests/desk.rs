//! `sltd desk` as an officer meets it: a real `sltdd` on 127.0.0.1 with a
//! free port, the desk in a detached tmux session of fixed size, reader
//! input sent as keystrokes (a keyboard-wedge reader) or through a
//! pseudo-terminal pair made by socat (a serial reader), and the screen read
//! back with `tmux capture-pane`. Every wait polls the screen until the text
//! expected appears or a generous deadline passes; nothing is timed.
//!
//! Needs tmux and socat (`.ci/run` installs them). Without them the tests
//! say so loudly and pass, except under CI, where they fail.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sltd_index::{BuildOptions, IndexBuilder};

const SLTD: &str = env!("CARGO_BIN_EXE_sltd");
/// How long any one expected screen may take to appear.
const PATIENCE: Duration = Duration::from_secs(40);

const TD3: [&str; 2] = [
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
];
const TD1: [&str; 3] = [
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
];
const MRV_A: [&str; 2] = [
    "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L8988901C4XXX4009078F96121096ZE184226B<<<<<<",
];
/// TD3 line 2 with a wrong document number check digit (7 for 6).
const TD3_BAD_DIGIT: &str = "L898902C37UTO7408122F1204159ZE184226B<<<<<10";
/// TD3 line 2 with the number's 0 read as the letter O: L8989O2C3.
const TD3_CONFUSABLE: &str = "L8989O2C36UTO7408122F1204159ZE184226B<<<<<10";

/// A TD3 second line for `number` (9 characters) with every check digit
/// right.
fn td3_line2(number: &str) -> String {
    let cd = |s: &str| sltd_model::mrz::check_digit(s).unwrap();
    let n = format!("{number}{}", cd(number));
    let birth = format!("740812{}", cd("740812"));
    let expiry = format!("320415{}", cd("320415"));
    let optional = "<<<<<<<<<<<<<<";
    let optional = format!("{optional}{}", cd(optional));
    let composite = cd(&format!("{n}{birth}{expiry}{optional}"));
    format!("{n}UTO{birth}F{expiry}{optional}{composite}")
}

fn tool_present(name: &str) -> bool {
    let present = Command::new(name)
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        let msg = format!(
            "\n\n!!!!!!!! `{name}` IS NOT INSTALLED: the sltd desk terminal tests DID NOT RUN !!!!!!!!\n\
             !!!!!!!! install it (Debian: apt-get install tmux socat)                        !!!!!!!!\n"
        );
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        // Past the test harness's capture of eprintln!, so it is seen.
        let _ = std::io::stderr().write_all(msg.as_bytes());
    }
    present
}

/// An index of the ICAO specimens plus generated records, reported
/// `age_secs` ago.
fn index(dir: &Path, age_secs: i64) -> PathBuf {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut b = IndexBuilder::new(BuildOptions {
        created_at: now - age_secs,
        ..BuildOptions::default()
    });
    for r in sltd_export::generate::generate(3_004, 11) {
        b.push(r);
    }
    let path = dir.join("index.sltd");
    sltd_index::write_atomically(&path, &b.finish().unwrap().bytes).unwrap();
    path
}

/// The `sltdd` built with this workspace, beside the `sltd` under test.
fn sltdd_binary() -> PathBuf {
    let path = Path::new(SLTD).with_file_name(format!("sltdd{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is not built: run `cargo test --workspace` (or `cargo build -p sltd-server` first)",
        path.display()
    );
    path
}

/// A real `sltdd` on 127.0.0.1 with a free port.
struct Daemon {
    child: Child,
    url: String,
}

impl Daemon {
    fn start(index: &Path) -> Daemon {
        let child = Command::new(sltdd_binary())
            .args(["--index", index.to_str().unwrap()])
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .args(["--log-format", "json", "--audit-log", "-"])
            .env_remove("SLTDD_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Killed on drop, also when it never starts.
        let mut daemon = Daemon {
            child,
            url: String::new(),
        };
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let l = Arc::clone(&lines);
        let stderr = daemon.child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        // Started once it says where it listens and that it serves the data.
        let deadline = Instant::now() + PATIENCE;
        loop {
            let mut url = None;
            let mut serving = false;
            for line in lines.lock().unwrap().iter() {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                match v["message"].as_str() {
                    Some(m) if m.starts_with("listening") => {
                        url = v["grpc"].as_str().map(|a| format!("http://{a}"));
                    }
                    Some("serving data set") => serving = true,
                    _ => {}
                }
            }
            if let (Some(url), true) = (url, serving) {
                daemon.url = url;
                return daemon;
            }
            assert!(
                Instant::now() < deadline,
                "sltdd did not start: {:?}",
                lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `sltd desk` in a detached tmux session of 100 x 30, on a tmux server of
/// its own.
struct Desk {
    socket: PathBuf,
    _dir: tempfile::TempDir,
    /// The desk's working and home directory: must stay empty.
    home: tempfile::TempDir,
}

impl Desk {
    fn start(args: &[&str]) -> Desk {
        let dir = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let socket = dir.path().join("tmux.sock");
        let conf = dir.path().join("tmux.conf");
        // Keep the screen of a desk that exited, for the failure message.
        std::fs::write(&conf, "set -g remain-on-exit on\n").unwrap();
        let desk = Desk {
            socket,
            _dir: dir,
            home,
        };
        let mut cmd = desk.tmux();
        cmd.arg("-f")
            .arg(&conf)
            .args(["new-session", "-d", "-s", "desk", "-x", "100", "-y", "30"])
            .arg("-c")
            .arg(desk.home.path())
            .args(["-e", &format!("HOME={}", desk.home.path().display())])
            .arg(SLTD)
            .arg("desk")
            .args(args);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "tmux: {out:?}");
        desk
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket);
        c
    }

    /// Types `text` as a keyboard-wedge reader does.
    fn type_text(&self, text: &str) {
        let ok = self
            .tmux()
            .args(["send-keys", "-t", "desk", "-l", text])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    /// Presses keys by tmux name: `Enter`, `C-j`, `F2`, `Tab`, `Escape`.
    fn press(&self, keys: &[&str]) {
        let ok = self
            .tmux()
            .args(["send-keys", "-t", "desk"])
            .args(keys)
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    /// Types the lines of an MRZ, each ended by `line_end` keys.
    fn scan(&self, lines: &[&str], line_end: &[&str]) {
        for l in lines {
            self.type_text(l);
            self.press(line_end);
        }
    }

    fn screen(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", "desk"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls the screen until `ok` holds; the screen then.
    fn wait(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "never saw {what}; screen:\n{s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls until every one of `needles` is on screen.
    fn wait_for(&self, needles: &[&str]) -> String {
        self.wait(&format!("{needles:?}"), |s| {
            needles.iter().all(|n| s.contains(n))
        })
    }

    /// Waits for the ready screen: connected, data fresh, no verdict.
    fn ready(&self) -> String {
        self.wait_for(&["connected", "Ready: scan a document"])
    }

    fn assert_home_empty(&self) {
        let left: Vec<_> = std::fs::read_dir(self.home.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "the desk wrote files: {left:?}");
    }
}

impl Drop for Desk {
    fn drop(&mut self) {
        let _ = self
            .tmux()
            .arg("kill-server")
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn keyboard_wedge_reader_verdicts() {
    if !tool_present("tmux") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&index(dir.path(), 0));
    let desk = Desk::start(&[
        "--server",
        &daemon.url,
        "--scan-gap",
        "300ms",
        "--status-every",
        "500ms",
    ]);
    let s = desk.ready();
    assert!(
        s.contains("data FRESH") && s.contains("3,004 records"),
        "{s}"
    );

    // TD3, lines ended by CR LF: a hit, all check digits right.
    desk.scan(&TD3, &["Enter", "C-j"]);
    let s = desk.wait_for(&["HIT: LISTED AS STOLEN", "UTO-TD3-0001"]);
    for needle in [
        "Document number  L898902C3",
        "Reported         2024-03-14",
        "Check digits: all correct",
        "data FRESH",
    ] {
        assert!(s.contains(needle), "{needle:?} not in\n{s}");
    }

    // TD1 (3 x 30), lines ended by CR: the next traveller replaces it.
    desk.scan(&TD1, &["Enter"]);
    let s = desk.wait_for(&["HIT: LISTED AS LOST", "D23145890", "UTO-TD1-0002"]);
    assert!(!s.contains("UTO-TD3-0001"), "{s}");

    // A visa, lines ended by LF alone.
    desk.scan(&MRV_A, &["C-j"]);
    desk.wait_for(&["HIT: LISTED AS REVOKED", "UTO-MRV-0003"]);

    // A wrong check digit: still a hit on the number as read, and the
    // failure in words.
    desk.scan(&[TD3[0], TD3_BAD_DIGIT], &["Enter"]);
    let s = desk.wait_for(&[
        "HIT: LISTED AS STOLEN",
        "CHECK DIGIT FAILED: document number: printed 7",
    ]);
    assert!(s.contains("CHECK DIGIT FAILED: composite"), "{s}");

    // A missing second line: unreadable once the reader falls silent.
    desk.scan(&TD3[..1], &["Enter"]);
    let s = desk.wait_for(&["MRZ NOT READ: NOTHING WAS CHECKED", "only 1 of the 2 lines"]);
    assert!(s.contains("Scan the document again"), "{s}");
    assert!(!s.contains("HIT:") && !s.contains("NO HIT"), "{s}");

    // A missing first line: unreadable at once.
    desk.scan(&TD3[1..], &["Enter"]);
    desk.wait_for(&["MRZ NOT READ", "without the first line"]);

    // A confusable character in the number (0 read as O): not a hit, the
    // failed check digit in words, and the look-alike record offered apart
    // when the daemon finds possible matches.
    desk.scan(&[TD3[0], TD3_CONFUSABLE], &["Enter", "C-j"]);
    let s = desk.wait("a no-hit or possible-match verdict for L8989O2C3", |s| {
        s.contains("L8989O2C3")
            && (s.contains("NO HIT: not listed") || s.contains("POSSIBLE MATCH: NOT A HIT"))
    });
    assert!(s.contains("CHECK DIGIT FAILED: document number"), "{s}");
    assert!(!s.contains("HIT: LISTED"), "{s}");

    // An unlisted document with a clean MRZ.
    let unlisted = td3_line2("ZX0000017");
    desk.scan(&[TD3[0], &unlisted], &["Enter"]);
    let s = desk.wait_for(&[
        "NO HIT: not listed",
        "ZX0000017",
        "Check digits: all correct",
    ]);
    assert!(!s.contains("HIT: LISTED") && !s.contains("POSSIBLE"), "{s}");

    // Esc: the next traveller, nothing of this one left.
    desk.press(&["Escape"]);
    let s = desk.ready();
    assert!(!s.contains("ZX0000017"), "{s}");

    // Manual entry: a document without an MRZ.
    desk.press(&["F2"]);
    desk.wait_for(&["Type the document"]);
    desk.type_text("l898 902c3");
    desk.press(&["Tab"]);
    desk.type_text("UTO");
    desk.press(&["Enter"]);
    let s = desk.wait_for(&["HIT: LISTED AS STOLEN", "UTO-TD3-0001"]);
    assert!(!s.contains("Type the document"), "{s}");

    // A number the daemon refuses: back in the form, with its reason.
    desk.press(&["F2"]);
    desk.wait_for(&["Type the document"]);
    desk.type_text(&"A".repeat(31));
    desk.press(&["Enter"]);
    desk.wait_for(&["Type the document", "document.number"]);
    // A reader scanning while the form is open: the scan wins.
    desk.scan(&TD1, &["Enter"]);
    let s = desk.wait_for(&["HIT: LISTED AS LOST", "UTO-TD1-0002"]);
    assert!(!s.contains("Type the document"), "{s}");

    desk.press(&["F10"]);
    desk.wait("the desk to exit", |s| !s.contains("sltd desk"));
    desk.assert_home_empty();
}

#[test]
fn screen_clears_itself_after_the_configured_time() {
    if !tool_present("tmux") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&index(dir.path(), 0));
    let desk = Desk::start(&["--server", &daemon.url, "--clear-after", "2s"]);
    desk.ready();
    desk.scan(&TD3, &["Enter"]);
    desk.wait_for(&["HIT: LISTED AS STOLEN", "(the screen clears after 2 s)"]);
    let s = desk.wait("the verdict to clear", |s| {
        s.contains("Ready: scan a document")
    });
    assert!(!s.contains("L898902C3") && !s.contains("HIT"), "{s}");
}

#[test]
fn daemon_stopped_mid_session_leaves_no_verdict() {
    if !tool_present("tmux") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = Daemon::start(&index(dir.path(), 0));
    let desk = Desk::start(&["--server", &daemon.url, "--status-every", "500ms"]);
    desk.ready();
    desk.scan(&TD3, &["Enter"]);
    desk.wait_for(&["HIT: LISTED AS STOLEN", "UTO-TD3-0001"]);

    daemon.kill();
    let s = desk.wait_for(&["DAEMON UNREACHABLE: NOTHING CAN BE CHECKED", "UNREACHABLE"]);
    for gone in ["HIT", "L898902C3", "UTO-TD3-0001", "data FRESH", "STOLEN"] {
        assert!(!s.contains(gone), "{gone:?} still on screen:\n{s}");
    }
    assert!(s.contains("DATA SET UNKNOWN"), "{s}");

    // A scan now is not checked, and says so.
    desk.scan(&TD3, &["Enter"]);
    let s = desk.wait_for(&["The last document was NOT checked"]);
    assert!(!s.contains("HIT") && !s.contains("L898902C3"), "{s}");
}

#[test]
fn stale_data_is_impossible_to_miss() {
    if !tool_present("tmux") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Three days old; sltdd calls anything past 48 hours stale.
    let daemon = Daemon::start(&index(dir.path(), 3 * 86400));
    let desk = Desk::start(&["--server", &daemon.url]);
    let s = desk.wait_for(&["DATA STALE", "Documents reported since then are MISSING"]);
    assert!(s.contains("age 3 days"), "{s}");
    let unlisted = td3_line2("ZX0000017");
    desk.scan(&[TD3[0], &unlisted], &["Enter"]);
    desk.wait_for(&["NO HIT: not listed (DATA STALE", "DATA STALE"]);
}

#[test]
fn serial_reader_on_a_pseudo_terminal() {
    if !tool_present("tmux") || !tool_present("socat") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&index(dir.path(), 0));
    let (mut socat, desk_end, reader_end) = pty_pair();
    let desk = Desk::start(&[
        "--server",
        &daemon.url,
        "--serial",
        &desk_end,
        "--baud",
        "115200",
        "--scan-gap",
        "300ms",
    ]);
    let s = desk.ready();
    assert!(
        s.contains(&format!("reader: serial {desk_end} 115200 8N1")),
        "{s}"
    );
    let mut reader = std::fs::OpenOptions::new()
        .write(true)
        .open(&reader_end)
        .unwrap();
    let mut send = |bytes: &[u8]| {
        reader.write_all(bytes).unwrap();
        reader.flush().unwrap();
    };

    // STX, lines ended by CR, ETX.
    send(format!("\x02{}\r{}\r\x03", TD3[0], TD3[1]).as_bytes());
    desk.wait_for(&["HIT: LISTED AS STOLEN", "UTO-TD3-0001"]);

    // CR LF, a stray space and a NUL, no framing.
    send(format!("{}\r\n{} \x00\r\n{}\r\n", TD1[0], TD1[1], TD1[2]).as_bytes());
    desk.wait_for(&["HIT: LISTED AS LOST", "UTO-TD1-0002"]);

    // A frame that ends before its second line.
    send(format!("\x02{}\r\x03", MRV_A[0]).as_bytes());
    desk.wait_for(&["MRZ NOT READ", "only 1 of the 2 lines"]);

    // Bytes at the wrong speed: not text.
    send(b"\x02\xf0\xe1\x9c\x80\r\x03");
    desk.wait_for(&["MRZ NOT READ", "not MRZ text"]);

    // Keys typed on the keyboard are not reader input in serial mode.
    desk.type_text(TD3[0]);
    desk.press(&["Enter"]);
    send(format!("\x02{}\r{}\r\x03", MRV_A[0], MRV_A[1]).as_bytes());
    let s = desk.wait_for(&["HIT: LISTED AS REVOKED", "UTO-MRV-0003"]);
    assert!(!s.contains("Reading:"), "{s}");

    let _ = socat.kill();
    let _ = socat.wait();
}

/// A pseudo-terminal pair joined by socat, as a serial cable would be: the
/// desk opens one end, the test writes to the other.
fn pty_pair() -> (Child, String, String) {
    let mut socat = Command::new("socat")
        .args(["-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = socat.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut ptys = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while ptys.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("socat did not report its pseudo-terminals");
        if let Some(i) = line.find("PTY is ") {
            ptys.push(line[i + "PTY is ".len()..].trim().to_string());
        }
    }
    let reader_end = ptys.pop().unwrap();
    let desk_end = ptys.pop().unwrap();
    (socat, desk_end, reader_end)
}

#[test]
fn json_lines_reads_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(&index(dir.path(), 0));
    let home = tempfile::tempdir().unwrap();
    let unlisted = td3_line2("ZX0000017");
    let input = format!(
        "{}\r\n{}\r\n\
         \x02{}\r{}\r{}\r\x03\
         {}\n\
         {}\n{}\n\
         {}\n{}\n\
         {}\n",
        TD3[0],
        TD3[1],
        TD1[0],
        TD1[1],
        TD1[2],
        TD3[1], // a second line without its first
        TD3[0],
        TD3_BAD_DIGIT,
        TD3[0],
        unlisted,
        MRV_A[0], // the input ends before the second line
    );
    let mut child = Command::new(SLTD)
        .args(["desk", "--json-lines", "--server", &daemon.url])
        .current_dir(home.path())
        .env("HOME", home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let verdicts: Vec<&str> = lines
        .iter()
        .map(|v| v["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(
        verdicts,
        ["HIT", "HIT", "UNREADABLE", "HIT", "NO_HIT", "UNREADABLE"],
        "{stdout}"
    );
    assert_eq!(lines[0]["matches"][0]["reference"], "UTO-TD3-0001");
    assert_eq!(lines[0]["mrz"]["all_check_digits_valid"], true);
    assert_eq!(lines[0]["dataset"]["freshness"], "FRESH");
    assert_eq!(lines[1]["mrz"]["format"], "TD1");
    assert!(
        lines[2]["error"]
            .as_str()
            .unwrap()
            .contains("without the first line"),
        "{stdout}"
    );
    assert_eq!(lines[3]["mrz"]["all_check_digits_valid"], false);
    assert_eq!(lines[4]["mrz"]["document_number"], "ZX0000017");
    assert!(
        lines[5]["error"]
            .as_str()
            .unwrap()
            .contains("only 1 of the 2"),
        "{stdout}"
    );
    // Two scans could not be checked.
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Nothing written anywhere but standard output.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_dir(home.path()).unwrap().count(), 0);

    // Every scan checked: exit 0.
    let (code, stdout) = json_lines(&daemon.url, &format!("{}\n{}\n", TD3[0], TD3[1]));
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(stdout.lines().count(), 1);
}

#[test]
fn json_lines_with_the_daemon_down() {
    // A port nothing listens on: reserved, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, stdout) = json_lines(
        &format!("http://127.0.0.1:{port}"),
        &format!("{}\n{}\n", TD3[0], TD3[1]),
    );
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["verdict"], "ERROR", "{stdout}");
    assert_eq!(v["code"], "Unavailable", "{stdout}");
}

fn json_lines(server: &str, input: &str) -> (i32, String) {
    let mut child = Command::new(SLTD)
        .args(["desk", "--json-lines", "--server", server, "--timeout", "5"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn desk_refuses_bad_options() {
    for (args, needle) in [
        (vec!["--scan-gap", "0s"], "--scan-gap"),
        (vec!["--clear-after", "soon"], "--clear-after"),
        (vec!["--baud", "9600"], "--serial"),
    ] {
        let out = Command::new(SLTD)
            .arg("desk")
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // Without a terminal, the screen cannot run: a clear error.
    let out = Command::new(SLTD)
        .args(["desk", "--server", "http://127.0.0.1:9"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--json-lines"));
}
