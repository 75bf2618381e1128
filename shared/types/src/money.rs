//! Money: an amount in minor units of an ISO 4217 currency, never a float.
//!
//! [`Currency`] is one of the active ISO 4217 codes, parsed once with one rule for every
//! service (trimmed, any letter case, upper case afterwards). [`Money`] pairs it with an
//! `i64` amount of minor units (cents for USD, yen for JPY); arithmetic is checked, so two
//! currencies never mix and an overflow is an error, not a wrap.

use std::fmt;

use gigmesh_errors::{ApiError, Violations, echoed_prefix};
use serde::{Deserialize, Serialize};

/// Every active ISO 4217 currency code, sorted.
const CURRENCY_CODES: [&str; 156] = [
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
    "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

/// An active ISO 4217 currency, upper case (`USD`, `EUR`, `JPY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(&'static str);

impl Currency {
    /// US dollars.
    pub const USD: Currency = Currency("USD");

    /// Parses a request field: surrounding whitespace is ignored and any letter case is
    /// accepted; anything but an active ISO 4217 code is `INVALID_ARGUMENT`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ApiError> {
        Self::from_code(raw).ok_or_else(|| {
            ApiError::invalid(
                field,
                format!(
                    "{:?} is not an ISO 4217 currency code such as \"USD\"",
                    echoed_prefix(raw)
                ),
            )
        })
    }

    /// The currency with `code` (any case, trimmed), if it is an active ISO 4217 code.
    pub fn from_code(code: &str) -> Option<Self> {
        let upper = code.trim().to_ascii_uppercase();
        CURRENCY_CODES
            .binary_search(&upper.as_str())
            .ok()
            .map(|index| Currency(CURRENCY_CODES[index]))
    }

    /// The three-letter code.
    pub fn code(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.0)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Currency::from_code(&code).ok_or_else(|| {
            serde::de::Error::custom(format!("{code:?} is not an ISO 4217 currency code"))
        })
    }
}

/// Why two amounts could not be combined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The amounts are in different currencies.
    #[error("cannot combine {left} with {right}: the currencies differ")]
    CurrencyMismatch {
        /// The currency of the left operand.
        left: Currency,
        /// The currency of the right operand.
        right: Currency,
    },
    /// The result does not fit in 64 bits of minor units.
    #[error("the amount overflows")]
    Overflow,
}

/// An amount of money in minor units of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Minor units (cents for USD); may be negative for a balance or a refund.
    pub amount_minor: i64,
    /// The currency.
    pub currency: Currency,
}

impl Money {
    /// A positive amount a caller sent as its parts (`<field>.amount_minor`,
    /// `<field>.currency`), every problem recorded under its field; `None` when either is
    /// invalid.
    pub fn parse_positive(
        field: &str,
        amount_minor: i64,
        currency: &str,
        violations: &mut Violations,
    ) -> Option<Money> {
        let amount_minor = if amount_minor > 0 {
            Some(amount_minor)
        } else {
            violations.add(
                format!("{field}.amount_minor"),
                "must be positive (minor units, e.g. 1999 for 19.99)",
            );
            None
        };
        let currency = violations.check(Currency::parse(&format!("{field}.currency"), currency));
        Some(Money {
            amount_minor: amount_minor?,
            currency: currency?,
        })
    }

    /// `amount_minor` minor units of `currency`.
    pub const fn new(amount_minor: i64, currency: Currency) -> Self {
        Self {
            amount_minor,
            currency,
        }
    }

    /// Nothing, in `currency`.
    pub const fn zero(currency: Currency) -> Self {
        Self::new(0, currency)
    }

    /// The sum; refused across currencies and on overflow.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        self.amount_minor
            .checked_add(other.amount_minor)
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// The difference; refused across currencies and on overflow.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        self.amount_minor
            .checked_sub(other.amount_minor)
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// `count` times the amount; refused on overflow.
    pub fn checked_mul(self, count: i64) -> Result<Money, MoneyError> {
        self.amount_minor
            .checked_mul(count)
            .map(|amount| Money::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// Whether the amount is above zero.
    pub fn is_positive(self) -> bool {
        self.amount_minor > 0
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} {}", self.amount_minor, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_so_binary_search_works() {
        assert!(CURRENCY_CODES.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn one_rule_for_every_currency_field() {
        for code in ["USD", "EUR", "GBP", "JPY", "INR", "BRL", " usd ", "eur"] {
            let currency = Currency::parse("currency", code).expect(code);
            assert_eq!(currency.code(), code.trim().to_ascii_uppercase());
        }
        for code in ["XXX", "US", "DOLLAR", "BTC", "", "U$D"] {
            let error = Currency::parse("price.currency", code).expect_err(code);
            assert!(error.to_string().contains("price.currency"), "{error}");
        }
    }

    #[test]
    fn arithmetic_stays_in_one_currency_and_never_wraps() {
        let usd = |amount| Money::new(amount, Currency::USD);
        let eur = Money::new(100, Currency::from_code("EUR").expect("EUR"));
        assert_eq!(usd(1_999).checked_add(usd(1)), Ok(usd(2_000)));
        assert_eq!(usd(1_999).checked_sub(usd(2_000)), Ok(usd(-1)));
        assert_eq!(usd(250).checked_mul(3), Ok(usd(750)));
        assert!(matches!(
            usd(1).checked_add(eur),
            Err(MoneyError::CurrencyMismatch { .. })
        ));
        assert_eq!(usd(i64::MAX).checked_add(usd(1)), Err(MoneyError::Overflow));
        assert_eq!(usd(i64::MIN).checked_sub(usd(1)), Err(MoneyError::Overflow));
        assert_eq!(usd(i64::MAX).checked_mul(2), Err(MoneyError::Overflow));
    }

    #[test]
    fn currencies_serialize_as_their_code() {
        let money = Money::new(500, Currency::USD);
        let json = serde_json::to_string(&money).expect("json");
        assert_eq!(json, r#"{"amount_minor":500,"currency":"USD"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).expect("back"), money);
        assert!(serde_json::from_str::<Money>(r#"{"amount_minor":1,"currency":"ZZZ"}"#).is_err());
    }
}
