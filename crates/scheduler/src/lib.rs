//! skiff's scheduler: places every pending pod on the best feasible node.
//!
//! Built like upstream's kube-scheduler, as a pure core and a thin I/O shell:
//! - [`queue`]: active / backoff / unschedulable pods;
//! - [`cache`] and [`snapshot`]: nodes and their pods, with assumed pods;
//! - [`framework`]: the extension-point traits and [`framework::Profile`];
//! - [`plugins`]: the built-in plugins, one module each;
//! - [`schedule`] (one decision), [`preemption`], [`config`]
//!   (`KubeSchedulerConfiguration`), and [`core::SchedulerCore`] tying them into a
//!   state machine that takes cluster changes and returns actions;
//! - [`shell`]: watches the API, performs the actions (bindings, status, events,
//!   evictions) with kube-rs.

pub mod cache;
pub mod changes;
pub mod clock;
pub mod config;
pub mod core;
pub mod framework;
pub mod node_info;
pub mod plugins;
pub mod pod_info;
pub mod preemption;
pub mod quantity;
pub mod queue;
pub mod resources;
pub mod schedule;
pub mod selector;
pub mod snapshot;
pub mod topology;
pub mod volumes;

pub use config::{ConfigError, SchedulerConfig, DEFAULT_SCHEDULER_NAME};
pub use core::{Action, SchedulerCore};
pub mod shell;

pub use shell::Scheduler;
