//! Names and values from users and servers as error messages show them:
//! control characters escaped and long text cut, so that a hostile
//! cookbook name cannot forge lines or make a one-megabyte error line.

/// The most characters of one name or value an error message repeats.
pub const MAX_SHOWN: usize = 100;

/// `text` fit for one line of an error message: control characters
/// escaped (`\n`, `\u{1b}`), and anything past [`MAX_SHOWN`] characters
/// replaced by `…(N more characters)`.
pub fn shown(text: &str) -> String {
    let mut out = String::new();
    for (count, c) in text.chars().enumerate() {
        if count == MAX_SHOWN {
            let rest = text.chars().count() - count;
            out.push_str(&format!("…({rest} more characters)"));
            return out;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_characters_and_cuts_long_text() {
        assert_eq!(shown("apt"), "apt");
        assert_eq!(shown("a\nb\u{1b}"), "a\\nb\\u{1b}");
        let long = "x".repeat(MAX_SHOWN + 5);
        assert_eq!(
            shown(&long),
            format!("{}…(5 more characters)", "x".repeat(MAX_SHOWN))
        );
    }
}
