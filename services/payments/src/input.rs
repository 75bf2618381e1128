//! Requests parsed into domain values, every violation named by its field: ids, money,
//! request ids, reasons, page sizes and tokens, the one filter of ListPayments.

use gigmesh_errors::{ApiError, Violations};
use gigmesh_proto::types::Money as ProtoMoney;
use gigmesh_types::{Currency, Money, OrderId, PageSize, PageToken, UserId};

use crate::store::{Cursor, PaymentFilter};

/// Default page size of lists.
const DEFAULT_PAGE_SIZE: u32 = 20;
/// Largest page size of lists.
const MAX_PAGE_SIZE: u32 = 100;

/// An order id (a UUID).
pub fn order_id(field: &str, raw: &str) -> Result<String, ApiError> {
    Ok(OrderId::parse(field, raw)?.to_string())
}

/// A user id (a UUID).
pub fn user_id(field: &str, raw: &str) -> Result<String, ApiError> {
    Ok(UserId::parse(field, raw)?.to_string())
}

/// A positive amount of money.
pub fn positive_money(field: &str, raw: Option<&ProtoMoney>) -> Result<Money, ApiError> {
    let Some(raw) = raw else {
        return Err(ApiError::invalid(field, "is required"));
    };
    let currency = Currency::parse(&format!("{field}.currency"), &raw.currency)?;
    if raw.amount_minor <= 0 {
        return Err(ApiError::invalid(
            format!("{field}.amount_minor"),
            "must be positive",
        ));
    }
    Ok(Money::new(raw.amount_minor, currency))
}

/// A client's request id: 1 to 64 characters.
pub fn request_id(raw: &str) -> Result<String, ApiError> {
    let length = raw.chars().count();
    if length == 0 || length > 64 {
        return Err(ApiError::invalid(
            "request_id",
            "must be 1 to 64 characters",
        ));
    }
    Ok(raw.to_owned())
}

/// A reason: 1 to 1,000 characters, trimmed.
pub fn reason(raw: &str) -> Result<String, ApiError> {
    let trimmed = raw.trim();
    let length = trimmed.chars().count();
    if length == 0 || length > 1_000 {
        return Err(ApiError::invalid("reason", "must be 1 to 1,000 characters"));
    }
    Ok(trimmed.to_owned())
}

/// A page: its size and where it starts.
pub fn page(page_size: i32, page_token: &str) -> Result<(u32, Option<Cursor>), ApiError> {
    let mut violations = Violations::new();
    let size = violations.check(PageSize::parse(
        "page_size",
        page_size,
        DEFAULT_PAGE_SIZE,
        MAX_PAGE_SIZE,
    ));
    let cursor = violations.check(PageToken::decode::<Cursor>("page_token", page_token));
    violations.finish()?;
    Ok((size.unwrap_or(DEFAULT_PAGE_SIZE), cursor.flatten()))
}

/// The next page's token after a full page ending at `last`.
pub fn next_token(full: bool, last: Option<Cursor>) -> String {
    match (full, last) {
        (true, Some(cursor)) => PageToken::encode(&cursor),
        _ => String::new(),
    }
}

/// ListPayments' one filter.
pub fn payment_filter(
    order_id_raw: &str,
    buyer_id: &str,
    seller_id: &str,
) -> Result<PaymentFilter, ApiError> {
    let given = [order_id_raw, buyer_id, seller_id]
        .iter()
        .filter(|value| !value.is_empty())
        .count();
    if given != 1 {
        return Err(ApiError::invalid(
            "order_id",
            "give exactly one of order_id, buyer_id and seller_id",
        ));
    }
    if !order_id_raw.is_empty() {
        return Ok(PaymentFilter::Order(order_id("order_id", order_id_raw)?));
    }
    if !buyer_id.is_empty() {
        return Ok(PaymentFilter::Buyer(user_id("buyer_id", buyer_id)?));
    }
    Ok(PaymentFilter::Seller(user_id("seller_id", seller_id)?))
}

/// Where an onboarding returns: https, or http on localhost.
pub fn return_url(raw: &str) -> Result<String, ApiError> {
    let local = raw.starts_with("http://localhost") || raw.starts_with("http://127.0.0.1");
    if !(raw.starts_with("https://") || local) || raw.len() > 2_048 {
        return Err(ApiError::invalid(
            "return_url",
            "must be an https URL (or http on localhost)",
        ));
    }
    Ok(raw.to_owned())
}
