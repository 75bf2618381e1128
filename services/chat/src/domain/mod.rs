//! The chat domain: rules without IO.

pub mod circumvention;
pub mod offer;
