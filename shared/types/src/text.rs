//! Free text and links as requests carry them: trimmed, bounded in characters (not bytes),
//! without control characters; links absolute `https` without credentials.

use gigmesh_errors::FieldViolation;
use serde::{Deserialize, Serialize};

/// Longest URL accepted, in characters.
pub const MAX_URL_CHARS: usize = 2048;

/// Whether a text may span lines (bio, descriptions) or must be a single line (names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// Names, titles, skills.
    Single,
    /// Free text; newlines and tabs allowed.
    Multiple,
}

/// Trims `raw` and checks its length in characters and that it has no control characters
/// (except line breaks and tabs in multi-line text).
pub fn parse_text(
    field: &str,
    raw: &str,
    min_chars: usize,
    max_chars: usize,
    lines: Lines,
) -> Result<String, FieldViolation> {
    let text = raw.trim();
    let length = text.chars().count();
    if length < min_chars {
        let description = if min_chars <= 1 {
            "is required".to_owned()
        } else {
            format!("must be at least {min_chars} characters")
        };
        return Err(FieldViolation::new(field, description));
    }
    if length > max_chars {
        return Err(FieldViolation::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    let allowed_control = |c: char| lines == Lines::Multiple && matches!(c, '\n' | '\r' | '\t');
    if text.chars().any(|c| c.is_control() && !allowed_control(c)) {
        let description = match lines {
            Lines::Single => "must be a single line without control characters",
            Lines::Multiple => "must not contain control characters",
        };
        return Err(FieldViolation::new(field, description));
    }
    Ok(text.to_owned())
}

/// An absolute `https` URL without credentials, at most [`MAX_URL_CHARS`] long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HttpsUrl(String);

impl HttpsUrl {
    /// Parses and normalises a URL.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldViolation> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(FieldViolation::new(field, "is required"));
        }
        let too_long =
            || FieldViolation::new(field, format!("must be at most {MAX_URL_CHARS} characters"));
        if raw.chars().count() > MAX_URL_CHARS {
            return Err(too_long());
        }
        let not_https = || {
            FieldViolation::new(
                field,
                "must be an absolute https URL such as https://example.com/picture.png",
            )
        };
        let url = url::Url::parse(raw).map_err(|_| not_https())?;
        if url.scheme() != "https" || url.host_str().is_none_or(str::is_empty) {
            return Err(not_https());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FieldViolation::new(
                field,
                "must not contain a user name or password",
            ));
        }
        let normalised = String::from(url);
        if normalised.chars().count() > MAX_URL_CHARS {
            return Err(too_long());
        }
        Ok(Self(normalised))
    }

    /// A URL read back from storage, where only parsed URLs are written.
    pub fn from_stored(url: String) -> Self {
        Self(url)
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// `raw` safe to place in HTML element content and in quoted attribute values: the mails
/// notifications renders and the pages the gateway serves both escape through it.
pub fn escape_html(raw: &str) -> String {
    let mut escaped = String::with_capacity(raw.len());
    for character in raw.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape_html(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
    }
    use proptest::prelude::*;

    #[test]
    fn text_limits_count_characters_not_bytes() {
        assert!(parse_text("t", &"ü".repeat(80), 10, 80, Lines::Single).is_ok());
        assert!(parse_text("t", &"ü".repeat(81), 10, 80, Lines::Single).is_err());
        assert!(parse_text("t", "a\nb", 1, 80, Lines::Single).is_err());
        assert!(parse_text("t", "a\nb", 1, 80, Lines::Multiple).is_ok());
        assert_eq!(
            parse_text("t", "   ", 1, 80, Lines::Single)
                .unwrap_err()
                .description,
            "is required"
        );
        assert!(parse_text("bio", "a\u{0}b", 0, 600, Lines::Multiple).is_err());
        assert_eq!(
            parse_text("description", "short", 10, 2000, Lines::Multiple)
                .unwrap_err()
                .description,
            "must be at least 10 characters"
        );
    }

    #[test]
    fn urls_must_be_https_without_credentials() {
        assert_eq!(
            HttpsUrl::parse("url", " https://cdn.example.com/a.png ")
                .unwrap()
                .as_str(),
            "https://cdn.example.com/a.png"
        );
        for bad in [
            "",
            "http://example.com/a.png",
            "https://",
            "ftp://example.com",
            "https://user:pw@example.com/",
            "example.com/a.png",
            "javascript:alert(1)",
            "not a url",
        ] {
            assert!(HttpsUrl::parse("url", bad).is_err(), "{bad:?}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert!(HttpsUrl::parse("url", &long).is_err());
    }

    proptest! {
        #[test]
        fn accepted_text_is_trimmed_and_within_limits(raw in "\\PC{0,80}|[ a-z\\n\\t\\u{0}]{0,80}") {
            if let Ok(text) = parse_text("field", &raw, 1, 50, Lines::Single) {
                prop_assert_eq!(text.trim(), text.as_str());
                prop_assert!((1..=50).contains(&text.chars().count()));
                prop_assert!(!text.chars().any(char::is_control));
            }
        }

        #[test]
        fn accepted_urls_are_https_and_bounded(raw in "\\PC{0,60}|https://[a-z.]{1,20}/[ -~]{0,40}") {
            if let Ok(url) = HttpsUrl::parse("url", &raw) {
                prop_assert!(url.as_str().starts_with("https://"));
                prop_assert!(url.as_str().chars().count() <= MAX_URL_CHARS);
            }
        }
    }
}
