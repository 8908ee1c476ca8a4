//! What a document reader sends, turned into whole MRZ texts.
//!
//! A desk reader delivers the machine readable zone either as keystrokes
//! (keyboard-wedge mode: each line "typed" and ended by Enter) or over a
//! serial port (lines ended by CR or CR LF, the whole MRZ sometimes framed by
//! STX 0x02 ... ETX 0x03). Neither says where one document ends and the next
//! begins, and readers add noise: stray spaces, other control bytes, an empty
//! line. This module groups lines into one MRZ by shape (2 x 44, 2 x 36,
//! 3 x 30), and reports a scan that cannot be an MRZ (a missing line, a line
//! of the wrong length, bytes that are not text) as [`Unreadable`], never
//! dropping it silently.
//!
//! It is pure: no terminal, no clock of its own (the caller passes the time
//! of each input), no I/O; memory is bounded whatever the input. Reading the
//! fields of the MRZ is [`sltd_model::mrz`]'s job, done by the daemon.

use std::fmt;
use std::time::{Duration, Instant};

use sltd_model::mrz::MrzFormat;

/// Characters kept of one line: the longest MRZ sent as one line (3 x 30
/// concatenated) plus a margin. Longer lines are counted, not stored.
pub const MAX_LINE_CHARS: usize = 96;

/// Digits a data line (dates, check digits) always has; a name line has
/// none, or a few where a letter was misread as a digit.
const DATA_LINE_MIN_DIGITS: usize = 6;

const STX: char = '\u{02}';
/// Stands in for a character that is not text: DEL is a control character,
/// so it is never stored for itself.
const NOT_TEXT: char = '\u{7f}';
const ETX: char = '\u{03}';

/// The line layout of an MRZ: how many lines, of how many characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Shape {
    pub lines: usize,
    pub line_len: usize,
}

/// Every MRZ format, to derive the shapes and their names from
/// [`MrzFormat`], the one home of the layouts.
const FORMATS: [MrzFormat; 5] = [
    MrzFormat::Td3,
    MrzFormat::MrvA,
    MrzFormat::Td2,
    MrzFormat::MrvB,
    MrzFormat::Td1,
];

impl Shape {
    fn of(format: MrzFormat) -> Shape {
        Shape {
            lines: format.line_count(),
            line_len: format.line_len(),
        }
    }

    /// The shape whose lines have `line_len` characters.
    pub fn with_line_len(line_len: usize) -> Option<Shape> {
        FORMATS
            .into_iter()
            .map(Shape::of)
            .find(|s| s.line_len == line_len)
    }

    /// The shape of an MRZ sent as one line of `len` characters.
    fn concatenated(len: usize) -> Option<Shape> {
        FORMATS
            .into_iter()
            .map(Shape::of)
            .find(|s| s.lines * s.line_len == len)
    }

    /// The formats with this shape, e.g. `TD3 or MRV-A`.
    pub fn format_names(self) -> String {
        let names: Vec<&str> = FORMATS
            .into_iter()
            .filter(|&f| Shape::of(f) == self)
            .map(MrzFormat::name)
            .collect();
        names.join(" or ")
    }

    /// Whether `line` can be line `index` (0-based) of an MRZ of this shape.
    /// The name lines (line 1 of a two-line MRZ, line 3 of a TD1) carry no
    /// check digit and no date; the other lines always do. The first line
    /// opens with the document code, a letter.
    fn fits(self, index: usize, line: &str) -> bool {
        let digits = line.bytes().filter(u8::is_ascii_digit).count();
        let data_line = digits >= DATA_LINE_MIN_DIGITS;
        let opens_with_code = line.bytes().next().is_some_and(|b| b.is_ascii_alphabetic());
        match (self.lines, index) {
            (2, 0) => opens_with_code && !data_line,
            // A TD1 first line always holds the document number's check
            // digit.
            (3, 0) => opens_with_code && digits > 0,
            (_, 1) => data_line,
            (3, 2) => !data_line,
            _ => false,
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} x {} ({})",
            self.lines,
            self.line_len,
            self.format_names()
        )
    }
}

