//! The check messages on the wire without the generated types' allocations:
//! [`CheckRequestView`] reads a `CheckRequest` as borrowed `&str` fields of
//! the received bytes, and [`CheckResponseParts`] writes a `CheckResponse`
//! straight into the output buffer, with the `DatasetInfo` block given as
//! bytes encoded once for many answers.
//!
//! Both agree with prost byte for byte: a view decodes exactly the messages
//! prost decodes (last value of a field wins, a repeated `document` merges,
//! unknown fields and groups are skipped, the same recursion limit) and
//! refuses exactly the ones prost refuses; the writer puts fields in field
//! order and leaves out defaults, as prost does. The tests check both
//! against prost on random messages and random bytes.

use std::fmt;

use prost::Message;
use prost::bytes::BufMut;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};

use crate::v1 as pb;

/// Nesting prost accepts in one message (its `RECURSION_LIMIT`).
const RECURSION_LIMIT: u32 = 100;

/// Why bytes are not a valid message. The text is prost's, so an error
/// reads the same whichever decoder met it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// A varint runs past the end or over ten bytes.
    InvalidVarint,
    /// A field key over 32 bits.
    InvalidKey,
    /// Wire type 6 or 7.
    InvalidWireType(u64),
    /// Field number 0.
    InvalidTag,
    /// A known field with another wire type than its declared one.
    UnexpectedWireType { field: u32 },
    /// A length or fixed-size field longer than what is left.
    BufferUnderflow,
    /// An end-group key without its start, or for another field.
    UnexpectedEndGroup,
    /// Groups nested deeper than prost allows.
    RecursionLimit,
    /// A string field that is not UTF-8.
    InvalidUtf8 { field: &'static str },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::InvalidVarint => f.write_str("invalid varint"),
            WireError::InvalidKey => f.write_str("invalid key value"),
            WireError::InvalidWireType(v) => write!(f, "invalid wire type value: {v}"),
            WireError::InvalidTag => f.write_str("invalid tag value: 0"),
            WireError::UnexpectedWireType { field } => {
                write!(f, "field {field} has an unexpected wire type")
            }
            WireError::BufferUnderflow => f.write_str("buffer underflow"),
            WireError::UnexpectedEndGroup => f.write_str("unexpected end group tag"),
            WireError::RecursionLimit => f.write_str("recursion limit reached"),
            WireError::InvalidUtf8 { field } => {
                write!(
                    f,
                    "{field}: invalid string value: data is not UTF-8 encoded"
                )
            }
        }
    }
}

impl std::error::Error for WireError {}

/// A bounds-checked reader over one message's bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some((&b, rest)) = self.bytes.split_first() else {
                return Err(WireError::InvalidVarint);
            };
            self.bytes = rest;
            if i == 9 && b > 1 {
                return Err(WireError::InvalidVarint);
            }
            value |= u64::from(b & 0x7F) << (7 * i);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err(WireError::InvalidVarint)
    }

    fn key(&mut self) -> Result<(u32, u8), WireError> {
        let key = self.varint()?;
        let key = u32::try_from(key).map_err(|_| WireError::InvalidKey)?;
        let wire_type = (key & 7) as u8;
        if wire_type > 5 {
            return Err(WireError::InvalidWireType(u64::from(wire_type)));
        }
        let tag = key >> 3;
        if tag == 0 {
            return Err(WireError::InvalidTag);
        }
        Ok((tag, wire_type))
    }

    fn take(&mut self, len: u64) -> Result<&'a [u8], WireError> {
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= self.bytes.len())
            .ok_or(WireError::BufferUnderflow)?;
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    fn length_delimited(&mut self, field: u32, wire_type: u8) -> Result<&'a [u8], WireError> {
        if wire_type != WireType::LengthDelimited as u8 {
            return Err(WireError::UnexpectedWireType { field });
        }
        let len = self.varint()?;
        self.take(len)
    }

    fn string(
        &mut self,
        field: u32,
        wire_type: u8,
        name: &'static str,
    ) -> Result<&'a str, WireError> {
        let bytes = self.length_delimited(field, wire_type)?;
        std::str::from_utf8(bytes).map_err(|_| WireError::InvalidUtf8 { field: name })
    }

    /// Skips an unknown field as prost does, groups included; `budget` is
    /// the nesting left.
    fn skip(&mut self, tag: u32, wire_type: u8, budget: u32) -> Result<(), WireError> {
        if budget == 0 {
            return Err(WireError::RecursionLimit);
        }
        let len = match wire_type {
            0 => {
                self.varint()?;
                0
            }
            1 => 8,
            2 => self.varint()?,
            3 => loop {
                let (inner, inner_type) = self.key()?;
                if inner_type == 4 {
                    if inner != tag {
                        return Err(WireError::UnexpectedEndGroup);
                    }
                    break 0;
                }
                self.skip(inner, inner_type, budget - 1)?;
            },
            4 => return Err(WireError::UnexpectedEndGroup),
            _ => 4,
        };
        self.take(len).map(|_| ())
    }
}

