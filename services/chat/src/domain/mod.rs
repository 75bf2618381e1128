//! The chat domain: rules without IO.

pub mod circumvention;
pub mod conversation;
pub mod message;
pub mod offer;
pub mod response_time;
