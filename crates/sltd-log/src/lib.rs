//! How the sltd programs (`sltdd`, `sltd-sync`, `sltd`) speak to operators,
//! so that all three behave alike wherever their output goes:
//!
//! - one set of log formats, [`LogFormat`] (`text` or `json`), logs on
//!   standard error (standard output carries results and the audit trail);
//! - colour only when standard error is a terminal and `NO_COLOR` is unset:
//!   the journal and a redirected file get plain text;
//! - an error is reported once, as one line with its whole cause chain
//!   ([`chain`]), in the log format in use ([`report`]);
//! - results go to standard output through [`outln!`]; when its reader goes
//!   away (`sltd ... | head`), the program ends quietly with status 141, as
//!   a program stopped by `SIGPIPE` would, never with a panic
//!   ([`ends_on_closed_stdout`], [`EXIT_STDOUT_CLOSED`]).

#![forbid(unsafe_code)]

use std::error::Error;
use std::fmt;
use std::io::IsTerminal;
use std::sync::OnceLock;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line, the event's fields at the top level.
    Json,
}

impl LogFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why logging could not be set up.
#[derive(Debug)]
#[non_exhaustive]
pub enum LogError {
    /// The filter does not parse.
    Filter { filter: String, reason: String },
    /// Another logger is already installed in this process.
    AlreadyInstalled,
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::Filter { filter, reason } => write!(
                f,
                "log filter {filter:?}: {reason} (e.g. `info`, `debug` or `info,sltd_server=debug`)"
            ),
            LogError::AlreadyInstalled => f.write_str("logging is already set up"),
        }
    }
}

impl Error for LogError {}

/// What [`report`] needs to know about the program.
#[derive(Debug)]
struct Installed {
    program: &'static str,
    format: LogFormat,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();

/// Whether to colour what goes to standard error: only on a terminal, and
/// never when `NO_COLOR` is set (<https://no-color.org>) or `TERM=dumb`.
pub fn colour_on_stderr() -> bool {
    colour_allowed(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("TERM").as_deref(),
    )
}

fn colour_allowed(
    terminal: bool,
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&std::ffi::OsStr>,
) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
}

/// Installs the process's logger: `format` on standard error, events that
/// pass `filter` (a `tracing` filter such as `info` or
/// `info,sltd_sync=debug`). `program` names the program in reports.
pub fn init(program: &'static str, format: LogFormat, filter: &str) -> Result<(), LogError> {
    let env_filter =
        tracing_subscriber::EnvFilter::try_new(filter).map_err(|e| LogError::Filter {
            filter: filter.to_string(),
            reason: e.to_string(),
        })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.with_ansi(colour_on_stderr()).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_ansi(false)
            .try_init(),
    };
    installed.map_err(|_| LogError::AlreadyInstalled)?;
    let _ = INSTALLED.set(Installed { program, format });
    Ok(())
}