/// One scan, as the reader delivered it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Scan {
    /// The lines of one MRZ of a known shape, separated by `\n`, spaces and
    /// control characters removed. Whether the fields read and the check
    /// digits agree is for the MRZ parser to say.
    Mrz(String),
    /// Something was received that cannot be an MRZ.
    Unreadable(Unreadable),
}

/// Why a scan cannot be an MRZ. The document must be scanned again, or its
/// number typed.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Unreadable {
    /// Fewer lines arrived, in order, than an MRZ of this shape has: a line
    /// was missed, or the scan stopped.
    MissingLines { shape: Shape, received: usize },
    /// A line that cannot be the first line of an MRZ arrived without one:
    /// the first line was missed.
    NoFirstLine { shape: Shape },
    /// Line `line` (1-based) has another length than the lines before it.
    LineLength {
        shape: Shape,
        line: usize,
        length: usize,
    },
    /// A line whose length is no MRZ line length (30, 36, 44) and no whole
    /// MRZ (90, 72, 88).
    UnknownLength { length: usize },
    /// A character that is not text (a byte of 0x80 or more, or a non-ASCII
    /// character) at this 1-based position of its line: usually a serial
    /// line at the wrong speed or parity, or a keyboard layout mismatch.
    NotText { position: usize },
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unreadable::MissingLines { shape, received } => write!(
                f,
                "only {received} of the {} lines of a {shape} MRZ arrived",
                shape.lines
            ),
            Unreadable::NoFirstLine { shape } => write!(
                f,
                "a line of {} characters arrived without the first line of its {shape} MRZ",
                shape.line_len
            ),
            Unreadable::LineLength {
                shape,
                line,
                length,
            } => write!(
                f,
                "line {line} has {length} characters; the {shape} MRZ it continues has lines of {}",
                shape.line_len
            ),
            Unreadable::UnknownLength { length } => {
                if *length > MAX_LINE_CHARS {
                    write!(f, "a line of more than {MAX_LINE_CHARS} characters")?;
                } else {
                    write!(f, "a line of {length} characters")?;
                }
                write!(
                    f,
                    "; MRZ lines have 30 (TD1), 36 (TD2, MRV-B) or 44 (TD3, MRV-A)"
                )
            }
            Unreadable::NotText { position } => write!(
                f,
                "the reader sent a character that is not MRZ text (position {position} of a line): \
                 check the serial speed and parity, or the keyboard layout"
            ),
        }
    }
}

impl std::error::Error for Unreadable {}

/// How far the scan in progress has come, for a "reading" indicator.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Progress {
    /// Complete lines waiting for the rest of their MRZ.
    pub lines: usize,
    /// Characters of the line being received.
    pub chars: usize,
}

/// Groups reader input into [`Scan`]s. Feed it characters or bytes with the
/// time they arrived; call [`ReaderInput::poll`] when
/// [`ReaderInput::deadline`] passes, and [`ReaderInput::finish`] at the end
/// of the input.
#[derive(Debug)]
pub struct ReaderInput {
    /// A scan is over when nothing arrives for this long.
    gap: Duration,
    line: String,
    /// Characters received for the current line, stored or not.
    line_chars: usize,
    /// Complete lines of the MRZ being assembled (fewer than its shape has).
    group: Vec<String>,
    shape: Option<Shape>,
    last_input: Option<Instant>,
}

impl ReaderInput {
    /// `gap`: the silence that ends a scan. A reader sends the lines of one
    /// MRZ within milliseconds of each other; an incomplete MRZ is reported
    /// once this much time has passed without input.
    pub fn new(gap: Duration) -> ReaderInput {
        ReaderInput {
            gap,
            line: String::new(),
            line_chars: 0,
            group: Vec::new(),
            shape: None,
            last_input: None,
        }
    }

