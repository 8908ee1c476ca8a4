//! The full-screen desk: keystrokes, serial bytes, answers from the daemon
//! and timers go into one event loop that updates the [`Screen`] and draws
//! it. Nothing the desk sees is written anywhere: no log, no file; the
//! screen is the only output, and leaving restores the terminal without
//! the traveller's data.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use sltd_proto::v1 as pb;
use sltd_proto::v1::lookup_client::LookupClient;
use tokio::sync::mpsc;
use tonic::transport::{Channel, Endpoint};

use crate::DeskError;
use crate::input::{self, InputEvent, SerialSettings, sleep_until};
use crate::reader::{ReaderInput, Scan};
use crate::screen::{Asked, Failure, FormAction, ManualQuery, Screen, Shown, mrz_request};
use crate::ui::{self, View};

/// How the desk runs.
#[derive(Clone, Debug)]
pub struct DeskOptions {
    /// The daemon's address as shown on screen.
    pub server_label: String,
    /// Read a serial reader; `None`: a keyboard-wedge reader types into
    /// the terminal.
    pub serial: Option<SerialSettings>,
    /// The silence that ends a scan (see [`ReaderInput::new`]).
    pub scan_gap: Duration,
    /// How long a traveller's data stays on screen.
    pub clear_after: Duration,
    /// How often the daemon's status (reachable, data set age and
    /// freshness) is asked for.
    pub status_every: Duration,
}

enum AppEvent {
    Terminal(Event),
    TerminalFailed(std::io::Error),
    Input(InputEvent),
    Answer {
        id: u64,
        result: Result<Box<pb::CheckResponse>, Failure>,
    },
    Status(Result<pb::GetStatusResponse, Failure>),
}

/// Runs the desk on this terminal until the officer quits (F10 or Ctrl-C).
pub async fn run_tui(endpoint: Endpoint, options: DeskOptions) -> Result<(), DeskError> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(DeskError::NotATerminal);
    }
    let (tx, rx) = mpsc::channel::<AppEvent>(256);
    if let Some(settings) = &options.serial {
        let port = input::open_serial(settings)?;
        let (itx, mut irx) = mpsc::channel(64);
        input::spawn_serial(settings.clone(), port, itx);
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(ev) = irx.recv().await {
                if tx.send(AppEvent::Input(ev)).await.is_err() {
                    return;
                }
            }
        });
    }
    let client = LookupClient::new(endpoint.connect_lazy());
    let mut terminal = ratatui::try_init().map_err(DeskError::Terminal)?;
    spawn_terminal_events(tx.clone());
    let mut app = App {
        reader: ReaderInput::new(options.scan_gap),
        screen: Screen::new(options.clear_after),
        reader_label: match &options.serial {
            Some(s) => format!("serial {s}"),
            None => "keyboard".to_string(),
        },
        options,
        client,
        tx,
        status_in_flight: false,
    };
    let result = app.run(&mut terminal, rx).await;
    ratatui::restore();
    result
}

struct App {
    options: DeskOptions,
    reader_label: String,
    reader: ReaderInput,
    screen: Screen,
    client: LookupClient<Channel>,
    tx: mpsc::Sender<AppEvent>,
    status_in_flight: bool,
}

enum Flow {
    Continue,
    Quit,
}

