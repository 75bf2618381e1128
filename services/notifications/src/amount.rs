//! How amounts of money read in mails: the currency's minor units shown with its ISO 4217
//! number of decimals (`USD 1,234.50`, `JPY 1,500`, `KWD 12.345`). `gigmesh_types::Currency`
//! knows the codes but not their exponents, so the currencies without two decimals are
//! listed here; every other currency is shown with two.

use gigmesh_types::Money;

/// Currencies whose minor unit is the major unit (ISO 4217 exponent 0).
const NO_DECIMALS: [&str; 16] = [
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];
/// Currencies with a thousandth as minor unit (ISO 4217 exponent 3).
const THREE_DECIMALS: [&str; 7] = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
/// The exponent of every currency not listed above.
const DEFAULT_DECIMALS: u32 = 2;

/// Digits after the decimal point of `currency_code`'s amounts.
pub fn decimals(currency_code: &str) -> u32 {
    if NO_DECIMALS.contains(&currency_code) {
        0
    } else if THREE_DECIMALS.contains(&currency_code) {
        3
    } else {
        DEFAULT_DECIMALS
    }
}

/// `USD 1,234.50`: the code, then the amount with thousands grouped and the currency's
/// decimals.
pub fn format_money(money: Money) -> String {
    let code = money.currency.code();
    let decimals = decimals(code);
    let sign = if money.amount_minor < 0 { "-" } else { "" };
    let minor = money.amount_minor.unsigned_abs();
    let unit = 10_u64.pow(decimals);
    let whole = group_thousands(minor / unit);
    if decimals == 0 {
        format!("{code} {sign}{whole}")
    } else {
        let fraction = minor % unit;
        let width = decimals as usize;
        format!("{code} {sign}{whole}.{fraction:0width$}")
    }
}

/// `1234567` as `1,234,567`.
fn group_thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use gigmesh_types::Currency;

    use super::*;

    fn money(amount_minor: i64, code: &str) -> Money {
        Money::new(amount_minor, Currency::from_code(code).expect("currency"))
    }

    #[test]
    fn amounts_show_their_currency_s_decimals() {
        assert_eq!(format_money(money(123_450, "USD")), "USD 1,234.50");
        assert_eq!(format_money(money(5, "EUR")), "EUR 0.05");
        assert_eq!(format_money(money(0, "USD")), "USD 0.00");
        assert_eq!(format_money(money(1500, "JPY")), "JPY 1,500");
        assert_eq!(format_money(money(12_345, "KWD")), "KWD 12.345");
        assert_eq!(format_money(money(-250, "GBP")), "GBP -2.50");
        assert_eq!(format_money(money(100_000_000, "KRW")), "KRW 100,000,000");
    }

    #[test]
    fn currencies_without_a_listed_exponent_get_two_decimals() {
        assert_eq!(decimals("CHF"), 2);
        assert_eq!(format_money(money(999, "CHF")), "CHF 9.99");
    }
}
