//! The CRI v1 messages and gRPC client, generated at build time from the vendored
//! `proto/cri-v1.proto` (k8s.io/cri-api, package `runtime.v1`).

#![allow(clippy::all, clippy::pedantic, missing_docs)]

tonic::include_proto!("runtime.v1");
