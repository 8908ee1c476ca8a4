//! Drawing the desk's screen: a verdict an officer can act on at a glance.
//!
//! Each verdict has its own colour and words, and none can be taken for
//! another: HIT white on red, NO HIT black on green, POSSIBLE MATCH black on
//! yellow and always saying "not a hit", an unreadable scan or an unchecked
//! document white on blue, an unreachable daemon white on magenta. The data
//! set's freshness is on every screen; STALE and EXPIRED fill their line.

use std::time::{Duration, Instant, UNIX_EPOCH};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use sltd_proto::v1 as pb;

use crate::reader::Progress;
use crate::screen::{Asked, DatasetSeen, Link, ManualForm, Screen, Shown, Verdict, verdict_of};

/// What is drawn besides the [`Screen`].
#[derive(Debug)]
pub(crate) struct View<'a> {
    pub(crate) screen: &'a Screen,
    pub(crate) progress: Option<Progress>,
    pub(crate) now: Instant,
    pub(crate) server: &'a str,
    pub(crate) reader: &'a str,
    pub(crate) clear_after: Duration,
    pub(crate) status_every: Duration,
}

const HIT: Style = Style::new()
    .fg(Color::White)
    .bg(Color::Red)
    .add_modifier(Modifier::BOLD);
const NO_HIT: Style = Style::new()
    .fg(Color::Black)
    .bg(Color::Green)
    .add_modifier(Modifier::BOLD);
const POSSIBLE: Style = Style::new()
    .fg(Color::Black)
    .bg(Color::Yellow)
    .add_modifier(Modifier::BOLD);
const NOT_CHECKED: Style = Style::new()
    .fg(Color::White)
    .bg(Color::Blue)
    .add_modifier(Modifier::BOLD);
const UNREACHABLE: Style = Style::new()
    .fg(Color::White)
    .bg(Color::Magenta)
    .add_modifier(Modifier::BOLD);
const WARN: Style = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
const BAD: Style = Style::new().fg(Color::Red).add_modifier(Modifier::BOLD);
const GOOD: Style = Style::new().fg(Color::Green);
const DIM: Style = Style::new().fg(Color::DarkGray);
const LABEL: Style = Style::new().fg(Color::Cyan);
const BAR: Style = Style::new().add_modifier(Modifier::REVERSED);

/// The verdict band at the top of the traveller area.
struct Banner {
    title: String,
    subtitle: String,
    style: Style,
}

pub(crate) fn draw(frame: &mut Frame, v: &View) {
    let [title, data, body, reading, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Min(6),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(title_bar(v), title);
    frame.render_widget(dataset_bar(v), data);
    let (banner, details) = body_content(v);
    let [band, rest] = Layout::vertical([Constraint::Length(4), Constraint::Min(0)]).areas(body);
    frame.render_widget(
        Paragraph::new(vec![
            Line::raw(""),
            Line::raw(format!(" {}", banner.title)),
            Line::raw(format!(" {}", banner.subtitle)),
        ])
        .style(banner.style),
        band,
    );
    frame.render_widget(
        Paragraph::new(details).wrap(Wrap { trim: false }),
        rest.inner(ratatui::layout::Margin::new(1, 1)),
    );
    frame.render_widget(reading_line(v), reading);
    frame.render_widget(keys_line(v), keys);
    if let Some(form) = &v.screen.form {
        draw_form(frame, form);
    }
}

fn title_bar(v: &View) -> Paragraph<'static> {
    let (link, style) = match &v.screen.link {
        Link::Connecting => ("connecting".to_string(), BAR),
        Link::Up => ("connected".to_string(), BAR),
        Link::Down(_) => ("UNREACHABLE".to_string(), UNREACHABLE),
    };
    Paragraph::new(Line::from(vec![
        Span::styled(" sltd desk ", BAR.add_modifier(Modifier::BOLD)),
        Span::styled(format!("  daemon {} ", v.server), BAR),
        Span::styled(format!(" {link} "), style),
        Span::styled(format!("   reader: {} ", v.reader), BAR),
    ]))
    .style(BAR)
}

