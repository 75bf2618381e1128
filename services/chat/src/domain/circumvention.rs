//! Spotting messages that take contact or payment off the marketplace: an email address, a
//! phone number, or a request to pay through something else. Such a message is still
//! delivered (false positives must not silence anyone), with a warning to its recipient,
//! and counted for admins. Obfuscations people use to slip past filters ("name at gmail dot
//! com", "5 5 5 - 0 1 2 3 ...") are read as what they mean.

/// What a message seems to share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    /// An email address.
    pub email_address: bool,
    /// A phone number.
    pub phone_number: bool,
    /// A request or offer to pay outside the marketplace.
    pub off_platform_payment: bool,
}

impl Flags {
    /// Whether anything was spotted.
    pub fn any(self) -> bool {
        self.email_address || self.phone_number || self.off_platform_payment
    }

    /// The warning shown to the recipient, or `None` for a message that shares nothing.
    pub fn warning(self) -> Option<&'static str> {
        if self.off_platform_payment {
            Some(
                "This message asks for payment outside gigmesh. Payments made outside gigmesh \
                 are not protected: keep payment and communication here.",
            )
        } else if self.email_address || self.phone_number {
            Some(
                "This message shares contact details. For your protection, keep communication \
                 and payment on gigmesh.",
            )
        } else {
            None
        }
    }
}

/// Fewest digits of a phone number: national numbers without the country code mostly have
/// 9 to 11. Eight would catch the few countries with 8-digit numbers, and every date
/// (2026-12-01) and order number (2026-1234) with them.
const PHONE_MIN_DIGITS: usize = 9;
/// Most digits of a phone number (E.164).
const PHONE_MAX_DIGITS: usize = 15;

/// Services people pay each other through outside a marketplace.
const PAYMENT_SERVICES: &[&str] = &[
    "paypal",
    "venmo",
    "cashapp",
    "cash app",
    "zelle",
    "western union",
    "moneygram",
    "wise transfer",
    "payoneer",
    "revolut",
    "skrill",
    "bank transfer",
    "wire transfer",
    "bank account",
    "iban",
    "crypto",
    "bitcoin",
    "usdt",
];

/// Phrases that ask to take the deal off the marketplace.
const OFF_PLATFORM_PHRASES: &[&str] = &[
    "pay me directly",
    "pay you directly",
    "pay directly",
    "pay me outside",
    "pay you outside",
    "pay outside",
    "outside of gigmesh",
    "outside gigmesh",
    "off gigmesh",
    "outside the platform",
    "outside of the platform",
    "off the platform",
    "outside this site",
    "avoid the fee",
    "avoid the fees",
    "skip the fee",
    "skip the fees",
];

/// What `text` seems to share.
pub fn inspect(text: &str) -> Flags {
    let normalized = normalize(text);
    Flags {
        email_address: has_email_address(&normalized),
        phone_number: has_phone_number(text),
        off_platform_payment: mentions_any(&normalized, PAYMENT_SERVICES)
            || mentions_any(&normalized, OFF_PLATFORM_PHRASES),
    }
}

/// Lowercase, with spelled-out and bracketed `@` and `.` turned into the characters and
/// runs of whitespace folded into one space.
fn normalize(text: &str) -> String {
    let lowered = text.to_lowercase();
    let mut spaced = String::with_capacity(lowered.len() + 2);
    spaced.push(' ');
    for word in lowered.split_whitespace() {
        spaced.push_str(word);
        spaced.push(' ');
    }
    let mut normalized = spaced;
    for (spelled, character) in [
        ("[at]", "@"),
        ("(at)", "@"),
        ("{at}", "@"),
        (" at ", "@"),
        ("[dot]", "."),
        ("(dot)", "."),
        ("{dot}", "."),
        (" dot ", "."),
    ] {
        normalized = normalized.replace(spelled, character);
    }
    // Spaced-out characters ("name @ gmail . com"); a sentence's full stop keeps its space.
    normalized.replace(" @ ", "@").replace(" . ", ".")
}

/// Whether `text` (normalized) holds `local@domain.tld`.
fn has_email_address(text: &str) -> bool {
    text.match_indices('@').any(|(at, _)| {
        let local = text[..at]
            .chars()
            .rev()
            .take_while(|c| is_email_local_char(*c))
            .count();
        let domain: String = text[at + 1..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '.' | '-'))
            .collect();
        let domain = domain.trim_end_matches('.');
        let first_label = domain.split('.').next().unwrap_or_default();
        let top_level = domain.rsplit('.').next().unwrap_or_default();
        local > 0
            && !first_label.is_empty()
            && domain.contains('.')
            && top_level.len() >= 2
            && top_level.chars().all(char::is_alphabetic)
    })
}