impl App {
    async fn run(
        &mut self,
        terminal: &mut ratatui::DefaultTerminal,
        mut rx: mpsc::Receiver<AppEvent>,
    ) -> Result<(), DeskError> {
        let mut status_tick = tokio::time::interval(self.options.status_every);
        status_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let now = Instant::now();
            terminal
                .draw(|f| {
                    ui::draw(
                        f,
                        &View {
                            screen: &self.screen,
                            progress: self.reader.progress(),
                            now,
                            server: &self.options.server_label,
                            reader: &self.reader_label,
                            clear_after: self.options.clear_after,
                            status_every: self.options.status_every,
                        },
                    )
                })
                .map_err(DeskError::Terminal)?;
            let deadline = [self.reader.deadline(), self.screen.deadline()]
                .into_iter()
                .flatten()
                .min();
            tokio::select! {
                biased;
                ev = rx.recv() => {
                    let Some(ev) = ev else { return Ok(()) };
                    if let Flow::Quit = self.on_event(ev)? {
                        return Ok(());
                    }
                }
                _ = status_tick.tick() => self.poll_status(),
                () = sleep_until(deadline) => {
                    let now = Instant::now();
                    let mut scans = Vec::new();
                    self.reader.poll(now, &mut scans);
                    self.on_scans(scans, now);
                    self.screen.tick(now);
                }
            }
        }
    }

    fn on_event(&mut self, ev: AppEvent) -> Result<Flow, DeskError> {
        let now = Instant::now();
        match ev {
            AppEvent::Terminal(Event::Key(key)) => return Ok(self.on_key(key, now)),
            AppEvent::Terminal(_) => {}
            AppEvent::TerminalFailed(e) => return Err(DeskError::Terminal(e)),
            AppEvent::Input(InputEvent::Bytes { at, data }) => {
                let mut scans = Vec::new();
                self.reader.push_bytes(&data, at, &mut scans);
                self.on_scans(scans, now);
            }
            AppEvent::Input(InputEvent::ReaderLost(why)) => {
                // A scan cut off by the failure is reported, not dropped.
                let mut scans = Vec::new();
                self.reader.finish(&mut scans);
                self.on_scans(scans, now);
                self.screen.reader_lost = Some(why);
            }
            AppEvent::Input(InputEvent::ReaderBack) => self.screen.reader_lost = None,
            AppEvent::Input(InputEvent::End) => {}
            AppEvent::Answer { id, result } => self.screen.answer(id, result, now),
            AppEvent::Status(result) => {
                self.status_in_flight = false;
                self.screen.status(result, now);
            }
        }
        Ok(Flow::Continue)
    }

    fn keyboard_is_reader(&self) -> bool {
        self.options.serial.is_none()
    }

    fn on_key(&mut self, key: KeyEvent, now: Instant) -> Flow {
        if key.kind == KeyEventKind::Release {
            return Flow::Continue;
        }
        // AltGr arrives as Ctrl+Alt on some systems: a character, not a
        // command.
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL)
            && !key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Char('c') if ctrl => return Flow::Quit,
            KeyCode::F(10) => return Flow::Quit,
            _ => {}
        }
        if let Some(form) = self.screen.form.as_mut() {
            let action = match key.code {
                KeyCode::Esc => FormAction::Cancel,
                KeyCode::Enter => form.submit(),
                KeyCode::Tab | KeyCode::Down => {
                    form.next_field();
                    FormAction::Nothing
                }
                KeyCode::BackTab | KeyCode::Up => {
                    form.previous_field();
                    FormAction::Nothing
                }
                KeyCode::Backspace => {
                    form.backspace();
                    FormAction::Nothing
                }
                KeyCode::Char('<') if self.options.serial.is_some() => FormAction::Nothing,
                KeyCode::Char(c) if !ctrl => form.type_char(c),
                _ => FormAction::Nothing,
            };
            self.screen.form_touched(now);
            match action {
                FormAction::Nothing => {}
                FormAction::Cancel => self.screen.form = None,
                FormAction::Submit(q) => self.check_manual(q, now),
                FormAction::HandOver(text) => {
                    self.screen.form = None;
                    let mut scans = Vec::new();
                    for c in text.chars() {
                        self.reader.push_char(c, now, &mut scans);
                    }
                    self.on_scans(scans, now);
                }
            }
            return Flow::Continue;
        }
        let line_end = match key.code {
            KeyCode::Enter | KeyCode::Tab => Some('\r'),
            KeyCode::Char('j' | 'm') if ctrl => Some('\n'),
            _ => None,
        };
        match key.code {
            KeyCode::F(2) => self.screen.open_form(now),
            KeyCode::Esc => {
                self.reader.clear();
                self.screen.clear();
            }
            _ if !self.keyboard_is_reader() => {}
            KeyCode::Backspace => self.reader.erase(now),
            KeyCode::Char(c) if !ctrl => self.reader_char(c, now),
            _ => {
                if let Some(c) = line_end {
                    self.reader_char(c, now);
                }
            }
        }
        Flow::Continue
    }

    fn reader_char(&mut self, c: char, now: Instant) {
        let mut scans = Vec::new();
        self.reader.push_char(c, now, &mut scans);
        self.on_scans(scans, now);
    }

    fn on_scans(&mut self, scans: Vec<Scan>, now: Instant) {
        for scan in scans {
            match scan {
                Scan::Mrz(text) => {
                    let id = self.screen.begin_check(Asked::Mrz, now);
                    self.check(id, mrz_request(&text));
                }
                Scan::Unreadable(why) => self.screen.unreadable(why.to_string(), now),
            }
        }
        // A new document is being read: the last traveller's verdict goes.
        if self.reader.progress().is_some()
            && matches!(
                self.screen.shown,
                Shown::Answer { .. } | Shown::Unreadable(_) | Shown::NotChecked(_)
            )
        {
            self.screen.clear();
        }
    }

    fn check_manual(&mut self, q: ManualQuery, now: Instant) {
        let request = q.request();
        let id = self.screen.begin_check(Asked::Manual(q), now);
        self.check(id, request);
    }

    fn check(&self, id: u64, request: pb::CheckRequest) {
        let mut client = self.client.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let result = client
                .check(request)
                .await
                .map(|r| Box::new(r.into_inner()))
                .map_err(|s| Failure::from_status(&s));
            let _ = tx.send(AppEvent::Answer { id, result }).await;
        });
    }

    fn poll_status(&mut self) {
        if self.status_in_flight {
            return;
        }
        self.status_in_flight = true;
        let mut client = self.client.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let result = client
                .get_status(pb::GetStatusRequest {})
                .await
                .map(tonic::Response::into_inner)
                .map_err(|s| Failure::from_status(&s));
            let _ = tx.send(AppEvent::Status(result)).await;
        });
    }
}

/// Terminal events on their own thread: reading them blocks.
fn spawn_terminal_events(tx: mpsc::Sender<AppEvent>) {
    std::thread::spawn(move || {
        loop {
            match event::poll(Duration::from_millis(250)) {
                Ok(true) => {
                    let ev = match event::read() {
                        Ok(ev) => AppEvent::Terminal(ev),
                        Err(e) => AppEvent::TerminalFailed(e),
                    };
                    if tx.blocking_send(ev).is_err() {
                        return;
                    }
                }
                Ok(false) => {
                    if tx.is_closed() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(AppEvent::TerminalFailed(e));
                    return;
                }
            }
        }
    });
}