/// A `Document` as borrowed fields; absent fields are empty, as in proto3.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DocumentView<'a> {
    pub number: &'a str,
    pub issuing_country: &'a str,
    pub document_type: &'a str,
}

impl<'a> DocumentView<'a> {
    /// Merges the fields of `bytes` into `self` (prost's merge of a message
    /// field seen again); `budget` is the nesting left.
    fn merge(&mut self, bytes: &'a [u8], budget: u32) -> Result<(), WireError> {
        if budget == 0 {
            return Err(WireError::RecursionLimit);
        }
        let mut c = Cursor { bytes };
        while !c.is_empty() {
            let (tag, wt) = c.key()?;
            match tag {
                1 => self.number = c.string(tag, wt, "Document.number")?,
                2 => self.issuing_country = c.string(tag, wt, "Document.issuing_country")?,
                3 => self.document_type = c.string(tag, wt, "Document.document_type")?,
                _ => c.skip(tag, wt, budget - 1)?,
            }
        }
        Ok(())
    }
}

/// The `query` oneof of a `CheckRequest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryView<'a> {
    Document(DocumentView<'a>),
    Mrz(&'a str),
}

/// A `CheckRequest` as borrowed fields of its bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckRequestView<'a> {
    pub request_id: &'a str,
    pub query: Option<QueryView<'a>>,
    pub include_possible_matches: Option<bool>,
}

impl<'a> CheckRequestView<'a> {
    /// Reads one `CheckRequest`; refuses what prost refuses.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, WireError> {
        Self::decode_nested(bytes, RECURSION_LIMIT)
    }

    fn decode_nested(bytes: &'a [u8], budget: u32) -> Result<Self, WireError> {
        let mut view = CheckRequestView::default();
        let mut c = Cursor { bytes };
        while !c.is_empty() {
            let (tag, wt) = c.key()?;
            match tag {
                1 => view.request_id = c.string(tag, wt, "CheckRequest.request_id")?,
                2 => {
                    let body = c.length_delimited(tag, wt)?;
                    let mut doc = match view.query {
                        Some(QueryView::Document(d)) => d,
                        _ => DocumentView::default(),
                    };
                    doc.merge(body, budget)?;
                    view.query = Some(QueryView::Document(doc));
                }
                3 => view.query = Some(QueryView::Mrz(c.string(tag, wt, "CheckRequest.mrz")?)),
                4 => {
                    if wt != WireType::Varint as u8 {
                        return Err(WireError::UnexpectedWireType { field: tag });
                    }
                    view.include_possible_matches = Some(c.varint()? != 0);
                }
                _ => c.skip(tag, wt, budget)?,
            }
        }
        Ok(view)
    }

    /// The same request as the generated type (for tests and callers that
    /// need owned data).
    pub fn to_message(&self) -> pb::CheckRequest {
        pb::CheckRequest {
            request_id: self.request_id.to_owned(),
            query: self.query.map(|q| match q {
                QueryView::Document(d) => pb::check_request::Query::Document(pb::Document {
                    number: d.number.to_owned(),
                    issuing_country: d.issuing_country.to_owned(),
                    document_type: d.document_type.to_owned(),
                }),
                QueryView::Mrz(m) => pb::check_request::Query::Mrz(m.to_owned()),
            }),
            include_possible_matches: self.include_possible_matches,
        }
    }
}

