//! What the desk shows, as plain data, and the rules for changing it: a
//! verdict replaces the one before it, an unreachable daemon clears the
//! screen, a traveller's data is cleared after a while, an answer that
//! arrives after the officer moved on is dropped. Drawing it is `ui`'s job;
//! this module has no terminal and no clock of its own, so every rule is
//! unit-tested.

use std::time::{Duration, Instant};

use sltd_proto::v1 as pb;

/// Why a call to the daemon gave no answer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum Failure {
    /// No daemon answered (not running, network down, no data loaded yet,
    /// timed out): nothing can be checked.
    Unreachable(String),
    /// The daemon refused the query (INVALID_ARGUMENT): it names the field.
    Refused(String),
    /// Any other error; the daemon's message.
    Other(String),
}

impl Failure {
    pub(crate) fn from_status(s: &tonic::Status) -> Failure {
        use tonic::Code;
        let mut text = s.message().to_string();
        // Transport errors say "transport error"; the cause is below.
        let mut source = std::error::Error::source(s);
        while let Some(e) = source {
            let more = e.to_string();
            if !text.contains(&more) {
                if !text.is_empty() {
                    text.push_str(": ");
                }
                text.push_str(&more);
            }
            source = e.source();
        }
        if text.is_empty() {
            text = format!("{:?}", s.code());
        }
        match s.code() {
            Code::InvalidArgument => Failure::Refused(text),
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => {
                Failure::Unreachable(text)
            }
            _ => Failure::Other(text),
        }
    }
}

/// A document typed by hand.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub(crate) struct ManualQuery {
    pub(crate) number: String,
    pub(crate) country: String,
    pub(crate) doc_type: String,
}

/// What was sent to the daemon, to say what an answer is about.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum Asked {
    /// MRZ text from the reader (kept only until the answer arrives).
    Mrz,
    Manual(ManualQuery),
}

impl ManualQuery {
    pub(crate) fn request(&self) -> pb::CheckRequest {
        pb::CheckRequest {
            request_id: String::new(),
            query: Some(pb::check_request::Query::Document(pb::Document {
                number: self.number.clone(),
                issuing_country: self.country.clone(),
                document_type: self.doc_type.clone(),
            })),
            // The unary default (possible matches wanted) is right for a desk.
            include_possible_matches: None,
        }
    }
}

pub(crate) fn mrz_request(text: &str) -> pb::CheckRequest {
    pb::CheckRequest {
        request_id: String::new(),
        query: Some(pb::check_request::Query::Mrz(text.to_string())),
        include_possible_matches: None,
    }
}

/// The verdict an officer acts on, as the screen names it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Verdict {
    /// Listed: at least one exact record.
    Hit,
    /// Not listed, and no record resembles it.
    NoHit,
    /// Not listed exactly, but records that may be the same document exist
    /// (a commonly misread character, another issuing country). Never a hit.
    PossibleMatch,
}

pub(crate) fn verdict_of(r: &pb::CheckResponse) -> Option<Verdict> {
    match pb::Verdict::try_from(r.verdict) {
        Ok(pb::Verdict::Hit) => Some(Verdict::Hit),
        Ok(pb::Verdict::NoHit) if r.possible_matches.is_empty() => Some(Verdict::NoHit),
        Ok(pb::Verdict::NoHit) => Some(Verdict::PossibleMatch),
        _ => None,
    }
}

/// The traveller part of the screen.
#[derive(Clone, PartialEq, Debug)]
pub(crate) enum Shown {
    /// Waiting for a document.
    Ready,
    /// A query is with the daemon.
    Checking(Asked),
    /// The daemon's answer.
    Answer {
        asked: Asked,
        response: Box<pb::CheckResponse>,
    },
    /// The scan could not be read as an MRZ (by this program or by the
    /// daemon): nothing was checked.
    Unreadable(String),
    /// Nothing was checked, for another reason.
    NotChecked(String),
}

/// The state of the connection to the daemon.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum Link {
    /// No answer yet.
    Connecting,
    Up,
    Down(String),
}

