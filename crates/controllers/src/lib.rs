//! skiff's controller manager: the control loops that make declared state real
//! (upstream's kube-controller-manager), on one shared [`runtime`].
//!
//! Each controller lives in its own module with a pure `reconcile` (observed
//! state in, actions out, unit-tested without I/O) and a thin shell that reads
//! informers and performs the actions through the API. The manager runs them
//! all as clients of the API server. See docs/controllers.md.

pub mod certificates;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub mod gc;
pub mod history;
pub mod job;
pub mod manager;
pub mod namespace;
pub mod nodelifecycle;
pub mod podgc;
pub mod replicaset;
pub mod resourcequota;
pub mod runtime;
pub mod serviceaccount;
pub mod statefulset;
pub mod volume;

pub use manager::{ControllerManager, Error, ManagerConfig, CONTROLLERS};