fn dataset_bar(v: &View) -> Paragraph<'static> {
    let seen = match (&v.screen.link, &v.screen.dataset) {
        (Link::Up, Some(seen)) => seen,
        (Link::Down(_), _) => {
            return Paragraph::new(" DATA SET UNKNOWN: the daemon is unreachable").style(BAD);
        }
        _ => return Paragraph::new(" data set: waiting for the daemon").style(DIM),
    };
    let facts = dataset_facts(seen, v.now);
    let (word, consequence, style) = match pb::Freshness::try_from(seen.info.freshness) {
        Ok(pb::Freshness::Fresh) => {
            return Paragraph::new(Line::from(vec![
                Span::styled(" data FRESH", GOOD.add_modifier(Modifier::BOLD)),
                Span::raw(format!("  {facts}")),
            ]));
        }
        Ok(pb::Freshness::Stale) => (
            "DATA STALE",
            "Documents reported since then are MISSING: check the update feed.",
            POSSIBLE,
        ),
        Ok(pb::Freshness::Expired) => (
            "DATA EXPIRED",
            "The data set can no longer be trusted to be complete: check the update feed.",
            HIT,
        ),
        _ => (
            "DATA FRESHNESS UNKNOWN",
            "The daemon does not say how fresh its data is.",
            POSSIBLE,
        ),
    };
    Paragraph::new(vec![
        Line::raw(format!(" {word}  {facts}")),
        Line::raw(format!(" {consequence}")),
    ])
    .style(style)
}

fn dataset_facts(seen: &DatasetSeen, now: Instant) -> String {
    let mut s = String::new();
    if let Some(t) = seen.info.as_of {
        s.push_str(&format!("as of {}, ", timestamp_text(t)));
    }
    s.push_str(&format!(
        "age {}, {} records",
        age_text(seen.age_at(now)),
        thousands(seen.info.record_count)
    ));
    if seen.info.sequence > 0 {
        s.push_str(&format!(", feed sequence {}", seen.info.sequence));
    }
    s
}

fn body_content(v: &View) -> (Banner, Vec<Line<'static>>) {
    let screen = v.screen;
    if let Link::Down(why) = &screen.link {
        let mut lines = vec![
            Line::raw("No document can be checked until the daemon answers again."),
            Line::raw("Follow the procedure for checks without the local list meanwhile."),
            Line::styled(
                format!(
                    "Trying again every {}.",
                    age_text(v.status_every.max(Duration::from_secs(1)))
                ),
                DIM,
            ),
        ];
        if let Shown::NotChecked(_) = screen.shown {
            lines.insert(0, Line::styled("The last document was NOT checked.", BAD));
        }
        return (
            Banner {
                title: "DAEMON UNREACHABLE: NOTHING CAN BE CHECKED".into(),
                subtitle: why.clone(),
                style: UNREACHABLE,
            },
            lines,
        );
    }
    match &screen.shown {
        Shown::Ready => {
            let title = match screen.link {
                Link::Connecting => "Connecting to the daemon",
                _ => "Ready: scan a document",
            };
            (
                Banner {
                    title: title.into(),
                    subtitle: "or press F2 to type its number".into(),
                    style: BAR,
                },
                Vec::new(),
            )
        }
        Shown::Checking(_) => (
            Banner {
                title: "Checking".into(),
                subtitle: String::new(),
                style: BAR,
            },
            Vec::new(),
        ),
        Shown::Unreadable(why) => (
            Banner {
                title: "MRZ NOT READ: NOTHING WAS CHECKED".into(),
                subtitle: why.clone(),
                style: NOT_CHECKED,
            },
            vec![
                Line::raw("Scan the document again."),
                Line::raw("If it fails again, press F2 and type the document number."),
            ],
        ),
        Shown::NotChecked(why) => (
            Banner {
                title: "NOT CHECKED".into(),
                subtitle: why.clone(),
                style: NOT_CHECKED,
            },
            vec![Line::raw(
                "Scan the document again, or press F2 and type its number.",
            )],
        ),
        Shown::Answer { asked, response } => answer_content(asked, response),
    }
}

