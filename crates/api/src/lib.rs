//! skiff's Kubernetes object model: the resource registry, `Status` errors,
//! selectors, object metadata helpers, and (in their modules) patch algorithms,
//! validation, defaulting and table printing. Pure logic: no I/O anywhere here.

pub mod apply;
pub mod conversion;
pub mod cron;
pub mod defaults;
pub mod error;
pub mod json_key;
pub mod meta;
pub mod names;
pub mod patch;
pub mod protobuf;
pub mod prune;
pub mod quantity;
pub mod registry;
pub mod selector;
pub mod validation;

pub use error::{ApiError, ApiResult, Cause, Target};
pub use registry::{Resource, Storage, Subresource, RESOURCES};
