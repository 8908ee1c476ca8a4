#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sltd_fuzz_support::decode_as_prost(data));

mod sltd_fuzz_support {
    use prost::Message;
    use sltd_proto::v1 as pb;
    use sltd_proto::wire::{CheckRequestView, decode_check_batch_request};

    /// Decodes arbitrary bytes as a `CheckRequest` and a
    /// `CheckBatchRequest` with the daemon's decoder: it must not panic, and
    /// it must accept exactly what prost accepts, with the same fields.
    pub fn decode_as_prost(data: &[u8]) {
        let ours = CheckRequestView::decode(data).map(|v| v.to_message());
        match (ours, pb::CheckRequest::decode(data)) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            (a, b) => panic!("wire decoder {a:?}, prost {b:?}"),
        }
        let mut queries = Vec::new();
        let ours =
            decode_check_batch_request(data, |v| queries.push(v.to_message())).map(|()| queries);
        match (ours, pb::CheckBatchRequest::decode(data)) {
            (Ok(a), Ok(b)) => assert_eq!(a, b.queries),
            (Err(_), Err(_)) => {}
            (a, b) => panic!("wire decoder {a:?}, prost {b:?}"),
        }
    }
}