fn answer_content(asked: &Asked, r: &pb::CheckResponse) -> (Banner, Vec<Line<'static>>) {
    let freshness = r
        .dataset
        .as_ref()
        .and_then(|d| pb::Freshness::try_from(d.freshness).ok());
    let caveat = match freshness {
        Some(pb::Freshness::Stale) => " (DATA STALE: recent reports missing)",
        Some(pb::Freshness::Expired) => " (DATA EXPIRED: may be incomplete)",
        _ => "",
    };
    let mut lines = Vec::new();
    let banner = match verdict_of(r) {
        Some(Verdict::Hit) => {
            let mut distinct: Vec<&str> = Vec::new();
            for m in &r.matches {
                let word = status_word(m.status);
                if !distinct.contains(&word) {
                    distinct.push(word);
                }
            }
            lines.extend(hit_lines(&r.matches));
            Banner {
                title: format!("HIT: LISTED AS {}", distinct.join(" / ")),
                subtitle: format!(
                    "{} record{}. Keep the document; follow the hit procedure. Quote the reference.",
                    r.matches.len(),
                    if r.matches.len() == 1 { "" } else { "s" }
                ),
                style: HIT,
            }
        }
        Some(Verdict::NoHit) => Banner {
            title: format!("NO HIT: not listed{caveat}"),
            subtitle: checked_text(asked, r),
            style: NO_HIT,
        },
        Some(Verdict::PossibleMatch) => {
            lines.extend(possible_lines(&r.possible_matches));
            Banner {
                title: format!("POSSIBLE MATCH: NOT A HIT{caveat}"),
                subtitle: format!(
                    "Not listed as read. Compare the document with {} below; the same document means a hit.",
                    if r.possible_matches.len() == 1 {
                        "the record"
                    } else {
                        "each record"
                    }
                ),
                style: POSSIBLE,
            }
        }
        None => Banner {
            title: "NOT CHECKED".into(),
            subtitle: r.error.clone(),
            style: NOT_CHECKED,
        },
    };
    if let Some(note) = &r.issuing_country_note {
        lines.push(Line::raw(""));
        lines.push(Line::from(vec![
            Span::styled("Issuing country: ", WARN),
            Span::raw(country_note_text(note)),
        ]));
    }
    if let Some(m) = &r.mrz {
        lines.push(Line::raw(""));
        lines.extend(mrz_lines(m));
    }
    (banner, lines)
}

fn checked_text(asked: &Asked, r: &pb::CheckResponse) -> String {
    match (asked, &r.mrz) {
        (_, Some(m)) => format!(
            "Checked {} {} type {} from the MRZ.",
            m.issuing_country,
            m.document_number,
            m.document_code.trim_end_matches('<')
        ),
        (Asked::Manual(q), None) => format!(
            "Checked number {}, {}, {}.",
            q.number,
            if q.country.is_empty() {
                "any issuing country".to_string()
            } else {
                format!("issuing country {}", q.country)
            },
            if q.doc_type.is_empty() {
                "any document type".to_string()
            } else {
                format!("type {}", q.doc_type)
            }
        ),
        (Asked::Mrz, None) => String::new(),
    }
}

fn hit_lines(records: &[pb::Record]) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for (i, m) in records.iter().enumerate() {
        if records.len() > 1 {
            lines.push(Line::styled(
                format!("Record {} of {}", i + 1, records.len()),
                BAD,
            ));
        }
        let mut reported = m.reported_on.clone();
        if !m.reporting_country.is_empty() {
            reported.push_str(&format!(" by {}", m.reporting_country));
        }
        for (label, value, style) in [
            ("Issuing state", m.issuing_country.clone(), Style::new()),
            ("Document number", m.document_number.clone(), Style::new()),
            ("Document type", m.document_type.clone(), Style::new()),
            ("Status", status_word(m.status).to_string(), BAD),
            ("Reported", reported, Style::new()),
            (
                "Reference",
                if m.reference.is_empty() {
                    "(none given)".into()
                } else {
                    m.reference.clone()
                },
                Style::new(),
            ),
        ] {
            lines.push(Line::from(vec![
                Span::styled(format!("{label:<16} "), LABEL),
                Span::styled(value, style.add_modifier(Modifier::BOLD)),
            ]));
        }
    }
    lines
}

