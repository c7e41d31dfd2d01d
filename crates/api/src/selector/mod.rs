//! Label and field selectors.

mod field;
mod label;
mod selectable;

pub use field::{field_value, supported_fields, FieldRequirement, FieldSelector, FieldSelectorError};
pub use label::{validate_key, validate_value, LabelSelector, Requirement, SelectorError};
pub use selectable::selectable_part;