/// The manual entry form: number, and optionally country and type.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub(crate) struct ManualForm {
    pub(crate) query: ManualQuery,
    /// 0 number, 1 country, 2 type.
    pub(crate) focus: usize,
    /// Why the daemon refused the last submission.
    pub(crate) error: Option<String>,
    /// Characters of each field already there when the form was shown (a
    /// refused query, for correcting): never reader input.
    prefilled: [usize; 3],
}

/// The longest text each field of the form takes: a number may be typed
/// with spaces or hyphens; a country code has at most three letters, a
/// document type two.
pub(crate) const FORM_FIELD_MAX: [usize; 3] = [40, 3, 2];

/// What a key does in the form.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum FormAction {
    Nothing,
    Submit(ManualQuery),
    Cancel,
    /// A `<` arrived: that is MRZ text, a reader scanning while the form is
    /// open. The field's text and the `<` belong to the reader input.
    HandOver(String),
}

impl ManualForm {
    pub(crate) fn with(query: ManualQuery, error: Option<String>) -> ManualForm {
        let prefilled = [
            query.number.len(),
            query.country.len(),
            query.doc_type.len(),
        ];
        ManualForm {
            query,
            focus: 0,
            error,
            prefilled,
        }
    }

    pub(crate) fn field(&self, i: usize) -> &str {
        match i {
            0 => &self.query.number,
            1 => &self.query.country,
            _ => &self.query.doc_type,
        }
    }

    fn field_mut(&mut self, i: usize) -> &mut String {
        match i {
            0 => &mut self.query.number,
            1 => &mut self.query.country,
            _ => &mut self.query.doc_type,
        }
    }

    pub(crate) fn type_char(&mut self, c: char) -> FormAction {
        if c == '<' {
            let keep = self.prefilled[self.focus];
            let field = self.field_mut(self.focus);
            let mut text = field.split_off(keep.min(field.len()));
            text.push('<');
            return FormAction::HandOver(text);
        }
        let allowed = match self.focus {
            0 => c.is_ascii_alphanumeric() || c == ' ' || c == '-',
            _ => c.is_ascii_alphabetic(),
        };
        let max = FORM_FIELD_MAX[self.focus];
        let field = self.field_mut(self.focus);
        if allowed && field.chars().count() < max {
            field.push(c.to_ascii_uppercase());
        }
        FormAction::Nothing
    }

    pub(crate) fn backspace(&mut self) {
        let focus = self.focus;
        self.field_mut(focus).pop();
        let len = self.field(focus).len();
        self.prefilled[focus] = self.prefilled[focus].min(len);
    }

    pub(crate) fn next_field(&mut self) {
        self.focus = (self.focus + 1) % 3;
    }

    pub(crate) fn previous_field(&mut self) {
        self.focus = (self.focus + 2) % 3;
    }

    pub(crate) fn submit(&mut self) -> FormAction {
        if self.query.number.trim().is_empty() {
            self.focus = 0;
            self.error = Some("type the document number".into());
            return FormAction::Nothing;
        }
        FormAction::Submit(self.query.clone())
    }
}

/// The data set as last reported, and when.
#[derive(Clone, PartialEq, Debug)]
pub(crate) struct DatasetSeen {
    pub(crate) info: pb::DatasetInfo,
    pub(crate) at: Instant,
}

impl DatasetSeen {
    /// The data set's age now: its age when reported plus the time since.
    pub(crate) fn age_at(&self, now: Instant) -> Duration {
        Duration::from_secs(self.info.age_seconds.max(0).unsigned_abs())
            + now.saturating_duration_since(self.at)
    }
}

/// Everything the screen shows.
#[derive(Debug)]
pub(crate) struct Screen {
    pub(crate) link: Link,
    pub(crate) dataset: Option<DatasetSeen>,
    pub(crate) shown: Shown,
    /// When `shown` started showing a traveller's data.
    shown_at: Option<Instant>,
    pub(crate) form: Option<ManualForm>,
    /// The reader connection failed (serial port gone).
    pub(crate) reader_lost: Option<String>,
    clear_after: Duration,
    /// Identifies the query in flight; answers to older ones are dropped.
    in_flight: Option<u64>,
    next_id: u64,
}