fn possible_lines(matches: &[pb::PossibleMatch]) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for (i, p) in matches.iter().enumerate() {
        let rec = p.record.clone().unwrap_or_default();
        let mut text = format!(
            "{}. {} {} type {} {} reported {}",
            i + 1,
            rec.issuing_country,
            rec.document_number,
            rec.document_type,
            status_word(rec.status),
            rec.reported_on
        );
        if !rec.reference.is_empty() {
            text.push_str(&format!(" ref {}", rec.reference));
        }
        lines.push(Line::styled(text, WARN));
        let mut why = if p.explanation.is_empty() {
            match pb::PossibleMatchReason::try_from(p.reason) {
                Ok(pb::PossibleMatchReason::ConfusableCharacter) => format!(
                    "position {}: {} in the query, {} in the record",
                    p.position, p.query_character, p.record_character
                ),
                Ok(pb::PossibleMatchReason::OtherIssuingCountry) => {
                    format!("listed under {}", rec.issuing_country)
                }
                _ => String::new(),
            }
        } else {
            p.explanation.clone()
        };
        if p.fixes_check_digit {
            why.push_str(" (this reading satisfies the failed check digit)");
        }
        lines.push(Line::raw(format!("   {why}")));
    }
    lines
}

fn mrz_lines(m: &pb::MrzResult) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(vec![
        Span::styled("MRZ ", LABEL),
        Span::raw(format!(
            "{}  document {}  state {}  number {}  nationality {}  expiry {}",
            format_name(m.format),
            m.document_code,
            m.issuing_country,
            m.document_number,
            m.nationality,
            m.expiry_date
        )),
    ])];
    let failed: Vec<&pb::MrzCheckDigit> = m.check_digits.iter().filter(|c| !c.valid).collect();
    if failed.is_empty() && !m.check_digits.is_empty() {
        lines.push(Line::styled("Check digits: all correct", GOOD));
    }
    for c in failed {
        lines.push(Line::from(vec![
            Span::styled("CHECK DIGIT FAILED: ", BAD),
            Span::raw(format!(
                "{}: printed {}, but the characters read give {}. Compare them with the document.",
                field_words(&c.field),
                c.found,
                c.expected
            )),
        ]));
    }
    if !m.check_digits_valid && failed_number(m) {
        lines.push(Line::styled(
            "The number was checked as read; it may be misread.",
            WARN,
        ));
    }
    if m.upper_cased {
        lines.push(Line::styled(
            "The MRZ was in lower case: typed or pasted, not read. Compare it with the document.",
            WARN,
        ));
    }
    lines
}

fn failed_number(m: &pb::MrzResult) -> bool {
    m.check_digits
        .iter()
        .any(|c| !c.valid && c.field == "document_number")
}

/// A check digit's field in words.
fn field_words(field: &str) -> String {
    match field {
        "document_number" => "document number".into(),
        "birth_date" => "date of birth".into(),
        "expiry_date" => "date of expiry".into(),
        "optional_data" => "optional data".into(),
        "composite" => "composite (number, dates and optional data together)".into(),
        other => other.replace('_', " "),
    }
}

fn country_note_text(n: &pb::IssuingCountryNote) -> String {
    if !n.explanation.is_empty() {
        return n.explanation.clone();
    }
    let mut s = format!("{} was checked as {}", n.given, n.used);
    if !n.name.is_empty() {
        s.push_str(&format!(" ({})", n.name));
    }
    s
}

fn status_word(code: i32) -> &'static str {
    match pb::Status::try_from(code) {
        Ok(pb::Status::Stolen) => "STOLEN",
        Ok(pb::Status::Lost) => "LOST",
        Ok(pb::Status::Revoked) => "REVOKED",
        Ok(pb::Status::Invalidated) => "INVALIDATED",
        Ok(pb::Status::StolenBlank) => "STOLEN BLANK",
        _ => "LISTED (status unknown)",
    }
}

