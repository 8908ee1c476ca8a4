//! The `sltd.v1.Lookup` service on tonic's transport with its own codec:
//! requests are read as borrowed fields of the received bytes and parsed
//! straight into queries (no `String` per field), and answers are written
//! as bytes, the data set's block encoded once per data set and second
//! rather than once per answer. What goes over the wire is byte for byte
//! what the generated prost types would send (`sltd_proto::wire` checks
//! that against prost); `GetStatus` keeps the generated types.
//!
//! Bytes that are not a valid message fail the call with INVALID_ARGUMENT,
//! as a malformed query does.

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use prost::bytes::{Buf, BufMut};
use sltd_proto::v1 as pb;
use sltd_proto::wire::{self, CheckRequestView, CheckResponseParts, WireError};
use tokio_stream::Stream;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{Body, BoxFuture, Service, StdError, http};
use tonic::server::{NamedService, StreamingService, UnaryService};
use tonic::{Request, Response, Status, Streaming};

use crate::service::{LookupService, MAX_REQUEST_ID_LEN, ParsedQuery, parse_view};

/// A `request_id`, kept inline: it is at most [`MAX_REQUEST_ID_LEN`] bytes
/// when valid. A longer one (refused, but echoed in a batch's answer) is
/// kept on the heap.
#[derive(Clone)]
pub(crate) enum RequestId {
    Inline {
        len: u8,
        bytes: [u8; MAX_REQUEST_ID_LEN],
    },
    Long(Box<str>),
}

const _: () = assert!(MAX_REQUEST_ID_LEN <= u8::MAX as usize);

impl RequestId {
    pub(crate) fn new(id: &str) -> Self {
        if id.len() <= MAX_REQUEST_ID_LEN {
            let mut bytes = [0; MAX_REQUEST_ID_LEN];
            bytes[..id.len()].copy_from_slice(id.as_bytes());
            RequestId::Inline {
                len: id.len() as u8,
                bytes,
            }
        } else {
            RequestId::Long(id.into())
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Copied whole from a `&str`, so always UTF-8.
            RequestId::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            RequestId::Long(s) => s,
        }
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

/// One `CheckRequest`, parsed with the model's rules as it is decoded.
#[derive(Debug)]
pub(crate) struct CheckQuery {
    pub(crate) request_id: RequestId,
    pub(crate) parsed: Result<ParsedQuery, String>,
}

impl CheckQuery {
    fn of(view: &CheckRequestView<'_>) -> Self {
        Self {
            request_id: RequestId::new(view.request_id),
            parsed: parse_view(view),
        }
    }
}

/// A `CheckBatchRequest`'s queries, in order.
#[derive(Debug)]
pub(crate) struct BatchQuery(pub(crate) Vec<CheckQuery>);

/// One `CheckResponse`, in the parts the wire writer takes.
#[derive(Debug)]
pub(crate) struct CheckAnswer {
    pub(crate) request_id: RequestId,
    pub(crate) verdict: pb::Verdict,
    pub(crate) matches: Vec<pb::Record>,
    pub(crate) mrz: Option<pb::MrzResult>,
    /// The encoded `DatasetInfo`; none in a batch's results.
    pub(crate) dataset: Option<Arc<DatasetBlock>>,
    pub(crate) error: String,
    pub(crate) possible_matches: Vec<pb::PossibleMatch>,
    pub(crate) issuing_country_note: Option<pb::IssuingCountryNote>,
}

impl CheckAnswer {
    fn parts(&self) -> CheckResponseParts<'_> {
        CheckResponseParts {
            request_id: self.request_id.as_str(),
            verdict: self.verdict as i32,
            matches: &self.matches,
            mrz: self.mrz.as_ref(),
            dataset: self.dataset.as_deref().map(|d| &d.bytes[..]),
            error: &self.error,
            possible_matches: &self.possible_matches,
            issuing_country_note: self.issuing_country_note.as_ref(),
        }
    }
}

/// A `CheckBatchResponse`.
#[derive(Debug)]
pub(crate) struct BatchAnswer {
    pub(crate) results: Vec<CheckAnswer>,
    pub(crate) dataset: Arc<DatasetBlock>,
}

/// The `DatasetInfo` of one data set as of one second, encoded.
#[derive(Debug)]
pub(crate) struct DatasetBlock {
    /// The Unix second it was computed for (age and freshness move with
    /// the clock).
    pub(crate) second: i64,
    pub(crate) bytes: Vec<u8>,
}

/// A message the codec reads.
pub(crate) trait WireDecode: Sized {
    /// The message's name, for errors.
    const NAME: &'static str;
    fn decode(bytes: &[u8]) -> Result<Self, WireError>;
}

/// A message the codec writes.
pub(crate) trait WireEncode {
    fn encoded_len(&self) -> usize;
    fn encode(&self, buf: &mut impl BufMut);
}

impl WireDecode for CheckQuery {
    const NAME: &'static str = "sltd.v1.CheckRequest";
    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        CheckRequestView::decode(bytes).map(|v| CheckQuery::of(&v))
    }
}

