//! Compiles `proto/sltd/v1/*.proto` with `protox` (a protobuf compiler in
//! Rust), so building sltd needs no system `protoc`. The descriptor set is
//! also written out for gRPC server reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest.join("../../proto");
    let lookup = proto_root.join("sltd/v1/lookup.proto");
    // The whole proto tree: a new file or an edit anywhere regenerates.
    println!("cargo:rerun-if-changed={}", proto_root.display());
    println!("cargo:rerun-if-changed={}", lookup.display());

    let fds = protox::compile([&lookup], [&proto_root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("sltd_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .emit_rerun_if_changed(false)
        .compile_fds(fds)?;
    Ok(())
}
