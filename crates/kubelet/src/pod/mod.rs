//! Pods: what the runtime has ([`observed`]), what to do next ([`plan`]), the
//! configs to do it with ([`config`]), the status to report ([`status`]) — all
//! pure but `observe` — and the workers that execute it ([`worker`]).

pub mod cgroups;
pub mod config;
pub mod events;
pub mod hooks;
pub mod manager;
pub mod observed;
pub mod plan;
pub mod probe;
pub mod sources;
pub mod status;
pub mod volumes;
pub mod worker;