impl WireDecode for BatchQuery {
    const NAME: &'static str = "sltd.v1.CheckBatchRequest";
    fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut queries = Vec::new();
        wire::decode_check_batch_request(bytes, |v| queries.push(CheckQuery::of(&v)))?;
        Ok(BatchQuery(queries))
    }
}

impl WireEncode for CheckAnswer {
    fn encoded_len(&self) -> usize {
        self.parts().encoded_len()
    }
    fn encode(&self, buf: &mut impl BufMut) {
        self.parts().encode(buf);
    }
}

impl WireEncode for BatchAnswer {
    fn encoded_len(&self) -> usize {
        // Only a hint for the buffer's reservation.
        self.results
            .iter()
            .map(|r| r.encoded_len() + 3)
            .sum::<usize>()
            + self.dataset.bytes.len()
            + 3
    }
    fn encode(&self, buf: &mut impl BufMut) {
        wire::encode_check_batch_response(
            self.results.iter().map(CheckAnswer::parts),
            Some(&self.dataset.bytes),
            buf,
        );
    }
}

/// The codec of one RPC: writes `E`, reads `D`.
#[derive(Debug)]
pub(crate) struct WireCodec<E, D>(PhantomData<fn(E, D)>);

impl<E, D> Default for WireCodec<E, D> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<E, D> Codec for WireCodec<E, D>
where
    E: WireEncode + Send + 'static,
    D: WireDecode + Send + 'static,
{
    type Encode = E;
    type Decode = D;
    type Encoder = WireCodec<E, ()>;
    type Decoder = WireCodec<(), D>;

    fn encoder(&mut self) -> Self::Encoder {
        WireCodec::default()
    }
    fn decoder(&mut self) -> Self::Decoder {
        WireCodec::default()
    }
}

impl<E: WireEncode> Encoder for WireCodec<E, ()> {
    type Item = E;
    type Error = Status;

    fn encode(&mut self, item: E, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.reserve(item.encoded_len());
        item.encode(dst);
        Ok(())
    }
}

impl<D: WireDecode> Decoder for WireCodec<(), D> {
    type Item = D;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<D>, Status> {
        let len = src.remaining();
        // The buffer is contiguous: the whole message is its first chunk.
        let item = if src.chunk().len() >= len {
            let item = D::decode(&src.chunk()[..len]);
            src.advance(len);
            item
        } else {
            let bytes = src.copy_to_bytes(len);
            D::decode(&bytes)
        };
        item.map(Some).map_err(|e| {
            Status::invalid_argument(format!("the request is not a valid {}: {e}", D::NAME))
        })
    }
}

/// Routes the service's four methods; what `tonic-build` would generate,
/// with [`WireCodec`] for the checks.
#[derive(Clone, Debug)]
pub(crate) struct LookupRouter {
    service: LookupService,
    max_decoding: usize,
    max_encoding: usize,
}

