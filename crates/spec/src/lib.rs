//! The DelegateGroup resource: types, located YAML loading and validation, rendering to ECS
//! request documents, the spec-hash and the JSON Schema. Pure: no AWS, no network.

pub mod arn;
pub mod bytes;
pub mod diagnostic;
pub mod document;
pub mod files;
pub mod hash;
pub mod import;
pub mod load;
pub mod location;
pub mod model_string;
pub mod policy;
pub mod render;
pub mod types;
pub mod validate;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use load::{load, load_bytes, load_str, load_with_policy, parse_group, LoadedGroup};
pub use location::{FieldPath, Position};
pub use policy::Policy;
pub use render::{render, RenderError, Rendered};
pub use types::*;

/// The JSON Schema of a DelegateGroup document, for editors and CI linters.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(DelegateGroup)).unwrap_or_default()
}
