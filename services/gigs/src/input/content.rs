//! The content fields of a gig: title, description, category and subcategory (checked
//! against the taxonomy) and tags (normalised to lower case, unique, of a small alphabet).

use std::collections::HashSet;

use gigmesh_errors::{ApiError, Violations, echoed_prefix};
use gigmesh_types::{Lines, parse_text};

use crate::domain;
use crate::taxonomy;

pub(super) fn parse_title(raw: &str) -> Result<String, ApiError> {
    Ok(parse_text(
        "gig.title",
        raw,
        domain::MIN_TITLE_CHARS,
        domain::MAX_TITLE_CHARS,
        Lines::Single,
    )?)
}

pub(super) fn parse_description(raw: &str) -> Result<String, ApiError> {
    Ok(parse_text(
        "gig.description",
        raw,
        1,
        domain::MAX_DESCRIPTION_CHARS,
        Lines::Multiple,
    )?)
}

pub(super) fn parse_category(raw: &str) -> Result<String, ApiError> {
    let id = raw.trim();
    match taxonomy::category(id) {
        Some(category) => Ok(category.id.to_owned()),
        None => Err(ApiError::invalid(
            "gig.category_id",
            format!(
                "{:?} is not a category; ListCategories lists them",
                echoed_prefix(id)
            ),
        )),
    }
}

pub(super) fn parse_subcategory(raw: &str) -> Result<String, ApiError> {
    let id = raw.trim();
    if taxonomy::category_of_subcategory(id).is_some() {
        Ok(id.to_owned())
    } else {
        Err(ApiError::invalid(
            "gig.subcategory_id",
            format!(
                "{:?} is not a subcategory; ListCategories lists them",
                echoed_prefix(id)
            ),
        ))
    }
}

pub(super) fn parse_tags(tags: &[String], violations: &mut Violations) -> Option<Vec<String>> {
    let mut seen = HashSet::new();
    violations.parse_list(
        "gig.tags",
        tags,
        domain::MAX_TAGS,
        |field, raw, violations| {
            let tag = raw
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase();
            let tag = violations.check(parse_text(
                field,
                &tag,
                domain::MIN_TAG_CHARS,
                domain::MAX_TAG_CHARS,
                Lines::Single,
            ))?;
            let allowed = |c: char| c.is_alphanumeric() || matches!(c, ' ' | '-' | '+' | '#' | '.');
            if !tag.chars().all(allowed) {
                violations.add(
                    field,
                    "may contain letters, digits, spaces and the characters - + # . only",
                );
                return None;
            }
            if !seen.insert(tag.clone()) {
                violations.add(field, format!("repeats the tag {tag:?}"));
                return None;
            }
            Some(tag)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn accepted_text_is_trimmed_and_within_limits(raw in "\\PC{0,100}|[ a-z\\n\\t\\u{0}]{0,100}") {
            if let Ok(text) = parse_text("field", &raw, 10, 80, Lines::Single) {
                proptest::prop_assert_eq!(text.trim(), text.as_str());
                proptest::prop_assert!((10..=80).contains(&text.chars().count()));
            }
        }
    }
}
