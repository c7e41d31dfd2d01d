//! skiff's node agent (the kubelet).
//!
//! - [`runtime`]: the CRI v1 boundary — [`runtime::RuntimeService`] and
//!   [`runtime::ImageService`], with [`runtime::CriRuntime`] (containerd over gRPC)
//!   and [`runtime::FakeRuntime`] (in memory, for tests and hollow nodes).
//! - [`image`]: OCI images built locally (busybox, pause) and imported into
//!   containerd, since no registry is reachable.
//! - [`agent`]: one node; [`hollow`]: many hollow nodes in one process.

pub mod agent;
pub mod cni;
pub mod containerd;
pub mod cri;
pub mod hollow;
pub mod image;
pub mod masq;
pub mod node;
pub mod node_ipam;
pub mod pod;
pub mod preflight;
pub mod routes;
pub mod runtime;
pub mod server;
pub mod static_pods;
pub mod testing;
pub mod throttle;