/// The error and every cause under it, as one line: `a: b: c`. A cause
/// whose text its parent already ends with (libraries often repeat their
/// source's message) is not repeated.
pub fn chain(err: &(dyn Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// Reports an error that ends the program, once: with JSON logs as one
/// JSON line (`level` ERROR, `error` the whole chain), otherwise as
/// `PROGRAM: error: CHAIN` on standard error. `program` is used when
/// logging is not set up yet (a bad command line or configuration).
pub fn report(program: &str, err: &(dyn Error + 'static)) {
    report_line(program, "error", &chain(err));
}

/// As [`report`] for a message with a chosen prefix, e.g.
/// `configuration error`.
pub fn report_line(program: &str, what: &str, text: &str) {
    // Causes quote outside text (a server's answer, a file's contents).
    let text = sltd_model::printable(text, 4 * sltd_model::MAX_LOGGED_TEXT);
    match INSTALLED.get() {
        Some(i) if i.format == LogFormat::Json => {
            tracing::error!(program = i.program, error = %text, "{what}");
        }
        Some(i) => eprintln!("{}: {what}: {text}", i.program),
        None => eprintln!("{program}: {what}: {text}"),
    }
}

/// The exit status of a program whose standard output was closed by its
/// reader: 128 + `SIGPIPE`, what a shell reports for a program that signal
/// stopped. Not 0: an exit status that carries an answer (a hit, a no hit)
/// must not be given when the answer could not be written.
pub const EXIT_STDOUT_CLOSED: u8 = 141;

/// Writes one line of results to standard output. See [`outln!`].
pub fn out_line(args: fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let written = out
        .write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if let Err(e) = written {
        drop(out);
        stdout_failed(&e);
    }
}

/// Ends the program for an error writing standard output: quietly with
/// [`EXIT_STDOUT_CLOSED`] when the reader has gone, otherwise with a report
/// and status 2.
fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(i32::from(EXIT_STDOUT_CLOSED));
    }
    let program = INSTALLED.get().map_or("sltd", |i| i.program);
    report_line(
        program,
        "error",
        &format!("cannot write to standard output: {e}"),
    );
    std::process::exit(2);
}

/// Whether an error that ends a program is its standard output closed by
/// the reader: the program then ends with [`EXIT_STDOUT_CLOSED`] and no
/// report. Only the error itself is looked at, not its causes: a broken
/// pipe deep in a cause chain is a connection to a server that failed, and
/// that is reported.
pub fn ends_on_closed_stdout(err: &(dyn Error + 'static)) -> bool {
    err.downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// `println!` for results: one line on standard output; a reader that has
/// gone away ends the program quietly with [`EXIT_STDOUT_CLOSED`] instead
/// of a panic, any other write error ends it with a report.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::out_line(::std::format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn Error + 'static))
        }
    }

    fn layers(texts: &[&'static str]) -> Layer {
        let mut it = texts.iter().rev();
        let mut l = Layer(it.next().unwrap(), None);
        for t in it {
            l = Layer(t, Some(Box::new(l)));
        }
        l
    }

    #[test]
    fn only_a_closed_stdout_itself_ends_quietly() {
        let closed = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(ends_on_closed_stdout(&closed));
        let other = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert!(!ends_on_closed_stdout(&other));
        // A broken connection under a server error is reported, not hidden.
        #[derive(Debug)]
        struct Upstream(std::io::Error);
        impl fmt::Display for Upstream {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("cannot reach the server")
            }
        }
        impl Error for Upstream {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&self.0)
            }
        }
        assert!(!ends_on_closed_stdout(&Upstream(closed)));
    }

    #[test]
    fn the_chain_names_every_cause_once() {
        let e = layers(&[
            "cannot connect to http://127.0.0.1:1",
            "transport error",
            "tcp connect error",
            "tcp connect error",
            "Connection refused (os error 111)",
        ]);
        assert_eq!(
            chain(&e),
            "cannot connect to http://127.0.0.1:1: transport error: tcp connect error: Connection refused (os error 111)"
        );
        let e = layers(&["fetching checkpoint.json: error sending request", ""]);
        assert_eq!(chain(&e), "fetching checkpoint.json: error sending request");
        assert_eq!(chain(&layers(&["alone"])), "alone");
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour_allowed(true, None, Some(OsStr::new("xterm"))));
        assert!(!colour_allowed(false, None, Some(OsStr::new("xterm"))));
        assert!(!colour_allowed(true, Some(OsStr::new("1")), None));
        assert!(colour_allowed(true, Some(OsStr::new("")), None));
        assert!(!colour_allowed(true, None, Some(OsStr::new("dumb"))));
    }

    #[test]
    fn log_formats_parse_from_config_files_and_flags() {
        #[derive(serde::Deserialize)]
        struct C {
            f: LogFormat,
        }
        let c: C = serde_json::from_str(r#"{"f":"json"}"#).unwrap();
        assert_eq!(c.f, LogFormat::Json);
        assert!(serde_json::from_str::<C>(r#"{"f":"human"}"#).is_err());
        use clap::ValueEnum;
        let names: Vec<_> = LogFormat::value_variants()
            .iter()
            .map(|v| v.to_possible_value().unwrap().get_name().to_string())
            .collect();
        assert_eq!(names, ["text", "json"]);
    }
}
