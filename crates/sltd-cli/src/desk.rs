//! `sltd desk`: the border desk front-end for a passport reader. The screen
//! is `sltd_desk`'s; this module reads the command line, and runs
//! `--json-lines` (the same reader input, one verdict per line on standard
//! output, in the JSON of `sltd check --json`).

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::json;
use sltd_desk::reader::Scan;
use sltd_desk::{DeskOptions, ReaderEvent, ScanSource, SerialSettings};
use sltd_proto::v1 as pb;
use sltd_proto::v1::lookup_client::LookupClient;

use crate::EXIT_ERROR;
use crate::check::{answer_json, error_json};
use crate::client::ConnectArgs;

#[derive(clap::Args, Debug)]
#[command(after_help = "\
Examples:
  sltd desk --server http://127.0.0.1:50051                  keyboard-wedge reader
  sltd desk --serial /dev/ttyACM0 --baud 115200              USB serial reader
  sltd desk --serial /dev/ttyS0 --baud 9600 --data-bits 7 --parity even
  sltd desk --serial /dev/ttyUSB0 --json-lines | my-gate-controller

A keyboard-wedge reader types each MRZ line and Enter into the terminal:
keep the desk's window focused. A serial reader may end lines with CR, LF or
CR LF and frame the MRZ with STX/ETX; all are understood. Lines are grouped
into one MRZ by shape (2 x 44, 2 x 36, 3 x 30); a scan with a missing or
damaged line is reported as unreadable, never checked in part.

Keys: F2 type a document number (for a document without an MRZ), Esc clear
the screen for the next traveller, F10 or Ctrl-C quit. The screen clears
itself after --clear-after. Nothing seen at the desk is written to any file
or log.

--json-lines reads the reader input from standard input (or --serial),
writes one JSON object per scan to standard output (an answer as
`sltd check --json` prints it; {\"verdict\":\"UNREADABLE\",...} for a scan that
is not an MRZ; {\"verdict\":\"ERROR\",...} when the daemon did not answer),
and exits at the end of the input: 0, or 2 if any scan was not checked.")]
pub(crate) struct DeskArgs {
    #[command(flatten)]
    conn: ConnectArgs,

    /// Serial device of the reader (e.g. /dev/ttyACM0). Without it, a
    /// keyboard-wedge reader types into the terminal.
    #[arg(long, value_name = "DEVICE")]
    serial: Option<String>,

    /// Serial speed.
    #[arg(long, value_name = "BAUD", default_value_t = 9600, requires = "serial")]
    baud: u32,

    /// Serial data bits.
    #[arg(long, value_enum, default_value_t = DataBits::Eight, requires = "serial")]
    data_bits: DataBits,

    /// Serial parity.
    #[arg(long, value_enum, default_value_t = Parity::None, requires = "serial")]
    parity: Parity,

    /// Serial stop bits.
    #[arg(long, value_enum, default_value_t = StopBits::One, requires = "serial")]
    stop_bits: StopBits,

    /// Serial flow control.
    #[arg(long, value_enum, default_value_t = FlowControl::None, requires = "serial")]
    flow_control: FlowControl,

    /// The silence that ends a scan: an MRZ still incomplete after this
    /// long without input is reported as unreadable.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    scan_gap: Duration,

    /// How long a traveller's verdict stays on screen.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    clear_after: Duration,

    /// How often to ask the daemon whether it is reachable and how fresh
    /// its data set is.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    status_every: Duration,

    /// No screen: one JSON verdict per scan on standard output.
    #[arg(long)]
    json_lines: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum DataBits {
    #[value(name = "7")]
    Seven,
    #[value(name = "8")]
    Eight,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Parity {
    None,
    Odd,
    Even,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum StopBits {
    #[value(name = "1")]
    One,
    #[value(name = "2")]
    Two,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum FlowControl {
    None,
    Software,
    Hardware,
}

impl DeskArgs {
    fn serial_settings(&self) -> Option<SerialSettings> {
        let device = self.serial.clone()?;
        Some(SerialSettings {
            device,
            baud: self.baud,
            data_bits: match self.data_bits {
                DataBits::Seven => sltd_desk::DataBits::Seven,
                DataBits::Eight => sltd_desk::DataBits::Eight,
            },
            parity: match self.parity {
                Parity::None => sltd_desk::Parity::None,
                Parity::Odd => sltd_desk::Parity::Odd,
                Parity::Even => sltd_desk::Parity::Even,
            },
            stop_bits: match self.stop_bits {
                StopBits::One => sltd_desk::StopBits::One,
                StopBits::Two => sltd_desk::StopBits::Two,
            },
            flow_control: match self.flow_control {
                FlowControl::None => sltd_desk::FlowControl::None,
                FlowControl::Software => sltd_desk::FlowControl::Software,
                FlowControl::Hardware => sltd_desk::FlowControl::Hardware,
            },
        })
    }
}

pub(crate) fn run(args: DeskArgs) -> anyhow::Result<u8> {
    for (name, d) in [
        ("--scan-gap", args.scan_gap),
        ("--clear-after", args.clear_after),
        ("--status-every", args.status_every),
    ] {
        if d.is_zero() {
            bail!("{name} must be longer than zero");
        }
    }
    if args.baud == 0 {
        bail!("--baud must be a positive number");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let endpoint = args.conn.endpoint()?;
        if args.json_lines {
            return json_lines(&args, endpoint).await;
        }
        let options = DeskOptions {
            server_label: args.conn.server.clone(),
            serial: args.serial_settings(),
            scan_gap: args.scan_gap,
            clear_after: args.clear_after,
            status_every: args.status_every,
        };
        sltd_desk::run_tui(endpoint, options).await?;
        Ok(0)
    })
}

async fn json_lines(args: &DeskArgs, endpoint: tonic::transport::Endpoint) -> anyhow::Result<u8> {
    let mut source = match args.serial_settings() {
        Some(s) => ScanSource::serial(&s, args.scan_gap)?,
        None => ScanSource::stdin(args.scan_gap),
    };
    // Connected on first use: a daemon that is down gives one ERROR line per
    // scan, and is used again when it is back.
    let mut client = LookupClient::new(endpoint.connect_lazy());
    let mut out = std::io::stdout();
    let mut not_checked = false;
    while let Some(ev) = source.next().await {
        let line = match ev {
            ReaderEvent::Scan(Scan::Mrz(text)) => {
                let request = pb::CheckRequest {
                    request_id: String::new(),
                    query: Some(pb::check_request::Query::Mrz(text)),
                    include_possible_matches: None,
                };
                match client.check(request).await {
                    Ok(r) => answer_json(&r.into_inner()),
                    Err(status) => {
                        not_checked = true;
                        error_json(&status)
                    }
                }
            }
            ReaderEvent::Scan(Scan::Unreadable(why)) => {
                not_checked = true;
                json!({"verdict": "UNREADABLE", "error": why.to_string()})
            }
            ReaderEvent::ReaderLost(why) => {
                eprintln!("sltd desk: reader lost ({why}); trying to reopen it");
                continue;
            }
            ReaderEvent::ReaderBack => {
                eprintln!("sltd desk: reader open again");
                continue;
            }
            _ => continue,
        };
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .context("cannot write to standard output")?;
    }
    Ok(if not_checked { EXIT_ERROR } else { 0 })
}
