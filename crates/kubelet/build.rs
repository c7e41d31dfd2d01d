//! Generates the CRI v1 client (and the messages) from the vendored `api.proto` of
//! `k8s.io/cri-api` (Apache-2.0, The Kubernetes Authors), and the gRPC health
//! checking protocol (`grpc.health.v1`, for gRPC probes; the server half serves
//! the probe's tests). Needs `protoc` (Debian: `protobuf-compiler`, installed by
//! `scripts/deps`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/cri-v1.proto");
    println!("cargo:rerun-if-changed=proto/health.proto");
    tonic_build::configure().build_server(false).compile_protos(&["proto/cri-v1.proto"], &["proto"])?;
    tonic_build::configure().build_server(true).compile_protos(&["proto/health.proto"], &["proto"])?;
    Ok(())
}
