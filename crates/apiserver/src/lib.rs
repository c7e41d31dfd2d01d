//! skiff's Kubernetes API server: HTTPS with client certificates and tokens,
//! authentication → authorization → admission → strategy → storage, REST handlers
//! for every registered resource, discovery, tables, and watches served from a
//! watch cache.

pub mod authn;
pub mod coalesce;
pub mod csr;
pub mod kubeconfig;
pub mod kubelet_client;
pub mod loopback;
pub mod pki;
pub mod tls;
pub mod admission;
pub mod authz;
pub mod finalizers;
pub mod flowcontrol;
pub mod handlers;
pub mod kubernetes_endpoints;
pub mod openapi;
pub mod pod;
pub mod request;
pub mod response;
pub mod server;
pub mod serviceaccount;
pub mod storage;
pub mod strategy;
pub mod table;
pub mod start;
pub use start::{ApiServer, Config, StartError};
pub mod allocator;
pub mod metrics;