/// Reads a `CheckBatchRequest`, handing each query to `each` in order.
/// Refuses what prost refuses; on an error some queries may have been
/// handed over already.
pub fn decode_check_batch_request<'a>(
    bytes: &'a [u8],
    mut each: impl FnMut(CheckRequestView<'a>),
) -> Result<(), WireError> {
    let mut c = Cursor { bytes };
    while !c.is_empty() {
        let (tag, wt) = c.key()?;
        match tag {
            1 => {
                let body = c.length_delimited(tag, wt)?;
                each(CheckRequestView::decode_nested(body, RECURSION_LIMIT - 1)?);
            }
            _ => c.skip(tag, wt, RECURSION_LIMIT)?,
        }
    }
    Ok(())
}

/// A `CheckResponse` to write, from borrowed parts. `dataset` is the
/// encoded `DatasetInfo` message (see [`encode_dataset`]), shared by every
/// answer of the same data set and second.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckResponseParts<'a> {
    pub request_id: &'a str,
    pub verdict: i32,
    pub matches: &'a [pb::Record],
    pub mrz: Option<&'a pb::MrzResult>,
    pub dataset: Option<&'a [u8]>,
    pub error: &'a str,
    pub possible_matches: &'a [pb::PossibleMatch],
    pub issuing_country_note: Option<&'a pb::IssuingCountryNote>,
}

fn str_len(tag: u32, s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        bytes_len(tag, s.len())
    }
}

fn bytes_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

fn put_str(tag: u32, s: &str, buf: &mut impl BufMut) {
    if !s.is_empty() {
        put_bytes(tag, s.as_bytes(), buf);
    }
}

fn put_bytes(tag: u32, b: &[u8], buf: &mut impl BufMut) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(b.len() as u64, buf);
    buf.put_slice(b);
}

impl CheckResponseParts<'_> {
    /// The bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        use prost::encoding::{int32, message};
        str_len(1, self.request_id)
            + if self.verdict != 0 {
                int32::encoded_len(2, &self.verdict)
            } else {
                0
            }
            + message::encoded_len_repeated(3, self.matches)
            + self.mrz.map_or(0, |m| message::encoded_len(4, m))
            + self.dataset.map_or(0, |d| bytes_len(5, d.len()))
            + str_len(6, self.error)
            + message::encoded_len_repeated(7, self.possible_matches)
            + self
                .issuing_country_note
                .map_or(0, |n| message::encoded_len(8, n))
    }

    /// Writes the message, as prost writes the same `pb::CheckResponse`.
    pub fn encode(&self, buf: &mut impl BufMut) {
        use prost::encoding::{int32, message};
        put_str(1, self.request_id, buf);
        if self.verdict != 0 {
            int32::encode(2, &self.verdict, buf);
        }
        message::encode_repeated(3, self.matches, buf);
        if let Some(m) = self.mrz {
            message::encode(4, m, buf);
        }
        if let Some(d) = self.dataset {
            put_bytes(5, d, buf);
        }
        put_str(6, self.error, buf);
        message::encode_repeated(7, self.possible_matches, buf);
        if let Some(n) = self.issuing_country_note {
            message::encode(8, n, buf);
        }
    }
}

/// Writes a `CheckBatchResponse` of `results` answered from `dataset` (an
/// encoded `DatasetInfo`).
pub fn encode_check_batch_response<'a>(
    results: impl IntoIterator<Item = CheckResponseParts<'a>>,
    dataset: Option<&[u8]>,
    buf: &mut impl BufMut,
) {
    for r in results {
        encode_key(1, WireType::LengthDelimited, buf);
        encode_varint(r.encoded_len() as u64, buf);
        r.encode(buf);
    }
    if let Some(d) = dataset {
        put_bytes(2, d, buf);
    }
}

