//! How much of a request value an error message repeats: a short prefix of each value and a
//! few values of a list, so that the size of an answer never grows with the size of the
//! request (a status message travels in HTTP/2 trailers, which have a size limit).

use std::borrow::Cow;

/// The most bytes of one request value that an error message repeats.
pub const ECHOED_PREFIX_MAX_BYTES: usize = 64;

/// The most values of a list that an error message repeats.
pub const ECHOED_LIST_MAX_VALUES: usize = 5;

/// What an error message may repeat of a request value: the whole value when it is at most
/// [`ECHOED_PREFIX_MAX_BYTES`] long, else that many bytes (cut back to a character
/// boundary) followed by `…`. Quote it with `{:?}`, as the value itself would be.
pub fn echoed_prefix(value: &str) -> Cow<'_, str> {
    if value.len() <= ECHOED_PREFIX_MAX_BYTES {
        return Cow::Borrowed(value);
    }
    let mut end = ECHOED_PREFIX_MAX_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &value[..end]))
}

/// Request values as an error message may list them: each quoted and cut by
/// [`echoed_prefix`], separated by `, `, the first [`ECHOED_LIST_MAX_VALUES`] only and the
/// rest counted (`"a", "b", "c", "d", "e" and 3 more`).
pub fn echoed_list<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
    let mut listed = Vec::new();
    let mut left_out = 0_usize;
    for value in values {
        if listed.len() < ECHOED_LIST_MAX_VALUES {
            listed.push(format!("{:?}", echoed_prefix(value)));
        } else {
            left_out += 1;
        }
    }
    let listed = listed.join(", ");
    if left_out == 0 {
        listed
    } else {
        format!("{listed} and {left_out} more")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_repeated_whole() {
        assert_eq!(echoed_prefix("ada"), "ada");
        let exactly_the_limit = "a".repeat(ECHOED_PREFIX_MAX_BYTES);
        assert_eq!(echoed_prefix(&exactly_the_limit), exactly_the_limit);
        assert_eq!(echoed_prefix(""), "");
    }

    #[test]
    fn long_values_are_cut_to_a_prefix_on_a_character_boundary() {
        let huge = "n".repeat(3 * 1024 * 1024);
        let echoed = echoed_prefix(&huge);
        assert_eq!(echoed, format!("{}…", "n".repeat(ECHOED_PREFIX_MAX_BYTES)));

        // Three-byte characters: 64 bytes would end inside the 22nd, so 21 are kept.
        let wide = "€".repeat(100);
        assert_eq!(echoed_prefix(&wide), format!("{}…", "€".repeat(21)));
        let shifted = format!("a{}", "€".repeat(100));
        assert_eq!(echoed_prefix(&shifted), format!("a{}…", "€".repeat(21)));
    }

    #[test]
    fn lists_name_a_few_values_and_count_the_rest() {
        assert_eq!(echoed_list(["state", "slug"]), "\"state\", \"slug\"");
        let many: Vec<String> = (0..8).map(|n| n.to_string()).collect();
        assert_eq!(
            echoed_list(many.iter().map(String::as_str)),
            "\"0\", \"1\", \"2\", \"3\", \"4\" and 3 more"
        );
        let huge = "p".repeat(1024 * 1024);
        assert!(echoed_list([huge.as_str()]).len() < 100);
        assert_eq!(echoed_list([]), "");
    }
}
