//! The targets, one parser each.

pub mod ecs;
pub mod events;
pub mod harness;
pub mod loader;
pub mod page;
pub mod render;