fn format_name(code: i32) -> &'static str {
    match pb::MrzFormat::try_from(code) {
        Ok(pb::MrzFormat::Td1) => "TD1",
        Ok(pb::MrzFormat::Td2) => "TD2",
        Ok(pb::MrzFormat::Td3) => "TD3",
        Ok(pb::MrzFormat::MrvA) => "MRV-A",
        Ok(pb::MrzFormat::MrvB) => "MRV-B",
        _ => "?",
    }
}

fn reading_line(v: &View) -> Paragraph<'static> {
    if let Some(why) = &v.screen.reader_lost {
        return Paragraph::new(format!(" READER DISCONNECTED: {why} (trying again)")).style(BAD);
    }
    match v.progress {
        Some(p) => Paragraph::new(format!(
            " Reading: {} line{} received{}",
            p.lines,
            if p.lines == 1 { "" } else { "s" },
            if p.chars > 0 {
                format!(", {} characters of the next", p.chars)
            } else {
                String::new()
            }
        ))
        .style(WARN),
        None => Paragraph::new(""),
    }
}

fn keys_line(v: &View) -> Paragraph<'static> {
    let keys = if v.screen.form.is_some() {
        " Tab next field   Enter check   Esc cancel"
    } else {
        " F2 type a number   Esc next traveller   F10 quit"
    };
    Paragraph::new(Line::from(vec![
        Span::raw(keys),
        Span::raw(format!(
            "   (the screen clears after {})",
            age_text(v.clear_after)
        )),
    ]))
    .style(BAR)
}