impl LookupRouter {
    pub(crate) fn new(service: LookupService, max_decoding: usize, max_encoding: usize) -> Self {
        Self {
            service,
            max_decoding,
            max_encoding,
        }
    }
}

impl NamedService for LookupRouter {
    const NAME: &'static str = crate::SERVICE_NAME;
}

struct CheckMethod(LookupService);

impl UnaryService<CheckQuery> for CheckMethod {
    type Response = CheckAnswer;
    type Future = std::future::Ready<Result<Response<CheckAnswer>, Status>>;
    fn call(&mut self, request: Request<CheckQuery>) -> Self::Future {
        std::future::ready(self.0.check(request))
    }
}

struct CheckBatchMethod(LookupService);

impl UnaryService<BatchQuery> for CheckBatchMethod {
    type Response = BatchAnswer;
    type Future = std::future::Ready<Result<Response<BatchAnswer>, Status>>;
    fn call(&mut self, request: Request<BatchQuery>) -> Self::Future {
        std::future::ready(self.0.check_batch(request))
    }
}

/// The answers of a CheckStream call, one per request.
pub(crate) type AnswerStream = Pin<Box<dyn Stream<Item = Result<CheckAnswer, Status>> + Send>>;

struct CheckStreamMethod(LookupService);

impl StreamingService<CheckQuery> for CheckStreamMethod {
    type Response = CheckAnswer;
    type ResponseStream = AnswerStream;
    type Future = std::future::Ready<Result<Response<AnswerStream>, Status>>;
    fn call(&mut self, request: Request<Streaming<CheckQuery>>) -> Self::Future {
        std::future::ready(self.0.check_stream(request))
    }
}

struct GetStatusMethod(LookupService);

impl UnaryService<pb::GetStatusRequest> for GetStatusMethod {
    type Response = pb::GetStatusResponse;
    type Future = std::future::Ready<Result<Response<pb::GetStatusResponse>, Status>>;
    fn call(&mut self, request: Request<pb::GetStatusRequest>) -> Self::Future {
        std::future::ready(self.0.get_status(request))
    }
}

impl<B> Service<http::Request<B>> for LookupRouter
where
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let svc = self.service.clone();
        let (dec, enc) = (Some(self.max_decoding), Some(self.max_encoding));
        match req.uri().path() {
            "/sltd.v1.Lookup/Check" => Box::pin(async move {
                let mut grpc =
                    tonic::server::Grpc::new(WireCodec::<CheckAnswer, CheckQuery>::default())
                        .apply_max_message_size_config(dec, enc);
                Ok(grpc.unary(CheckMethod(svc), req).await)
            }),
            "/sltd.v1.Lookup/CheckBatch" => Box::pin(async move {
                let mut grpc =
                    tonic::server::Grpc::new(WireCodec::<BatchAnswer, BatchQuery>::default())
                        .apply_max_message_size_config(dec, enc);
                Ok(grpc.unary(CheckBatchMethod(svc), req).await)
            }),
            "/sltd.v1.Lookup/CheckStream" => Box::pin(async move {
                let mut grpc =
                    tonic::server::Grpc::new(WireCodec::<CheckAnswer, CheckQuery>::default())
                        .apply_max_message_size_config(dec, enc);
                Ok(grpc.streaming(CheckStreamMethod(svc), req).await)
            }),
            "/sltd.v1.Lookup/GetStatus" => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::<
                    pb::GetStatusResponse,
                    pb::GetStatusRequest,
                >::default())
                .apply_max_message_size_config(dec, enc);
                Ok(grpc.unary(GetStatusMethod(svc), req).await)
            }),
            _ => Box::pin(async move {
                let mut response = http::Response::new(tonic::body::Body::default());
                let headers = response.headers_mut();
                headers.insert(
                    Status::GRPC_STATUS,
                    (tonic::Code::Unimplemented as i32).into(),
                );
                headers.insert(
                    http::header::CONTENT_TYPE,
                    tonic::metadata::GRPC_CONTENT_TYPE,
                );
                Ok(response)
            }),
        }
    }
}