/// The `DatasetInfo` message's bytes, for [`CheckResponseParts::dataset`].
pub fn encode_dataset(info: &pb::DatasetInfo) -> Vec<u8> {
    info.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), "[A-Za-z0-9<\\- ]{1,12}", "\\PC{0,8}",]
    }

    fn document() -> impl Strategy<Value = pb::Document> {
        (text(), text(), text()).prop_map(|(number, issuing_country, document_type)| pb::Document {
            number,
            issuing_country,
            document_type,
        })
    }

    fn request() -> impl Strategy<Value = pb::CheckRequest> {
        let query = prop_oneof![
            Just(None),
            document().prop_map(|d| Some(pb::check_request::Query::Document(d))),
            text().prop_map(|m| Some(pb::check_request::Query::Mrz(m))),
        ];
        (text(), query, proptest::option::of(any::<bool>())).prop_map(
            |(request_id, query, include_possible_matches)| pb::CheckRequest {
                request_id,
                query,
                include_possible_matches,
            },
        )
    }

    fn record() -> impl Strategy<Value = pb::Record> {
        (text(), text(), text(), 0i32..7, text(), text(), text()).prop_map(
            |(a, b, c, status, e, f, g)| pb::Record {
                issuing_country: a,
                document_number: b,
                document_type: c,
                status,
                reported_on: e,
                reporting_country: f,
                reference: g,
            },
        )
    }

    fn response() -> impl Strategy<Value = pb::CheckResponse> {
        let dataset = proptest::option::of(
            (text(), any::<u64>(), -1i32..3, any::<i64>(), any::<u64>()).prop_map(
                |(content_id, sequence, freshness, age_seconds, record_count)| pb::DatasetInfo {
                    content_id,
                    sequence,
                    as_of: Some(prost_types::Timestamp {
                        seconds: age_seconds / 3,
                        nanos: 0,
                    }),
                    freshness,
                    age_seconds,
                    expires_at: None,
                    record_count,
                },
            ),
        );
        let mrz = proptest::option::of((text(), text(), any::<bool>()).prop_map(|(a, b, v)| {
            pb::MrzResult {
                format: 1,
                document_code: a,
                document_number: b,
                check_digits: vec![pb::MrzCheckDigit {
                    field: "document_number".into(),
                    found: "1".into(),
                    expected: "2".into(),
                    valid: v,
                }],
                check_digits_valid: v,
                ..Default::default()
            }
        }));
        let possible = proptest::collection::vec(
            (
                proptest::option::of(record()),
                0i32..3,
                any::<u32>(),
                text(),
            )
                .prop_map(|(record, reason, position, explanation)| {
                    pb::PossibleMatch {
                        record,
                        reason,
                        position,
                        query_character: "O".into(),
                        record_character: "0".into(),
                        fixes_check_digit: position % 2 == 0,
                        explanation,
                    }
                }),
            0..3,
        );
        let note = proptest::option::of(text().prop_map(|given| pb::IssuingCountryNote {
            kind: 1,
            given,
            used: "D".into(),
            ..Default::default()
        }));
        (
            text(),
            -2i32..5,
            proptest::collection::vec(record(), 0..3),
            mrz,
            dataset,
            text(),
            possible,
            note,
        )
            .prop_map(
                |(
                    request_id,
                    verdict,
                    matches,
                    mrz,
                    dataset,
                    error,
                    possible_matches,
                    issuing_country_note,
                )| pb::CheckResponse {
                    request_id,
                    verdict,
                    matches,
                    mrz,
                    dataset,
                    error,
                    possible_matches,
                    issuing_country_note,
                },
            )
    }

    fn parts_of<'a>(
        r: &'a pb::CheckResponse,
        dataset: &'a Option<Vec<u8>>,
    ) -> CheckResponseParts<'a> {
        CheckResponseParts {
            request_id: &r.request_id,
            verdict: r.verdict,
            matches: &r.matches,
            mrz: r.mrz.as_ref(),
            dataset: dataset.as_deref(),
            error: &r.error,
            possible_matches: &r.possible_matches,
            issuing_country_note: r.issuing_country_note.as_ref(),
        }
    }

    /// Whatever prost makes of `bytes`, the view makes the same, or both
    /// refuse them.
    fn agrees_with_prost(bytes: &[u8]) {
        let ours = CheckRequestView::decode(bytes).map(|v| v.to_message());
        let theirs = pb::CheckRequest::decode(bytes);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            _ => panic!("view {ours:?}, prost {theirs:?} for {bytes:?}"),
        }
        let mut ours = Vec::new();
        let ours = decode_check_batch_request(bytes, |v| ours.push(v.to_message())).map(|()| ours);
        let theirs = pb::CheckBatchRequest::decode(bytes).map(|b| b.queries);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            _ => panic!("batch view {ours:?}, prost {theirs:?} for {bytes:?}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn requests_decode_as_prost_decodes_them(req in request()) {
            let bytes = req.encode_to_vec();
            prop_assert_eq!(CheckRequestView::decode(&bytes).unwrap().to_message(), req.clone());
            agrees_with_prost(&bytes);
        }

        #[test]
        fn batches_decode_as_prost_decodes_them(queries in proptest::collection::vec(request(), 0..5)) {
            let bytes = pb::CheckBatchRequest { queries: queries.clone() }.encode_to_vec();
            let mut got = Vec::new();
            decode_check_batch_request(&bytes, |v| got.push(v.to_message())).unwrap();
            prop_assert_eq!(got, queries);
        }

        /// Concatenated messages merge (a field seen twice), truncations and
        /// flipped bytes: the view and prost decide alike.
        #[test]
        fn altered_requests_agree_with_prost(
            a in request(), b in request(), cut in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(), xor in 1u8..,
        ) {
            let mut bytes = a.encode_to_vec();
            bytes.extend(b.encode_to_vec());
            agrees_with_prost(&bytes);
            if !bytes.is_empty() {
                let mut flipped = bytes.clone();
                flipped[flip.index(bytes.len())] ^= xor;
                agrees_with_prost(&flipped);
                agrees_with_prost(&bytes[..cut.index(bytes.len())]);
            }
        }

        #[test]
        fn random_bytes_agree_with_prost(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            agrees_with_prost(&bytes);
        }

        #[test]
        fn responses_encode_as_prost_encodes_them(resp in response()) {
            let dataset = resp.dataset.as_ref().map(encode_dataset);
            let parts = parts_of(&resp, &dataset);
            let mut ours = Vec::new();
            parts.encode(&mut ours);
            prop_assert_eq!(ours.len(), parts.encoded_len());
            prop_assert_eq!(&ours, &resp.encode_to_vec());
        }

        #[test]
        fn batch_responses_encode_as_prost_encodes_them(
            results in proptest::collection::vec(response(), 0..4), with_dataset in any::<bool>(),
        ) {
            let info = pb::DatasetInfo { content_id: "abc".into(), sequence: 7, ..Default::default() };
            let block = encode_dataset(&info);
            let results: Vec<_> = results.into_iter().map(|r| pb::CheckResponse { dataset: None, ..r }).collect();
            let none = None;
            let mut ours = Vec::new();
            encode_check_batch_response(
                results.iter().map(|r| parts_of(r, &none)),
                with_dataset.then_some(&block[..]),
                &mut ours,
            );
            let theirs = pb::CheckBatchResponse { results, dataset: with_dataset.then_some(info) };
            prop_assert_eq!(ours, theirs.encode_to_vec());
        }
    }

    #[test]
    fn groups_and_end_tags_as_prost() {
        // An unknown group skipped, a stray end group, an end group of
        // another field, groups nested past the recursion limit.
        let cases: Vec<Vec<u8>> = vec![
            vec![0x2B, 0x08, 0x01, 0x2C, 0x0A, 0x01, b'x'],
            vec![0x2C],
            vec![0x2B, 0x34],
            std::iter::repeat_n(0x2B, 101)
                .chain(std::iter::repeat_n(0x2C, 101))
                .collect(),
            std::iter::repeat_n(0x2B, 99)
                .chain(std::iter::repeat_n(0x2C, 99))
                .collect(),
            vec![0x12, 0x04, 0x2B, 0x2C, 0x0A, 0x00],
            vec![
                0x20, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01,
            ],
            vec![
                0x20, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02,
            ],
            vec![0x0A, 0x02, 0xC3, 0x28],
            vec![0x0F],
            vec![0x00],
            vec![0x80, 0x80, 0x80, 0x80, 0x10],
        ];
        for bytes in cases {
            agrees_with_prost(&bytes);
        }
    }
}