impl Screen {
    pub(crate) fn new(clear_after: Duration) -> Screen {
        Screen {
            link: Link::Connecting,
            dataset: None,
            shown: Shown::Ready,
            shown_at: None,
            form: None,
            reader_lost: None,
            clear_after,
            in_flight: None,
            next_id: 0,
        }
    }

    fn show(&mut self, shown: Shown, now: Instant) {
        self.shown_at = (shown != Shown::Ready).then_some(now);
        self.shown = shown;
    }

    /// A query leaves for the daemon; returns its id for [`Screen::answer`].
    pub(crate) fn begin_check(&mut self, asked: Asked, now: Instant) -> u64 {
        self.next_id += 1;
        self.in_flight = Some(self.next_id);
        self.form = None;
        self.show(Shown::Checking(asked), now);
        self.next_id
    }

    /// The answer to query `id`.
    pub(crate) fn answer(
        &mut self,
        id: u64,
        result: Result<Box<pb::CheckResponse>, Failure>,
        now: Instant,
    ) {
        if self.in_flight != Some(id) {
            return;
        }
        self.in_flight = None;
        let Shown::Checking(asked) = std::mem::replace(&mut self.shown, Shown::Ready) else {
            return;
        };
        match result {
            Ok(response) => {
                self.link = Link::Up;
                if let Some(info) = &response.dataset {
                    self.dataset = Some(DatasetSeen {
                        info: info.clone(),
                        at: now,
                    });
                }
                self.show(Shown::Answer { asked, response }, now);
            }
            Err(Failure::Unreachable(why)) => {
                self.link = Link::Down(why);
                self.show(
                    Shown::NotChecked("the daemon did not answer".to_string()),
                    now,
                );
            }
            Err(Failure::Refused(why)) => match asked {
                Asked::Mrz => self.show(Shown::Unreadable(why), now),
                Asked::Manual(q) => {
                    // Back to the form with what was typed, to correct it.
                    self.form = Some(ManualForm::with(q, Some(why)));
                    self.show(Shown::Ready, now);
                    self.shown_at = Some(now);
                }
            },
            Err(Failure::Other(why)) => self.show(Shown::NotChecked(why), now),
        }
    }

    /// The reader's input could not be an MRZ.
    pub(crate) fn unreadable(&mut self, why: String, now: Instant) {
        self.in_flight = None;
        self.show(Shown::Unreadable(why), now);
    }

    /// The answer of a status poll.
    pub(crate) fn status(&mut self, result: Result<pb::GetStatusResponse, Failure>, now: Instant) {
        match result {
            Ok(s) => {
                self.link = Link::Up;
                if let Some(info) = s.dataset {
                    self.dataset = Some(DatasetSeen { info, at: now });
                }
            }
            Err(f) => {
                let why = match f {
                    Failure::Unreachable(w) | Failure::Refused(w) | Failure::Other(w) => w,
                };
                self.link = Link::Down(why);
                // Never a verdict on screen that can no longer be relied on,
                // and nothing in flight that could land later.
                if matches!(self.shown, Shown::Answer { .. } | Shown::Checking(_)) {
                    self.in_flight = None;
                    self.show(Shown::Ready, now);
                }
            }
        }
    }

    pub(crate) fn open_form(&mut self, now: Instant) {
        if self.form.is_none() {
            self.form = Some(ManualForm::default());
            self.shown_at.get_or_insert(now);
        }
    }

    /// The officer is typing in the form: it stays while they do.
    pub(crate) fn form_touched(&mut self, now: Instant) {
        if self.form.is_some() && !matches!(self.shown, Shown::Checking(_)) {
            self.shown_at = Some(now);
        }
    }

    /// The officer cleared the screen (Esc): the next traveller.
    pub(crate) fn clear(&mut self) {
        self.in_flight = None;
        self.form = None;
        self.shown = Shown::Ready;
        self.shown_at = None;
    }