fn draw_form(frame: &mut Frame, form: &ManualForm) {
    let area = centered(frame.area(), 64, 10);
    frame.render_widget(Clear, area);
    let block = Block::bordered().title(" Type the document ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let labels = [
        ("Document number", ""),
        ("Issuing country", "  optional: any if blank"),
        ("Document type", "  optional: P, I, A, C, V"),
    ];
    let mut lines = Vec::new();
    for (i, (label, hint)) in labels.iter().enumerate() {
        let focused = form.focus == i;
        let width = crate::screen::FORM_FIELD_MAX[i].min(30);
        lines.push(Line::from(vec![
            Span::styled(format!("{label:<16} "), LABEL),
            Span::styled(
                format!("[{:<width$}]", form.field(i)),
                if focused {
                    Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
                } else {
                    Style::new()
                },
            ),
            Span::styled(*hint, DIM),
        ]));
    }
    lines.push(Line::raw(""));
    if let Some(e) = &form.error {
        lines.push(Line::styled(e.clone(), BAD));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    let x = inner.x + 18 + form.field(form.focus).chars().count() as u16;
    let y = inner.y + form.focus as u16;
    if x < inner.right() && y < inner.bottom() {
        frame.set_cursor_position((x, y));
    }
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// A duration in the words every sltd program uses for one
/// ([`sltd_model::format_span`]).
pub(crate) fn age_text(d: Duration) -> String {
    sltd_model::format_span(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn timestamp_text(t: prost_types::Timestamp) -> String {
    let Ok(secs) = u64::try_from(t.seconds) else {
        return format!("{} (Unix time)", t.seconds);
    };
    let at = UNIX_EPOCH + Duration::from_secs(secs);
    let text = humantime::format_rfc3339_seconds(at).to_string();
    // 2025-12-01T21:50:03Z -> 2025-12-01 21:50 UTC
    match (text.get(..10), text.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => text,
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screen::{Failure, ManualQuery};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn render(screen: &Screen, now: Instant) -> String {
        let mut t = Terminal::new(TestBackend::new(100, 30)).unwrap();
        t.draw(|f| {
            draw(
                f,
                &View {
                    screen,
                    progress: None,
                    now,
                    server: "http://127.0.0.1:50051",
                    reader: "keyboard",
                    clear_after: Duration::from_secs(60),
                    status_every: Duration::from_secs(5),
                },
            )
        })
        .unwrap();
        let buf = t.backend().buffer().clone();
        let mut s = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                s.push_str(buf[(x, y)].symbol());
            }
            s.push('\n');
        }
        s
    }

    fn dataset(freshness: pb::Freshness) -> pb::DatasetInfo {
        pb::DatasetInfo {
            content_id: "ab".repeat(16),
            sequence: 7,
            as_of: Some(prost_types::Timestamp {
                seconds: 1_764_625_800,
                nanos: 0,
            }),
            freshness: freshness as i32,
            age_seconds: 3 * 3600 + 5 * 60,
            expires_at: None,
            record_count: 1_000_007,
        }
    }

    fn record() -> pb::Record {
        pb::Record {
            issuing_country: "UTO".into(),
            document_number: "L898902C3".into(),
            document_type: "P".into(),
            status: pb::Status::Stolen as i32,
            reported_on: "2021-03-04".into(),
            reporting_country: String::new(),
            reference: "UTO-TD3-0001".into(),
        }
    }

    fn mrz(number_ok: bool) -> pb::MrzResult {
        pb::MrzResult {
            format: pb::MrzFormat::Td3 as i32,
            document_code: "P<".into(),
            issuing_country: "UTO".into(),
            document_number: "L898902C3".into(),
            nationality: "UTO".into(),
            birth_date: "740812".into(),
            sex: "F".into(),
            expiry_date: "120415".into(),
            check_digits: vec![
                pb::MrzCheckDigit {
                    field: "document_number".into(),
                    found: if number_ok { "6" } else { "7" }.into(),
                    expected: "6".into(),
                    valid: number_ok,
                },
                pb::MrzCheckDigit {
                    field: "birth_date".into(),
                    found: "2".into(),
                    expected: "2".into(),
                    valid: true,
                },
            ],
            check_digits_valid: number_ok,
            upper_cased: false,
        }
    }

    fn answered(r: pb::CheckResponse, asked: Asked) -> (Screen, Instant) {
        let t0 = Instant::now();
        let mut s = Screen::new(Duration::from_secs(60));
        let id = s.begin_check(asked, t0);
        s.answer(id, Ok(Box::new(r)), t0);
        (s, t0)
    }

    #[test]
    fn hit_shows_the_record_and_failed_check_digits_in_words() {
        let (s, t0) = answered(
            pb::CheckResponse {
                verdict: pb::Verdict::Hit as i32,
                matches: vec![record()],
                mrz: Some(mrz(false)),
                dataset: Some(dataset(pb::Freshness::Fresh)),
                ..Default::default()
            },
            Asked::Mrz,
        );
        let text = render(&s, t0);
        for needle in [
            "HIT: LISTED AS STOLEN",
            "UTO-TD3-0001",
            "L898902C3",
            "2021-03-04",
            "CHECK DIGIT FAILED: document number: printed 7, but the characters read give 6",
            "data FRESH",
            "as of 2025-12-01 21:50 UTC",
            "age 3 h 5 min",
            "1,000,007 records",
            "feed sequence 7",
            "connected",
        ] {
            assert!(text.contains(needle), "{needle:?} not in\n{text}");
        }
        assert!(
            !text.contains("NO HIT") && !text.contains("POSSIBLE"),
            "{text}"
        );
    }

    #[test]
    fn a_number_listed_by_two_states() {
        let other = pb::Record {
            issuing_country: "D".into(),
            status: pb::Status::Lost as i32,
            reporting_country: "FRA".into(),
            reference: String::new(),
            ..record()
        };
        let (s, t0) = answered(
            pb::CheckResponse {
                verdict: pb::Verdict::Hit as i32,
                matches: vec![record(), other, record()],
                dataset: Some(dataset(pb::Freshness::Fresh)),
                ..Default::default()
            },
            Asked::Manual(ManualQuery {
                number: "L898902C3".into(),
                ..Default::default()
            }),
        );
        let text = render(&s, t0);
        for needle in [
            "HIT: LISTED AS STOLEN / LOST",
            "3 records.",
            "Record 2 of 3",
            "2021-03-04 by FRA",
            "(none given)",
        ] {
            assert!(text.contains(needle), "{needle:?} not in\n{text}");
        }
    }

    #[test]
    fn possible_match_never_looks_like_a_hit() {
        let (s, t0) = answered(
            pb::CheckResponse {
                verdict: pb::Verdict::NoHit as i32,
                possible_matches: vec![pb::PossibleMatch {
                    record: Some(record()),
                    reason: pb::PossibleMatchReason::ConfusableCharacter as i32,
                    position: 6,
                    query_character: "O".into(),
                    record_character: "0".into(),
                    fixes_check_digit: true,
                    explanation: "position 6: O in the query, 0 in the record".into(),
                }],
                mrz: Some(mrz(false)),
                dataset: Some(dataset(pb::Freshness::Fresh)),
                ..Default::default()
            },
            Asked::Mrz,
        );
        let text = render(&s, t0);
        assert!(text.contains("POSSIBLE MATCH: NOT A HIT"), "{text}");
        assert!(text.contains("position 6: O in the query, 0 in the record"));
        assert!(text.contains("satisfies the failed check digit"));
        assert!(!text.contains("HIT: LISTED"), "{text}");
    }

    #[test]
    fn no_hit_with_stale_and_expired_data() {
        for (freshness, bar, caveat) in [
            (
                pb::Freshness::Stale,
                "DATA STALE",
                "NO HIT: not listed (DATA STALE",
            ),
            (
                pb::Freshness::Expired,
                "DATA EXPIRED",
                "NO HIT: not listed (DATA EXPIRED",
            ),
        ] {
            let (s, t0) = answered(
                pb::CheckResponse {
                    verdict: pb::Verdict::NoHit as i32,
                    dataset: Some(dataset(freshness)),
                    issuing_country_note: Some(pb::IssuingCountryNote {
                        kind: pb::IssuingCountryNoteKind::IsoCodeMapped as i32,
                        given: "DEU".into(),
                        used: "D".into(),
                        name: "Germany".into(),
                        explanation: String::new(),
                        given_also_used: false,
                    }),
                    ..Default::default()
                },
                Asked::Manual(ManualQuery {
                    number: "X1".into(),
                    country: "DEU".into(),
                    doc_type: String::new(),
                }),
            );
            let text = render(&s, t0);
            assert!(text.contains(bar), "{text}");
            assert!(text.contains(caveat), "{text}");
            assert!(text.contains("DEU was checked as D (Germany)"), "{text}");
            assert!(
                text.contains("Checked number X1, issuing country DEU, any document type"),
                "{text}"
            );
        }
    }

    #[test]
    fn unreachable_daemon_shows_no_verdict() {
        let (mut s, t0) = answered(
            pb::CheckResponse {
                verdict: pb::Verdict::Hit as i32,
                matches: vec![record()],
                dataset: Some(dataset(pb::Freshness::Fresh)),
                ..Default::default()
            },
            Asked::Mrz,
        );
        s.status(Err(Failure::Unreachable("connection refused".into())), t0);
        let text = render(&s, t0);
        assert!(text.contains("DAEMON UNREACHABLE"), "{text}");
        assert!(text.contains("connection refused"), "{text}");
        assert!(text.contains("DATA SET UNKNOWN"), "{text}");
        assert!(
            !text.contains("L898902C3") && !text.contains("HIT:"),
            "{text}"
        );
    }

    #[test]
    fn unreadable_and_form() {
        let t0 = Instant::now();
        let mut s = Screen::new(Duration::from_secs(60));
        s.unreadable("only 1 of the 2 lines arrived".into(), t0);
        let text = render(&s, t0);
        assert!(text.contains("MRZ NOT READ: NOTHING WAS CHECKED"), "{text}");
        assert!(
            text.contains("press F2 and type the document number"),
            "{text}"
        );
        s.open_form(t0);
        if let Some(f) = s.form.as_mut() {
            for c in "L898902C3".chars() {
                f.type_char(c);
            }
        }
        let text = render(&s, t0);
        assert!(text.contains("Type the document"), "{text}");
        assert!(text.contains("[L898902C3"), "{text}");
    }

    #[test]
    fn words_and_numbers() {
        assert_eq!(
            age_text(Duration::from_secs(3 * 3600 + 5 * 60)),
            "3 h 5 min"
        );
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(128_000_000), "128,000,000");
        assert_eq!(
            field_words("composite").split(' ').next(),
            Some("composite")
        );
    }
}