    /// One character, e.g. a keystroke. Enter is `\r` or `\n`.
    pub fn push_char(&mut self, ch: char, now: Instant, out: &mut Vec<Scan>) {
        self.poll(now, out);
        self.last_input = Some(now);
        match ch {
            '\r' | '\n' | '\t' => self.end_line(out),
            STX => {
                // A new frame: whatever came before it is over.
                self.end_scan(out);
            }
            ETX => {
                self.end_line(out);
                self.end_scan(out);
            }
            ' ' => {}
            c if c.is_ascii_control() => {}
            c => {
                self.line_chars = self.line_chars.saturating_add(1);
                if self.line.len() < MAX_LINE_CHARS {
                    self.line.push(if c.is_ascii() { c } else { NOT_TEXT });
                }
            }
        }
    }

    /// Bytes from a serial line or a pipe. Bytes of 0x80 or more are not
    /// MRZ text (MRZ text is ASCII) and make their line unreadable.
    pub fn push_bytes(&mut self, bytes: &[u8], now: Instant, out: &mut Vec<Scan>) {
        for &b in bytes {
            let ch = if b.is_ascii() {
                char::from(b)
            } else {
                char::REPLACEMENT_CHARACTER
            };
            self.push_char(ch, now, out);
        }
    }

    /// Removes the last character of the line being received (Backspace,
    /// for an MRZ typed by hand).
    pub fn erase(&mut self, now: Instant) {
        self.last_input = Some(now);
        if self.line_chars == 0 {
            return;
        }
        // Beyond the stored length, characters were only counted.
        if self.line_chars <= self.line.len() {
            self.line.pop();
        }
        self.line_chars -= 1;
    }

    /// When the scan in progress is over if nothing more arrives; `None`
    /// when nothing is in progress.
    pub fn deadline(&self) -> Option<Instant> {
        if self.is_idle() {
            return None;
        }
        self.last_input.map(|t| t + self.gap)
    }