    /// When the traveller's data is cleared if nothing else happens.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        if matches!(self.shown, Shown::Checking(_)) {
            return None;
        }
        self.shown_at.map(|t| t + self.clear_after)
    }

    /// Clears the traveller's data once it has been shown long enough.
    pub(crate) fn tick(&mut self, now: Instant) {
        if self.deadline().is_some_and(|d| now >= d) {
            self.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAR: Duration = Duration::from_secs(60);

    fn response(verdict: pb::Verdict, possible: usize) -> pb::CheckResponse {
        pb::CheckResponse {
            verdict: verdict as i32,
            possible_matches: vec![pb::PossibleMatch::default(); possible],
            dataset: Some(pb::DatasetInfo {
                age_seconds: 120,
                freshness: pb::Freshness::Fresh as i32,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn verdicts() {
        let v = |verdict, possible| verdict_of(&response(verdict, possible));
        assert_eq!(v(pb::Verdict::Hit, 0), Some(Verdict::Hit));
        assert_eq!(v(pb::Verdict::NoHit, 0), Some(Verdict::NoHit));
        assert_eq!(v(pb::Verdict::NoHit, 2), Some(Verdict::PossibleMatch));
        assert_eq!(v(pb::Verdict::InvalidQuery, 0), None);
    }

    #[test]
    fn an_answer_is_shown_then_cleared_after_the_configured_time() {
        let t0 = Instant::now();
        let mut s = Screen::new(CLEAR);
        let id = s.begin_check(Asked::Mrz, t0);
        assert_eq!(s.deadline(), None, "no clearing while checking");
        s.answer(id, Ok(Box::new(response(pb::Verdict::Hit, 0))), t0);
        assert_eq!(s.link, Link::Up);
        assert!(matches!(s.shown, Shown::Answer { .. }));
        let seen = s.dataset.clone().unwrap();
        assert_eq!(seen.age_at(t0 + Duration::from_secs(30)).as_secs(), 150);
        s.tick(t0 + CLEAR - Duration::from_millis(1));
        assert!(matches!(s.shown, Shown::Answer { .. }));
        s.tick(t0 + CLEAR);
        assert_eq!(s.shown, Shown::Ready);
        assert_eq!(s.deadline(), None);
    }

    #[test]
    fn a_late_answer_is_dropped() {
        let t0 = Instant::now();
        let mut s = Screen::new(CLEAR);
        let first = s.begin_check(Asked::Mrz, t0);
        let second = s.begin_check(Asked::Mrz, t0);
        s.answer(first, Ok(Box::new(response(pb::Verdict::Hit, 0))), t0);
        assert_eq!(s.shown, Shown::Checking(Asked::Mrz));
        s.answer(second, Ok(Box::new(response(pb::Verdict::NoHit, 0))), t0);
        let Shown::Answer { response: r, .. } = &s.shown else {
            panic!("{:?}", s.shown)
        };
        assert_eq!(r.verdict, pb::Verdict::NoHit as i32);
        // Cleared while checking: the answer does not come back.
        let third = s.begin_check(Asked::Mrz, t0);
        s.clear();
        s.answer(third, Ok(Box::new(response(pb::Verdict::Hit, 0))), t0);
        assert_eq!(s.shown, Shown::Ready);
    }

    #[test]
    fn unreachable_daemon_clears_the_verdict() {
        let t0 = Instant::now();
        let mut s = Screen::new(CLEAR);
        let id = s.begin_check(Asked::Mrz, t0);
        s.answer(id, Ok(Box::new(response(pb::Verdict::Hit, 0))), t0);
        s.status(Err(Failure::Unreachable("connection refused".into())), t0);
        assert_eq!(s.link, Link::Down("connection refused".into()));
        assert_eq!(s.shown, Shown::Ready);
        // A check that fails for the same reason says nothing was checked.
        let id = s.begin_check(Asked::Mrz, t0);
        s.answer(id, Err(Failure::Unreachable("refused".into())), t0);
        assert!(matches!(s.shown, Shown::NotChecked(_)));
        // The daemon is back.
        s.status(Ok(pb::GetStatusResponse::default()), t0);
        assert_eq!(s.link, Link::Up);
        // A status failure while a query is in flight drops its answer.
        let id = s.begin_check(Asked::Mrz, t0);
        s.status(Err(Failure::Unreachable("gone".into())), t0);
        s.answer(id, Ok(Box::new(response(pb::Verdict::NoHit, 0))), t0);
        assert_eq!(s.shown, Shown::Ready);
    }

    #[test]
    fn refused_queries() {
        let t0 = Instant::now();
        let mut s = Screen::new(CLEAR);
        let id = s.begin_check(Asked::Mrz, t0);
        s.answer(
            id,
            Err(Failure::Refused("unknown document code".into())),
            t0,
        );
        assert_eq!(s.shown, Shown::Unreadable("unknown document code".into()));
        let q = ManualQuery {
            number: "L898.902".into(),
            ..Default::default()
        };
        let id = s.begin_check(Asked::Manual(q.clone()), t0);
        assert!(s.form.is_none());
        s.answer(id, Err(Failure::Refused("document.number: bad".into())), t0);
        let form = s.form.clone().unwrap();
        assert_eq!(form.query, q);
        assert_eq!(form.error.as_deref(), Some("document.number: bad"));
        // The form is the traveller's data too: it is cleared in time, but
        // not while the officer types in it.
        s.form_touched(t0 + CLEAR / 2);
        s.tick(t0 + CLEAR);
        assert!(s.form.is_some());
        s.tick(t0 + CLEAR / 2 + CLEAR);
        assert!(s.form.is_none());
    }

    #[test]
    fn form_input() {
        let mut f = ManualForm::default();
        for c in "l898 902-c3!".chars() {
            assert_eq!(f.type_char(c), FormAction::Nothing);
        }
        assert_eq!(f.query.number, "L898 902-C3");
        f.next_field();
        for c in "utop".chars() {
            f.type_char(c);
        }
        assert_eq!(f.query.country, "UTO");
        f.backspace();
        f.next_field();
        f.type_char('p');
        f.type_char('1');
        assert_eq!(f.query.doc_type, "P");
        f.next_field();
        assert_eq!(f.focus, 0);
        f.previous_field();
        assert_eq!(f.focus, 2);
        assert_eq!(
            f.submit(),
            FormAction::Submit(ManualQuery {
                number: "L898 902-C3".into(),
                country: "UT".into(),
                doc_type: "P".into(),
            })
        );
        // A reader scanning into the form.
        let mut f = ManualForm::default();
        assert_eq!(f.type_char('P'), FormAction::Nothing);
        assert_eq!(f.type_char('<'), FormAction::HandOver("P<".into()));
        assert_eq!(f.query.number, "");
        // A refused query shown again: its text is the officer's, not the
        // reader's.
        let mut f = ManualForm::with(
            ManualQuery {
                number: "AB12".into(),
                ..Default::default()
            },
            Some("refused".into()),
        );
        f.type_char('I');
        assert_eq!(f.type_char('<'), FormAction::HandOver("I<".into()));
        assert_eq!(f.query.number, "AB12");
        let mut f = ManualForm::default();
        // Nothing to submit without a number.
        assert_eq!(f.submit(), FormAction::Nothing);
        assert!(f.error.is_some());
    }

    #[test]
    fn failures_from_grpc_status() {
        let f = Failure::from_status(&tonic::Status::invalid_argument("document.number: x"));
        assert_eq!(f, Failure::Refused("document.number: x".into()));
        let f = Failure::from_status(&tonic::Status::unavailable("no data set loaded"));
        assert_eq!(f, Failure::Unreachable("no data set loaded".into()));
        let f = Failure::from_status(&tonic::Status::permission_denied(""));
        assert_eq!(f, Failure::Other("PermissionDenied".into()));
    }
}