fn is_email_local_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-')
}

/// Whether `text` holds 9 to 15 digits in a row, separated at most by spaces, dashes,
/// dots, slashes and parentheses, with an optional leading `+`.
fn has_phone_number(text: &str) -> bool {
    let mut digits = 0;
    let mut separators_in_a_row = 0;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits += 1;
            separators_in_a_row = 0;
        } else if matches!(c, ' ' | '-' | '.' | '/' | '(' | ')' | '+') && digits > 0 {
            separators_in_a_row += 1;
            // "call 555 0123, or from 9 to 17": a long gap ends the number.
            if separators_in_a_row > 2 {
                if (PHONE_MIN_DIGITS..=PHONE_MAX_DIGITS).contains(&digits) {
                    return true;
                }
                digits = 0;
            }
        } else {
            if (PHONE_MIN_DIGITS..=PHONE_MAX_DIGITS).contains(&digits) {
                return true;
            }
            digits = 0;
            separators_in_a_row = 0;
        }
    }
    (PHONE_MIN_DIGITS..=PHONE_MAX_DIGITS).contains(&digits)
}

/// Whether `text` (normalized) contains one of `needles` as whole words.
fn mentions_any(text: &str, needles: &[&str]) -> bool {
    needles.iter().any(|needle| {
        text.match_indices(needle).any(|(start, matched)| {
            let before = text[..start].chars().next_back();
            let after = text[start + matched.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(text: &str) -> (bool, bool, bool) {
        let flags = inspect(text);
        (
            flags.email_address,
            flags.phone_number,
            flags.off_platform_payment,
        )
    }

    #[test]
    fn plain_talk_is_not_flagged() {
        for text in [
            "Hi! Can you deliver the logo in 3 days?",
            "The package costs $150 and I need 2 revisions.",
            "Meet you at 10:30 tomorrow, I'll send the brief at noon.",
            "Order #2026-1234 was delivered on 2026-12-01.",
            "I use a 1920x1080 screen, 60 fps.",
            "Let's talk about the design at length. Then we start.",
            "I'll look at it. Thanks!",
            "I wrote it in C++ and C#.",
        ] {
            assert_eq!(flags(text), (false, false, false), "{text}");
            assert_eq!(inspect(text).warning(), None);
        }
    }

    #[test]
    fn email_addresses_are_found_however_they_are_written() {
        for text in [
            "mail me: jane.doe+gigs@example.com",
            "JANE@EXAMPLE.CO.UK thanks",
            "jane at example dot com",
            "jane [at] example [dot] com",
            "jane(at)example(dot)org",
            "jane @ example . com",
        ] {
            assert!(inspect(text).email_address, "{text}");
            assert!(inspect(text).warning().is_some());
        }
        for text in [
            "@jane on the forum",
            "look at this",
            "meet at example.",
            "a@b",
        ] {
            assert!(!inspect(text).email_address, "{text}");
        }
    }

    #[test]
    fn phone_numbers_are_found_with_their_separators() {
        for text in [
            "call +1 415 555 0123",
            "my number is (415) 555-0123",
            "07700 900123",
            "+44.7700.900.123",
            "4155550123",
        ] {
            assert!(inspect(text).phone_number, "{text}");
        }
        for text in [
            "deliver in 7 days for 150",
            "12 34",
            "version 1.2.3",
            "from 2026 to 2027",
            "1234567890123456789 is an id",
        ] {
            assert!(!inspect(text).phone_number, "{text}");
        }
    }

    #[test]
    fn paying_elsewhere_is_found_as_whole_words() {
        for text in [
            "Can you pay me directly to my PayPal?",
            "send it by Western Union",
            "let's do this outside gigmesh to avoid the fees",
            "I take bitcoin",
            "Cash App works too",
        ] {
            assert!(inspect(text).off_platform_payment, "{text}");
            assert!(
                inspect(text)
                    .warning()
                    .is_some_and(|warning| warning.contains("payment outside"))
            );
        }
        for text in ["my paypalette of colours", "the ibanez guitar", "icrypto"] {
            assert!(!inspect(text).off_platform_payment, "{text}");
        }
    }
}