    /// Ends the scan in progress if the gap has passed since the last input.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<Scan>) {
        if self.deadline().is_some_and(|d| now >= d) {
            self.end_line(out);
            self.end_scan(out);
        }
    }

    /// The input has ended: whatever is in progress is complete or
    /// unreadable now.
    pub fn finish(&mut self, out: &mut Vec<Scan>) {
        self.end_line(out);
        self.end_scan(out);
    }

    /// Forgets the scan in progress without reporting it (the officer
    /// cleared the screen).
    pub fn clear(&mut self) {
        self.reset_line();
        self.group.clear();
        self.shape = None;
    }

    /// The scan in progress, if any.
    pub fn progress(&self) -> Option<Progress> {
        (!self.is_idle()).then_some(Progress {
            lines: self.group.len(),
            chars: self.line_chars,
        })
    }

    fn is_idle(&self) -> bool {
        self.line_chars == 0 && self.group.is_empty()
    }

    fn reset_line(&mut self) {
        self.line.clear();
        self.line_chars = 0;
    }

    /// A frame or a scan ended: an unfinished MRZ is reported.
    fn end_scan(&mut self, out: &mut Vec<Scan>) {
        self.end_line(out);
        if let Some(shape) = self.shape.take() {
            out.push(Scan::Unreadable(Unreadable::MissingLines {
                shape,
                received: self.group.len(),
            }));
            self.group.clear();
        }
    }

    fn end_line(&mut self, out: &mut Vec<Scan>) {
        let length = self.line_chars;
        let line = std::mem::take(&mut self.line);
        self.reset_line();
        if length == 0 {
            // Empty lines: the LF of a CR LF, a blank line between scans.
            return;
        }
        if let Some(i) = line.find(NOT_TEXT) {
            let position = i + 1;
            // The group it belonged to is lost with it.
            self.group.clear();
            self.shape = None;
            out.push(Scan::Unreadable(Unreadable::NotText { position }));
            return;
        }
        if let Some(shape) = self.shape {
            if length == shape.line_len && shape.fits(self.group.len(), &line) {
                self.group.push(line);
                if self.group.len() == shape.lines {
                    let text = self.group.join("\n");
                    self.group.clear();
                    self.shape = None;
                    out.push(Scan::Mrz(text));
                }
                return;
            }
            let received = self.group.len();
            self.group.clear();
            self.shape = None;
            let opens_another = Shape::with_line_len(length).is_some_and(|s| s.fits(0, &line))
                || Shape::concatenated(length).is_some();
            if opens_another {
                // The next document: this one lost its last line(s).
                out.push(Scan::Unreadable(Unreadable::MissingLines {
                    shape,
                    received,
                }));
                self.start(line, length, out);
            } else if length == shape.line_len {
                out.push(Scan::Unreadable(Unreadable::MissingLines {
                    shape,
                    received,
                }));
            } else {
                out.push(Scan::Unreadable(Unreadable::LineLength {
                    shape,
                    line: received + 1,
                    length,
                }));
            }
            return;
        }
        self.start(line, length, out);
    }

    /// A line with no MRZ in progress.
    fn start(&mut self, line: String, length: usize, out: &mut Vec<Scan>) {
        if let Some(shape) = Shape::concatenated(length) {
            let rows: Vec<&str> = (0..shape.lines)
                .map(|i| &line[i * shape.line_len..(i + 1) * shape.line_len])
                .collect();
            out.push(Scan::Mrz(rows.join("\n")));
        } else if let Some(shape) = Shape::with_line_len(length) {
            if shape.fits(0, &line) {
                self.shape = Some(shape);
                self.group.push(line);
            } else {
                out.push(Scan::Unreadable(Unreadable::NoFirstLine { shape }));
            }
        } else {
            out.push(Scan::Unreadable(Unreadable::UnknownLength { length }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TD3: [&str; 2] = [
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
    ];
    const TD1: [&str; 3] = [
        "I<UTOD231458907<<<<<<<<<<<<<<<",
        "7408122F1204159UTO<<<<<<<<<<<6",
        "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
    ];
    const TD2: [&str; 2] = [
        "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
        "D231458907UTO7408122F1204159<<<<<<<6",
    ];
    const MRV_A: [&str; 2] = [
        "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L8988901C4XXX4009078F96121096ZE184226B<<<<<<",
    ];
    const MRV_B: [&str; 2] = [
        "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
        "L8988901C4XXX4009078F9612109<<<<<<<<",
    ];
    const OLD_TD3: [&str; 2] = [
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902C<3UTO6908061F9406236ZE184226B<<<<<14",
    ];
    const SPECIMENS: [&[&str]; 6] = [&TD3, &TD1, &TD2, &MRV_A, &MRV_B, &OLD_TD3];

    const GAP: Duration = Duration::from_secs(1);

    /// Feeds `input` at one instant, then lets the gap pass.
    fn scans(input: &str) -> Vec<Scan> {
        let t0 = Instant::now();
        let mut r = ReaderInput::new(GAP);
        let mut out = Vec::new();
        r.push_bytes(input.as_bytes(), t0, &mut out);
        r.poll(t0 + GAP, &mut out);
        assert!(r.progress().is_none(), "{r:?}");
        out
    }

    fn mrz(lines: &[&str]) -> Scan {
        Scan::Mrz(lines.join("\n"))
    }

    #[test]
    fn every_specimen_with_every_line_ending() {
        for lines in SPECIMENS {
            for (sep, end) in [
                ("\r", "\r"),
                ("\n", "\n"),
                ("\r\n", "\r\n"),
                ("\n\r", "\n\r"),
                ("\r\r\n", "\r\n\r\n"),
                ("\t", "\r"),
                ("\r", ""),
            ] {
                let text = format!("{}{end}", lines.join(sep));
                assert_eq!(scans(&text), [mrz(lines)], "{text:?}");
            }
        }
    }

    #[test]
    fn framing_spaces_and_control_bytes_are_tolerated() {
        let framed = format!("\x02{}\r{}\r\x03", TD3[0], TD3[1]);
        assert_eq!(scans(&framed), [mrz(&TD3)]);
        // A NUL and a BEL, spaces around and inside lines, no terminator
        // before ETX.
        let noisy = format!(
            "\x00\x02 {} \r\n{}\x07\r{} {}\x03\r\n",
            TD1[0],
            TD1[1],
            &TD1[2][..10],
            &TD1[2][10..]
        );
        assert_eq!(scans(&noisy), [mrz(&TD1)]);
        let spaced = format!("{}\r\n{}\r\n", TD2[0], TD2[1].replace("UTO", " UTO "));
        assert_eq!(scans(&spaced), [mrz(&TD2)]);
    }

    #[test]
    fn a_complete_mrz_is_reported_at_its_last_line_without_waiting() {
        let t0 = Instant::now();
        let mut r = ReaderInput::new(GAP);
        let mut out = Vec::new();
        r.push_bytes(format!("{}\r\n", TD3[0]).as_bytes(), t0, &mut out);
        assert!(out.is_empty());
        assert_eq!(r.progress(), Some(Progress { lines: 1, chars: 0 }));
        assert_eq!(r.deadline(), Some(t0 + GAP));
        r.push_bytes(format!("{}\r\n", TD3[1]).as_bytes(), t0, &mut out);
        assert_eq!(out, [mrz(&TD3)]);
        assert_eq!(r.deadline(), None);
    }

    #[test]
    fn last_line_without_terminator_completes_after_the_gap() {
        let t0 = Instant::now();
        let mut r = ReaderInput::new(GAP);
        let mut out = Vec::new();
        r.push_bytes(format!("{}\r{}", TD3[0], TD3[1]).as_bytes(), t0, &mut out);
        r.poll(t0 + GAP / 2, &mut out);
        assert!(out.is_empty());
        r.poll(t0 + GAP, &mut out);
        assert_eq!(out, [mrz(&TD3)]);
    }

    #[test]
    fn several_documents_in_one_burst() {
        let text = format!(
            "{}\r\n{}\r\n{}\n{}\n{}\n\x02{}\r{}\r\x03{}{}",
            TD3[0], TD3[1], TD1[0], TD1[1], TD1[2], MRV_B[0], MRV_B[1], TD2[0], TD2[1]
        );
        assert_eq!(scans(&text), [mrz(&TD3), mrz(&TD1), mrz(&MRV_B), mrz(&TD2)]);
    }

    #[test]
    fn missing_second_line_is_reported_after_the_gap() {
        let td3 = Shape::with_line_len(44).unwrap();
        assert_eq!(
            scans(&format!("{}\r\n", TD3[0])),
            [Scan::Unreadable(Unreadable::MissingLines {
                shape: td3,
                received: 1
            })]
        );
        let td1 = Shape::with_line_len(30).unwrap();
        assert_eq!(
            scans(&format!("{}\r{}\r", TD1[0], TD1[1])),
            [Scan::Unreadable(Unreadable::MissingLines {
                shape: td1,
                received: 2
            })]
        );
        // Then the next document is read normally.
        let out = scans(&format!("{}\r\n{}\r\n{}\r\n", TD3[0], TD3[0], TD3[1]));
        assert_eq!(
            out,
            [
                Scan::Unreadable(Unreadable::MissingLines {
                    shape: td3,
                    received: 1
                }),
                mrz(&TD3)
            ]
        );
    }

    #[test]
    fn missing_first_line_is_reported_at_once() {
        let t0 = Instant::now();
        let mut r = ReaderInput::new(GAP);
        let mut out = Vec::new();
        r.push_bytes(format!("{}\r\n", TD3[1]).as_bytes(), t0, &mut out);
        let td3 = Shape::with_line_len(44).unwrap();
        assert_eq!(
            out,
            [Scan::Unreadable(Unreadable::NoFirstLine { shape: td3 })]
        );
        // A TD1 without its first line: line 2 cannot open it.
        let out = scans(&format!("{}\r{}\r", TD1[1], TD1[2]));
        let td1 = Shape::with_line_len(30).unwrap();
        assert_eq!(
            out,
            [
                Scan::Unreadable(Unreadable::NoFirstLine { shape: td1 }),
                Scan::Unreadable(Unreadable::NoFirstLine { shape: td1 })
            ]
        );
    }

    #[test]
    fn frame_end_reports_an_incomplete_mrz_at_once() {
        let t0 = Instant::now();
        let mut r = ReaderInput::new(GAP);
        let mut out = Vec::new();
        r.push_bytes(format!("\x02{}\r\x03", TD2[0]).as_bytes(), t0, &mut out);
        assert_eq!(
            out,
            [Scan::Unreadable(Unreadable::MissingLines {
                shape: Shape::with_line_len(36).unwrap(),
                received: 1
            })]
        );
        // A new frame ends the one before it.
        out.clear();
        r.push_bytes(
            format!("\x02{}\r\x02{}\r{}\r\x03", TD3[0], TD3[0], TD3[1]).as_bytes(),
            t0,
            &mut out,
        );
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[1], mrz(&TD3));
    }

    #[test]
    fn wrong_lengths() {
        let td3 = Shape::with_line_len(44).unwrap();
        assert_eq!(
            scans(&format!("{}\r\n{}\r\n", TD3[0], &TD3[1][..43])),
            [Scan::Unreadable(Unreadable::LineLength {
                shape: td3,
                line: 2,
                length: 43
            })]
        );
        assert_eq!(
            scans("L898902C3\r\n"),
            [Scan::Unreadable(Unreadable::UnknownLength { length: 9 })]
        );
        let long = "A".repeat(500);
        let out = scans(&format!("{long}\r"));
        assert_eq!(
            out,
            [Scan::Unreadable(Unreadable::UnknownLength { length: 500 })]
        );
        assert!(out[0].to_string_for_test().contains("more than 96"));
    }

    #[test]
    fn not_text_makes_the_scan_unreadable() {
        let mut bytes = format!("{}\r\n", TD3[0]).into_bytes();
        let mut line2 = TD3[1].as_bytes().to_vec();
        line2[4] = 0xB0;
        bytes.extend_from_slice(&line2);
        bytes.extend_from_slice(b"\r\n");
        let t0 = Instant::now();
        let mut r = ReaderInput::new(GAP);
        let mut out = Vec::new();
        r.push_bytes(&bytes, t0, &mut out);
        assert_eq!(out, [Scan::Unreadable(Unreadable::NotText { position: 5 })]);
        assert!(r.progress().is_none());
        // Keystrokes outside ASCII (a keyboard layout mismatch) likewise.
        let mut out = Vec::new();
        for c in "P<UTOÖ".chars() {
            r.push_char(c, t0, &mut out);
        }
        r.push_char('\r', t0, &mut out);
        assert_eq!(out, [Scan::Unreadable(Unreadable::NotText { position: 6 })]);
    }

    #[test]
    fn concatenated_mrz_on_one_line() {
        for lines in SPECIMENS {
            assert_eq!(scans(&format!("{}\r\n", lines.concat())), [mrz(lines)]);
        }
    }

    #[test]
    fn erase_and_clear() {
        let t0 = Instant::now();
        let mut r = ReaderInput::new(GAP);
        let mut out = Vec::new();
        r.push_bytes(format!("{}X", TD3[0]).as_bytes(), t0, &mut out);
        r.erase(t0);
        r.push_bytes(format!("\r{}\r", TD3[1]).as_bytes(), t0, &mut out);
        assert_eq!(out, [mrz(&TD3)]);
        r.push_bytes(TD3[0].as_bytes(), t0, &mut out);
        r.clear();
        assert!(r.progress().is_none());
        r.finish(&mut out);
        assert_eq!(out.len(), 1);
        // Erasing more than was typed is harmless.
        r.erase(t0);
        r.push_char('\u{fffd}', t0, &mut out);
        r.erase(t0);
        r.push_bytes(format!("{}\r{}\r", TD1[0], TD1[1]).as_bytes(), t0, &mut out);
        r.push_bytes(format!("{}\r", TD1[2]).as_bytes(), t0, &mut out);
        assert_eq!(out[1], mrz(&TD1));
    }

    #[test]
    fn input_after_the_gap_starts_a_new_scan() {
        let t0 = Instant::now();
        let mut r = ReaderInput::new(GAP);
        let mut out = Vec::new();
        r.push_bytes(format!("{}\r", TD3[0]).as_bytes(), t0, &mut out);
        // No poll in between: the late line still does not join the old one.
        r.push_bytes(format!("{}\r", TD3[1]).as_bytes(), t0 + GAP * 3, &mut out);
        assert_eq!(
            out,
            [
                Scan::Unreadable(Unreadable::MissingLines {
                    shape: Shape::with_line_len(44).unwrap(),
                    received: 1
                }),
                Scan::Unreadable(Unreadable::NoFirstLine {
                    shape: Shape::with_line_len(44).unwrap()
                })
            ]
        );
    }

    #[test]
    fn shapes_come_from_the_mrz_formats() {
        assert_eq!(
            Shape::with_line_len(44).unwrap().to_string(),
            "2 x 44 (TD3 or MRV-A)"
        );
        assert_eq!(
            Shape::with_line_len(36).unwrap().to_string(),
            "2 x 36 (TD2 or MRV-B)"
        );
        assert_eq!(
            Shape::with_line_len(30).unwrap().to_string(),
            "3 x 30 (TD1)"
        );
        assert_eq!(Shape::with_line_len(31), None);
    }

    impl Scan {
        fn to_string_for_test(&self) -> String {
            match self {
                Scan::Mrz(t) => t.clone(),
                Scan::Unreadable(u) => u.to_string(),
            }
        }
    }

    /// How a reader might deliver one document.
    #[derive(Clone, Debug)]
    struct Delivery {
        doc: usize,
        framed: bool,
        line_end: &'static str,
        spaces: Vec<usize>,
    }

    fn delivery() -> impl Strategy<Value = Delivery> {
        (
            0..SPECIMENS.len(),
            any::<bool>(),
            prop::sample::select(vec!["\r", "\n", "\r\n", "\n\r", "\t", "\r\n\r\n"]),
            prop::collection::vec(0usize..44, 0..4),
        )
            .prop_map(|(doc, framed, line_end, spaces)| Delivery {
                doc,
                framed,
                line_end,
                spaces,
            })
    }

    fn render(d: &Delivery) -> String {
        let lines: Vec<String> = SPECIMENS[d.doc]
            .iter()
            .map(|l| {
                let mut l = l.to_string();
                for &s in &d.spaces {
                    l.insert(s.min(l.len()), ' ');
                }
                l
            })
            .collect();
        let body = format!("{}{}", lines.join(d.line_end), d.line_end);
        if d.framed {
            format!("\x02{body}\x03")
        } else {
            body
        }
    }

    proptest! {
        /// Against a model: any sequence of documents, delivered in any
        /// supported way, split into chunks anywhere and with pauses
        /// shorter than the gap, comes out as exactly those documents.
        #[test]
        fn documents_come_out_as_sent(
            docs in prop::collection::vec(delivery(), 1..6),
            chunk in 1usize..50,
        ) {
            let input: String = docs.iter().map(render).collect();
            let expected: Vec<Scan> = docs.iter().map(|d| mrz(SPECIMENS[d.doc])).collect();
            let t0 = Instant::now();
            let mut r = ReaderInput::new(GAP);
            let mut out = Vec::new();
            for (i, part) in input.as_bytes().chunks(chunk).enumerate() {
                r.push_bytes(part, t0 + GAP / 2 * i as u32, &mut out);
            }
            r.finish(&mut out);
            prop_assert_eq!(out, expected);
        }

        /// Arbitrary bytes: never a panic, bounded state, and every MRZ that
        /// comes out has a known shape.
        #[test]
        fn arbitrary_input_is_bounded(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
            let t0 = Instant::now();
            let mut r = ReaderInput::new(GAP);
            let mut out = Vec::new();
            r.push_bytes(&bytes, t0, &mut out);
            prop_assert!(r.line.len() <= MAX_LINE_CHARS);
            prop_assert!(r.group.len() < 3);
            r.finish(&mut out);
            prop_assert!(r.progress().is_none());
            for s in out {
                if let Scan::Mrz(text) = s {
                    let lens: Vec<usize> = text.split('\n').map(str::len).collect();
                    let shape = Shape::with_line_len(lens[0]).unwrap();
                    prop_assert_eq!(lens, vec![shape.line_len; shape.lines]);
                }
            }
        }
    }
}
