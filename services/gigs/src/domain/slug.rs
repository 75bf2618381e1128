//! Slugs: the URL name a title makes, and the candidates tried when it is taken.

/// Longest slug made from a title (before a collision suffix).
pub const MAX_SLUG_BASE_CHARS: usize = 60;

/// The slug a title makes: lower-case ASCII letters and digits joined by single hyphens,
/// accents folded where simple, at most [`MAX_SLUG_BASE_CHARS`]; `gig` when nothing is left.
pub fn slug_base(title: &str) -> String {
    let mut slug = String::new();
    let mut pending_hyphen = false;
    for character in title.chars().flat_map(fold_accent) {
        if !character.is_ascii_alphanumeric() {
            pending_hyphen = true;
            continue;
        }
        let needs_hyphen = pending_hyphen && !slug.is_empty();
        if slug.len() + usize::from(needs_hyphen) + 1 > MAX_SLUG_BASE_CHARS {
            break;
        }
        if needs_hyphen {
            slug.push('-');
        }
        pending_hyphen = false;
        slug.push(character.to_ascii_lowercase());
    }
    let slug = slug.trim_end_matches('-').to_owned();
    if slug.is_empty() {
        "gig".to_owned()
    } else {
        slug
    }
}

/// The candidate slugs for `base`, in the order they are tried: `base`, `base-2`, `base-3`…
pub fn slug_candidate(base: &str, attempt: usize) -> String {
    if attempt <= 1 {
        base.to_owned()
    } else {
        format!("{base}-{attempt}")
    }
}

fn fold_accent(character: char) -> impl Iterator<Item = char> {
    let folded: &str = match character {
        'à' | 'á' | 'â' | 'ã' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Å' => "a",
        'ä' | 'Ä' | 'æ' | 'Æ' => "ae",
        'ç' | 'Ç' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => "i",
        'ñ' | 'Ñ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ø' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ø' => "o",
        'ö' | 'Ö' | 'œ' | 'Œ' => "oe",
        'ù' | 'ú' | 'û' | 'Ù' | 'Ú' | 'Û' => "u",
        'ü' | 'Ü' => "ue",
        'ß' => "ss",
        'ý' | 'ÿ' | 'Ý' => "y",
        _ => "",
    };
    let keep = folded.is_empty().then_some(character);
    folded.chars().chain(keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lower_case_words_joined_by_hyphens() {
        assert_eq!(
            slug_base("I will build your  Rust backend!"),
            "i-will-build-your-rust-backend"
        );
        assert_eq!(slug_base("Café für Müller"), "cafe-fuer-mueller");
        assert_eq!(slug_base("日本語のタイトル"), "gig");
        assert!(slug_base(&"word ".repeat(40)).len() <= MAX_SLUG_BASE_CHARS);
        assert!(!slug_base(&"word ".repeat(40)).ends_with('-'));
        assert_eq!(slug_candidate("x", 1), "x");
        assert_eq!(slug_candidate("x", 3), "x-3");
    }

    proptest::proptest! {
        #[test]
        fn slugs_are_url_safe_whatever_the_title(title in "\\PC{0,200}") {
            let slug = slug_base(&title);
            proptest::prop_assert!(!slug.is_empty() && slug.len() <= MAX_SLUG_BASE_CHARS);
            proptest::prop_assert!(slug
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
            proptest::prop_assert!(!slug.starts_with('-') && !slug.ends_with('-'));
            proptest::prop_assert!(!slug.contains("--"));
        }
    }
}
