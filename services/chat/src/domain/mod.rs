//! The chat domain: rules without IO.

pub mod circumvention;
pub mod message;
pub mod offer;
