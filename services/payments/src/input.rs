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

/// The next page's token after `page`, read with `size`: the position (`cursor_of`) of its
/// last item when the page is full, empty when it is not (the last page).
pub fn next_token<T>(page: &[T], size: u32, cursor_of: impl FnOnce(&T) -> Cursor) -> String {
    match page.last() {
        Some(last) if page.len() == size as usize => PageToken::encode(&cursor_of(last)),
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

/// Where an onboarding returns: an https URL, or http on this machine (localhost,
/// 127.0.0.1) for development; at most 2,048 characters.
pub fn return_url(raw: &str) -> Result<String, ApiError> {
    let refused = || ApiError::invalid("return_url", "must be an https URL (or http on localhost)");
    if raw.len() > 2_048 {
        return Err(refused());
    }
    let url = url::Url::parse(raw).map_err(|_| refused())?;
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1"));
    match url.scheme() {
        "https" if url.host_str().is_some() => Ok(raw.to_owned()),
        "http" if local => Ok(raw.to_owned()),
        _ => Err(refused()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_urls_are_https_or_http_on_this_machine_only() {
        for allowed in [
            "https://gigmesh.example/earnings",
            "http://localhost:3000/earnings",
            "http://127.0.0.1/earnings",
        ] {
            assert_eq!(return_url(allowed).ok().as_deref(), Some(allowed));
        }
        for refused in [
            "http://gigmesh.example/earnings",
            "http://localhost.evil.example/earnings",
            "http://127.0.0.1.evil.example/",
            "javascript:alert(1)",
            "https://",
            "not a url",
            "",
        ] {
            assert!(return_url(refused).is_err(), "{refused}");
        }
        assert!(return_url(&format!("https://gigmesh.example/{}", "a".repeat(2_048))).is_err());
    }

    #[test]
    fn a_next_token_follows_only_a_full_page() {
        let items = [(1_i64, "a"), (2, "b")];
        let cursor = |item: &(i64, &str)| (item.0, item.1.to_owned());
        assert_eq!(next_token(&items[..1], 2, cursor), "");
        assert_eq!(next_token(&items[..0], 2, cursor), "");
        let token = next_token(&items, 2, cursor);
        let decoded = PageToken::decode::<Cursor>("page_token", &token).expect("decodes");
        assert_eq!(decoded, Some((2, "b".to_owned())));
    }
}
