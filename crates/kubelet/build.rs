//! Generates the CRI v1 client (and the messages) from the vendored `api.proto` of
//! `k8s.io/cri-api` (Apache-2.0, The Kubernetes Authors). Needs `protoc`
//! (Debian: `protobuf-compiler`, installed by `scripts/deps`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/cri-v1.proto");
    tonic_build::configure().build_server(false).compile_protos(&["proto/cri-v1.proto"], &["proto"])?;
    Ok(())
}
