//! Everything about reading a request: what it addresses, its options, its formats.

pub mod info;
pub mod negotiate;
pub mod query;

pub use info::{RequestInfo, ResourceRequest, Verb};
pub use negotiate::{BodyFormat, Output, PatchType};
pub use query::{FieldValidation, ListOptions, Query, WriteOptions};
