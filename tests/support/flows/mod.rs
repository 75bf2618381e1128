//! The end-to-end flows every test runs through the gateway, whatever the mode and the
//! protocol: identity, rejections, suspension, revocation, gigs with search, orders with
//! their payments, and conversations with their streams; built from the shared account
//! steps.

mod accounts;
mod chat;
mod gigs_and_search;
mod identity;
pub mod methods;
mod orders_and_payments;
mod rejections;
mod revocation;
mod suspension;

pub use accounts::{
    NewAccount, get_my_account, log_in, refresh, refresh_until_role, sign_up_and_verify,
    token_claims, try_log_in, wait_for_profile,
};
pub use chat::{StreamChannels, chat_flow, sellable_gig, start_conversation, wait_for_order};
pub use gigs_and_search::{create_and_publish_gig, gigs_and_search_flow, signed_up_seller};
pub use identity::identity_flow;
pub use orders_and_payments::{Payer, orders_and_payments_flow};
pub use rejections::rejections;
pub use revocation::revocation;
pub use suspension::suspension;
