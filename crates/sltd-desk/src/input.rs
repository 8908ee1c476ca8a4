//! Where reader bytes come from: a serial port (USB CDC or RS-232 readers)
//! or standard input (a pipe, for scripts). Each is read on its own thread,
//! because both block, and delivered with the time it arrived, so that the
//! gap rule of [`crate::reader`] measures the reader, not this program.

use std::collections::VecDeque;
use std::fmt;
use std::io::Read;
use std::time::{Duration, Instant};

use serialport::{DataBits, FlowControl, Parity, StopBits};
use tokio::sync::mpsc;

use crate::DeskError;
use crate::reader::{ReaderInput, Scan};

/// How to talk to a serial reader. Most desk readers use 9600 or 115200
/// baud, 8 data bits, no parity, 1 stop bit (8N1) and no flow control; the
/// reader's manual says which.
#[derive(Clone, Debug)]
pub struct SerialSettings {
    /// The device, e.g. `/dev/ttyUSB0`, `/dev/ttyACM0`.
    pub device: String,
    pub baud: u32,
    pub data_bits: DataBits,
    pub parity: Parity,
    pub stop_bits: StopBits,
    pub flow_control: FlowControl,
}

impl fmt::Display for SerialSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = match self.data_bits {
            DataBits::Five => 5,
            DataBits::Six => 6,
            DataBits::Seven => 7,
            DataBits::Eight => 8,
        };
        let parity = match self.parity {
            Parity::None => 'N',
            Parity::Odd => 'O',
            Parity::Even => 'E',
        };
        let stop = match self.stop_bits {
            StopBits::One => 1,
            StopBits::Two => 2,
        };
        write!(f, "{} {} {bits}{parity}{stop}", self.device, self.baud)?;
        match self.flow_control {
            FlowControl::None => Ok(()),
            FlowControl::Software => write!(f, " XON/XOFF"),
            FlowControl::Hardware => write!(f, " RTS/CTS"),
        }
    }
}

/// How long one blocking serial read waits, so the thread notices when
/// nobody listens any more.
const SERIAL_POLL: Duration = Duration::from_millis(200);
/// How often a lost serial port is tried again (a USB reader unplugged).
const SERIAL_RETRY: Duration = Duration::from_secs(1);

/// What an input thread reports.
#[derive(Debug)]
pub(crate) enum InputEvent {
    Bytes {
        at: Instant,
        data: Vec<u8>,
    },
    /// The serial port failed; it is being reopened.
    ReaderLost(String),
    /// The serial port is open again.
    ReaderBack,
    /// Standard input ended.
    End,
}

pub(crate) fn open_serial(
    s: &SerialSettings,
) -> Result<Box<dyn serialport::SerialPort>, DeskError> {
    serialport::new(&s.device, s.baud)
        .data_bits(s.data_bits)
        .parity(s.parity)
        .stop_bits(s.stop_bits)
        .flow_control(s.flow_control)
        .timeout(SERIAL_POLL)
        .open()
        .map_err(|source| DeskError::Serial {
            device: s.device.clone(),
            source,
        })
}

/// Reads `port` until the receiver is dropped; reopens it when it fails.
pub(crate) fn spawn_serial(
    settings: SerialSettings,
    mut port: Box<dyn serialport::SerialPort>,
    tx: mpsc::Sender<InputEvent>,
) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        loop {
            match port.read(&mut buf) {
                Ok(0) => {}
                Ok(n) => {
                    let ev = InputEvent::Bytes {
                        at: Instant::now(),
                        data: buf[..n].to_vec(),
                    };
                    if tx.blocking_send(ev).is_err() {
                        return;
                    }
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    if tx.is_closed() {
                        return;
                    }
                    continue;
                }
                Err(e) => {
                    if tx
                        .blocking_send(InputEvent::ReaderLost(format!("{}: {e}", settings.device)))
                        .is_err()
                    {
                        return;
                    }
                    port = loop {
                        std::thread::sleep(SERIAL_RETRY);
                        if tx.is_closed() {
                            return;
                        }
                        if let Ok(p) = open_serial(&settings) {
                            break p;
                        }
                    };
                    if tx.blocking_send(InputEvent::ReaderBack).is_err() {
                        return;
                    }
                }
            }
        }
    });
}

/// Reads standard input until its end.
pub(crate) fn spawn_stdin(tx: mpsc::Sender<InputEvent>) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 4096];
        loop {
            match stdin.read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Ok(0) | Err(_) => {
                    let _ = tx.blocking_send(InputEvent::End);
                    return;
                }
                Ok(n) => {
                    let ev = InputEvent::Bytes {
                        at: Instant::now(),
                        data: buf[..n].to_vec(),
                    };
                    if tx.blocking_send(ev).is_err() {
                        return;
                    }
                }
            }
        }
    });
}

/// What a [`ScanSource`] delivers.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum ReaderEvent {
    Scan(Scan),
    /// The serial port failed; it is being reopened.
    ReaderLost(String),
    /// The serial port is open again.
    ReaderBack,
}

/// Scans from standard input or a serial reader, for programs without a
/// screen (`sltd desk --json-lines`).
#[derive(Debug)]
pub struct ScanSource {
    rx: mpsc::Receiver<InputEvent>,
    reader: ReaderInput,
    ready: VecDeque<Scan>,
    ended: bool,
}

impl ScanSource {
    /// Reads standard input; `gap` is the silence that ends a scan.
    pub fn stdin(gap: Duration) -> ScanSource {
        let (tx, rx) = mpsc::channel(64);
        spawn_stdin(tx);
        ScanSource::with(rx, gap)
    }

    /// Reads a serial reader.
    pub fn serial(settings: &SerialSettings, gap: Duration) -> Result<ScanSource, DeskError> {
        let port = open_serial(settings)?;
        let (tx, rx) = mpsc::channel(64);
        spawn_serial(settings.clone(), port, tx);
        Ok(ScanSource::with(rx, gap))
    }

    fn with(rx: mpsc::Receiver<InputEvent>, gap: Duration) -> ScanSource {
        ScanSource {
            rx,
            reader: ReaderInput::new(gap),
            ready: VecDeque::new(),
            ended: false,
        }
    }

    /// The next scan; `None` once the input has ended and every scan has
    /// been delivered.
    pub async fn next(&mut self) -> Option<ReaderEvent> {
        let mut out = Vec::new();
        loop {
            if let Some(scan) = self.ready.pop_front() {
                return Some(ReaderEvent::Scan(scan));
            }
            if self.ended {
                return None;
            }
            let deadline = self.reader.deadline();
            tokio::select! {
                biased;
                ev = self.rx.recv() => match ev {
                    Some(InputEvent::Bytes { at, data }) => {
                        self.reader.push_bytes(&data, at, &mut out);
                    }
                    Some(InputEvent::ReaderLost(why)) => return Some(ReaderEvent::ReaderLost(why)),
                    Some(InputEvent::ReaderBack) => return Some(ReaderEvent::ReaderBack),
                    Some(InputEvent::End) | None => {
                        self.reader.finish(&mut out);
                        self.ended = true;
                    }
                },
                () = sleep_until(deadline) => self.reader.poll(Instant::now(), &mut out),
            }
            self.ready.extend(out.drain(..));
        }
    }
}

/// Sleeps until `deadline`, or for ever when there is none.
pub(crate) async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}
