//! The lookup API over real gRPC on 127.0.0.1:0: every RPC, normalisation
//! and matching, MRZ queries, invalid input in each field, the batch limit,
//! streams, the data set's status and server reflection.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use sltd_proto::v1 as pb;
use sltd_server::{AuditLog, Config};
use tokio_stream::StreamExt;
use tonic::Code;

#[tokio::test]
async fn check_answers_hits_and_misses() {
    let (_dir, path, recs) = temp_index(2_000);
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;

    let r = c
        .check(doc("r1", "L898902C3", "UTO", "P"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::Hit);
    assert_eq!(r.request_id, "r1");
    assert_eq!(r.matches.len(), 1);
    let m = &r.matches[0];
    assert_eq!(
        (
            m.issuing_country.as_str(),
            m.document_number.as_str(),
            m.document_type.as_str()
        ),
        ("UTO", "L898902C3", "P")
    );
    assert_eq!(m.status, pb::Status::Stolen as i32);
    assert_eq!(m.reported_on, "2024-03-14");
    assert_eq!(m.reference, "UTO-TD3-0001");
    let ds = r
        .dataset
        .as_ref()
        .expect("dataset info on every unary answer");
    assert_eq!(ds.record_count, recs.len() as u64);
    assert_eq!(ds.freshness, pb::Freshness::Fresh as i32);
    assert_eq!(ds.content_id.len(), 32);
    assert!(r.error.is_empty() && r.mrz.is_none());

    // Normalisation: case, spaces, hyphens, fillers; number only; a type
    // compared on its first letter.
    let r = c
        .check(doc("", " l898-902 c3 ", "uto<", "PD"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::Hit);
    let r = c
        .check(doc("", "L898902C3", "", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::Hit);
    // Wrong type, wrong state, prefix, one character off: no hit.
    for (n, s, t) in [
        ("L898902C3", "UTO", "V"),
        ("L898902C3", "D", ""),
        ("L898902", "UTO", ""),
        ("L898902C4", "UTO", ""),
    ] {
        let r = c.check(doc("", n, s, t)).await.unwrap().into_inner();
        assert_eq!(verdict(&r), pb::Verdict::NoHit, "{n} {s} {t}");
        assert!(r.matches.is_empty());
    }
    // Every generated record is found.
    for rec in recs.iter().step_by(97) {
        let r = c
            .check(doc(
                "",
                rec.key.number.as_str(),
                rec.key.state.as_str(),
                rec.doc_type.as_str(),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(verdict(&r), pb::Verdict::Hit, "{:?}", rec.key);
    }
    server.stop().await;
}

#[tokio::test]
async fn mrz_queries_report_fields_and_check_digits() {
    let (_dir, path, _) = temp_index(100);
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;
    for (text, number, format) in [
        (TD3, "L898902C3", pb::MrzFormat::Td3),
        (TD1, "D23145890", pb::MrzFormat::Td1),
        (TD2, "D23145890", pb::MrzFormat::Td2),
        (MRV_A, "L8988901C", pb::MrzFormat::MrvA),
        (MRV_B, "L8988901C", pb::MrzFormat::MrvB),
    ] {
        let r = c.check(mrz("m", text)).await.unwrap().into_inner();
        assert_eq!(verdict(&r), pb::Verdict::Hit, "{text}");
        let m = r.mrz.expect("mrz fields");
        assert_eq!(m.document_number, number);
        assert_eq!(m.issuing_country, "UTO");
        assert_eq!(m.format, format as i32);
        assert!(m.check_digits_valid, "{m:?}");
        assert!(
            m.check_digits
                .iter()
                .any(|d| d.field == "document_number" && d.valid)
        );
    }
    // A bad check digit is reported, and the lookup still runs.
    let bad = TD3.replace("L898902C36", "L898902C35");
    let r = c.check(mrz("m", &bad)).await.unwrap().into_inner();
    assert_eq!(verdict(&r), pb::Verdict::Hit);
    let m = r.mrz.unwrap();
    assert!(!m.check_digits_valid);
    let d = m
        .check_digits
        .iter()
        .find(|d| d.field == "document_number")
        .unwrap();
    assert_eq!(
        (d.found.as_str(), d.expected.as_str(), d.valid),
        ("5", "6", false)
    );
    server.stop().await;
}

#[tokio::test]
async fn invalid_input_in_each_field_is_refused_with_a_message_naming_it() {
    let (_dir, path, _) = temp_index(100);
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;
    let cases = [
        (doc("", "", "", ""), "document.number"),
        (doc("", "<<< --", "", ""), "document.number"),
        (doc("", "AB.123", "", ""), "document.number"),
        (doc("", "ÄB123", "", ""), "document.number"),
        (doc("", &"9".repeat(31), "", ""), "document.number"),
        (doc("", "AB123", "FRAN", ""), "document.issuing_country"),
        (doc("", "AB123", "U2O", ""), "document.issuing_country"),
        (doc("", "AB123", "<<<", ""), "document.issuing_country"),
        (doc("", "AB123", "", "PPP"), "document.document_type"),
        (doc("", "AB123", "", "P1"), "document.document_type"),
        (mrz("", ""), "mrz"),
        (mrz("", "hello world"), "mrz"),
        (mrz("", &TD3[..60]), "mrz"),
        (
            pb::CheckRequest {
                request_id: String::new(),
                query: None,
                include_possible_matches: None,
            },
            "query",
        ),
        (
            doc(
                &"x".repeat(sltd_server::MAX_REQUEST_ID_LEN + 1),
                "AB1",
                "",
                "",
            ),
            "request_id",
        ),
    ];
    for (req, field) in cases {
        let err = c.check(req.clone()).await.expect_err(field);
        assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
        assert!(
            err.message().starts_with(field),
            "{field}: {}",
            err.message()
        );
        // Actionable: says what is allowed or what to give.
        assert!(err.message().len() > field.len() + 20, "{}", err.message());
    }
    server.stop().await;
}

#[tokio::test]
async fn batch_answers_in_order_and_marks_invalid_items() {
    let (_dir, path, recs) = temp_index(1_000);
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;
    let numbers: HashSet<&str> = recs.iter().map(|r| r.key.number.as_str()).collect();
    let mut queries = Vec::new();
    let mut expected = Vec::new();
    for (i, rec) in recs.iter().enumerate().take(300) {
        if i % 3 == 0 {
            let n = miss_number(i);
            assert!(!numbers.contains(n.as_str()));
            queries.push(doc(&format!("q{i}"), &n, "", ""));
            expected.push(pb::Verdict::NoHit);
        } else if i % 50 == 7 {
            queries.push(doc(&format!("q{i}"), "BAD.NUMBER", "", ""));
            expected.push(pb::Verdict::InvalidQuery);
        } else {
            queries.push(doc(
                &format!("q{i}"),
                rec.key.number.as_str(),
                rec.key.state.as_str(),
                "",
            ));
            expected.push(pb::Verdict::Hit);
        }
    }
    queries.push(mrz("mrz", TD1));
    expected.push(pb::Verdict::Hit);
    let resp = c
        .check_batch(pb::CheckBatchRequest {
            queries: queries.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.results.len(), queries.len());
    assert!(resp.dataset.is_some());
    for ((q, r), want) in queries.iter().zip(&resp.results).zip(&expected) {
        assert_eq!(r.request_id, q.request_id);
        assert_eq!(verdict(r), *want, "{}", q.request_id);
        match want {
            pb::Verdict::InvalidQuery => {
                assert!(r.error.starts_with("document.number"), "{}", r.error)
            }
            pb::Verdict::Hit => assert!(!r.matches.is_empty()),
            _ => assert!(r.matches.is_empty() && r.error.is_empty()),
        }
        // The batch-level dataset applies; items carry none.
        assert!(r.dataset.is_none());
    }
    assert!(resp.results.last().unwrap().mrz.is_some());

    // An empty batch is fine.
    let resp = c
        .check_batch(pb::CheckBatchRequest { queries: vec![] })
        .await
        .unwrap()
        .into_inner();
    assert!(resp.results.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn batch_above_the_limit_is_refused_whole() {
    let (_dir, path, _) = temp_index(100);
    let mut config = Config::default();
    config.limits.max_batch = 10;
    let server = TestServer::start(config, &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;
    let ok: Vec<_> = (0..10).map(|i| doc("", &miss_number(i), "", "")).collect();
    assert_eq!(
        c.check_batch(pb::CheckBatchRequest {
            queries: ok.clone()
        })
        .await
        .unwrap()
        .into_inner()
        .results
        .len(),
        10
    );
    let mut too_many = ok;
    too_many.push(doc("", "L898902C3", "", ""));
    let err = c
        .check_batch(pb::CheckBatchRequest { queries: too_many })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("at most 10"), "{}", err.message());
    let status = c
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.max_batch, 10);
    server.stop().await;
}

#[tokio::test]
async fn stream_answers_each_message_in_order() {
    let (_dir, path, recs) = temp_index(500);
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;
    let mut reqs = Vec::new();
    for (i, rec) in recs.iter().enumerate().take(200) {
        reqs.push(match i % 4 {
            0 => doc(
                &i.to_string(),
                rec.key.number.as_str(),
                rec.key.state.as_str(),
                "",
            ),
            1 => doc(&i.to_string(), &miss_number(i), "UTO", ""),
            2 => doc(&i.to_string(), "", "", ""),
            _ => mrz(&i.to_string(), TD3),
        });
    }
    let out = c
        .check_stream(tokio_stream::iter(reqs.clone()))
        .await
        .unwrap()
        .into_inner();
    let answers: Vec<pb::CheckResponse> = out.map(|r| r.unwrap()).collect().await;
    assert_eq!(answers.len(), reqs.len());
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a.request_id, i.to_string());
        let want = match i % 4 {
            0 | 3 => pb::Verdict::Hit,
            1 => pb::Verdict::NoHit,
            _ => pb::Verdict::InvalidQuery,
        };
        assert_eq!(verdict(a), want, "item {i}");
        assert!(a.dataset.is_some());
    }

    // Interactive use: each answer arrives before the next request is sent.
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut out = c
        .check_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    for i in 0..5 {
        tx.send(doc(&i.to_string(), "L898902C3", "UTO", ""))
            .await
            .unwrap();
        let a = tokio::time::timeout(Duration::from_secs(10), out.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(a.request_id, i.to_string());
    }
    drop(tx);
    assert!(out.next().await.is_none());
    server.stop().await;
}

#[tokio::test]
async fn get_status_reports_the_data_set() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.sltd");
    let recs = records(50);
    // Built three days ago: older than the 48 h default.
    write_index(&path, &recs, now() - 3 * 86_400);
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let mut c = server.client().await;
    let s = c
        .get_status(pb::GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    let ds = s.dataset.unwrap();
    assert_eq!(ds.record_count, recs.len() as u64);
    assert_eq!(ds.freshness, pb::Freshness::Stale as i32);
    assert!(ds.age_seconds >= 3 * 86_400);
    assert!((ds.as_of.unwrap().seconds + ds.age_seconds - now()).abs() <= 2);
    assert!(s.source.contains("index.sltd"));
    assert_eq!(s.version, env!("CARGO_PKG_VERSION"));
    assert!(s.loaded_at.is_some());
    // Stale data still answers, and says so.
    let r = c
        .check(doc("", "L898902C3", "UTO", ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict(&r), pb::Verdict::Hit);
    assert_eq!(r.dataset.unwrap().freshness, pb::Freshness::Stale as i32);
    let (_, metrics) = http(server.admin, "GET", "/metrics").await;
    assert!(metrics.contains("sltd_dataset_freshness 1"), "{metrics}");
    server.stop().await;
}

/// Every reflection service the daemon serves, as a client of that version
/// sees it.
const REFLECTION_SERVICES: [&str; 4] = [
    "sltd.v1.Lookup",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

#[tokio::test]
async fn reflection_v1_lists_the_services_and_describes_the_api() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let (_dir, path, _) = temp_index(10);
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let channel = tonic::transport::Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut r = ServerReflectionClient::new(channel);
    let reqs = [
        MessageRequest::ListServices(String::new()),
        MessageRequest::FileContainingSymbol("sltd.v1.Lookup".into()),
    ]
    .map(|m| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(m),
    });
    let mut resp = r
        .server_reflection_info(tokio_stream::iter(reqs))
        .await
        .unwrap()
        .into_inner();
    let msg = resp.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = msg.message_response else {
        panic!("unexpected reflection answer: {msg:?}");
    };
    let mut names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    let mut want = REFLECTION_SERVICES.to_vec();
    want.sort_unstable();
    assert_eq!(names, want);
    let msg = resp.next().await.unwrap().unwrap();
    let Some(MessageResponse::FileDescriptorResponse(files)) = msg.message_response else {
        panic!("unexpected reflection answer: {msg:?}");
    };
    assert!(!files.file_descriptor_proto.is_empty());
    server.stop().await;
}

/// What Python's grpcio-reflection and many GUI clients speak.
#[tokio::test]
async fn reflection_v1alpha_lists_the_services_and_describes_the_api() {
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

    let (_dir, path, _) = temp_index(10);
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let channel = tonic::transport::Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut r = ServerReflectionClient::new(channel);
    let reqs = [
        MessageRequest::ListServices(String::new()),
        MessageRequest::FileContainingSymbol("sltd.v1.CheckRequest".into()),
    ]
    .map(|m| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(m),
    });
    let mut resp = r
        .server_reflection_info(tokio_stream::iter(reqs))
        .await
        .unwrap()
        .into_inner();
    let msg = resp.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = msg.message_response else {
        panic!("unexpected reflection answer: {msg:?}");
    };
    let mut names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    let mut want = REFLECTION_SERVICES.to_vec();
    want.sort_unstable();
    assert_eq!(names, want);
    let msg = resp.next().await.unwrap().unwrap();
    let Some(MessageResponse::FileDescriptorResponse(files)) = msg.message_response else {
        panic!("unexpected reflection answer: {msg:?}");
    };
    assert!(!files.file_descriptor_proto.is_empty());
    server.stop().await;
}

/// Sends bytes as they are, to put malformed messages on the wire.
#[derive(Clone, Copy, Debug, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        prost::bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        let mut v = vec![0; prost::bytes::Buf::remaining(src)];
        prost::bytes::Buf::copy_to_slice(src, &mut v);
        Ok(Some(v))
    }
}

#[tokio::test]
async fn malformed_messages_are_invalid_argument_and_the_daemon_goes_on() {
    use prost::Message;
    let (_dir, path, _) = temp_index(200);
    let server =
        TestServer::start(Config::default(), &path, AuditLog::writer(std::io::sink())).await;
    let channel = tonic::transport::Channel::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    let path_of = |m: &str| {
        tonic::codegen::http::uri::PathAndQuery::try_from(format!("/sltd.v1.Lookup/{m}")).unwrap()
    };
    let malformed: [(&str, Vec<u8>); 7] = [
        // A string running past the end of the message.
        ("Check", vec![0x0A, 0x05, b'a']),
        // A document number that is not UTF-8.
        ("Check", vec![0x12, 0x03, 0x0A, 0x01, 0xFF]),
        // Field number 0.
        ("Check", vec![0x00, 0x01]),
        // Wire type 7.
        ("Check", vec![0x0F]),
        // `include_possible_matches` sent as a string.
        ("Check", vec![0x22, 0x00]),
        // A batch whose second query is cut short.
        ("CheckBatch", vec![0x0A, 0x00, 0x0A, 0x04, 0x12]),
        // An end-group key with no group.
        ("CheckBatch", vec![0x0C]),
    ];
    for (method, bytes) in malformed {
        grpc.ready().await.unwrap();
        let err = grpc
            .unary(
                tonic::Request::new(bytes.clone()),
                path_of(method),
                RawCodec,
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Code::InvalidArgument,
            "{method} {bytes:?}: {err:?}"
        );
        assert!(
            err.message().contains("is not a valid sltd.v1.Check"),
            "{method} {bytes:?}: {}",
            err.message()
        );
    }
    // A stream item that does not decode ends the stream with the same code.
    grpc.ready().await.unwrap();
    let items = tokio_stream::iter(vec![
        doc("s1", "L898902C3", "UTO", "P").encode_to_vec(),
        vec![0x0A, 0x09],
    ]);
    let mut replies = grpc
        .streaming(tonic::Request::new(items), path_of("CheckStream"), RawCodec)
        .await
        .unwrap()
        .into_inner();
    let first = pb::CheckResponse::decode(&replies.next().await.unwrap().unwrap()[..]).unwrap();
    assert_eq!(
        (first.request_id.as_str(), verdict(&first)),
        ("s1", pb::Verdict::Hit)
    );
    let err = replies.next().await.unwrap().unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");

    // The same connection still answers well-formed bytes.
    grpc.ready().await.unwrap();
    let reply = grpc
        .unary(
            tonic::Request::new(doc("r1", "L898902C3", "UTO", "P").encode_to_vec()),
            path_of("Check"),
            RawCodec,
        )
        .await
        .unwrap()
        .into_inner();
    let r = pb::CheckResponse::decode(&reply[..]).unwrap();
    assert_eq!(
        (r.request_id.as_str(), verdict(&r)),
        ("r1", pb::Verdict::Hit)
    );
    assert!(r.dataset.is_some());
}
