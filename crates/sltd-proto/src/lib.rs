//! The sltd gRPC contract, generated from `proto/sltd/v1/lookup.proto` at
//! build time. The `.proto` file is the source of truth: clients in other
//! languages generate their stubs from it; this crate is the Rust side
//! shared by the daemon (`sltdd`) and the command line (`sltd check`).

#![forbid(unsafe_code)]

pub mod status;
pub mod wire;

/// Version 1 of the lookup API (package `sltd.v1`).
// Generated code: documented by the comments in the .proto file.
#[allow(missing_debug_implementations, unreachable_pub, clippy::all)]
pub mod v1 {
    tonic::include_proto!("sltd.v1");
}

/// The encoded `FileDescriptorSet` of the sltd protos (with imports), for
/// gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/sltd_descriptor.bin"));
