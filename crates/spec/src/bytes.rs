//! The bytes of a file before any YAML parser sees them.
//!
//! A group file is written by anyone who can commit, so it may be anything: a binary committed by
//! mistake, a `/proc/*/environ` dump, a file saved in UTF-16. YAML 1.2 (§5.1, "Character Set")
//! allows only the printable characters: tab, LF, CR, x20-x7E, NEL (x85), xA0-xD7FF, xE000-xFFFD
//! and x10000-x10FFFF, in UTF-8, UTF-16 or UTF-32. This project reads UTF-8 only. Anything else
//! is refused here, in one linear scan, before a parser can misbehave on it (serde_yaml's
//! document iterator never ends after an error that yaml-rust2 did not raise, which control
//! characters cause). The message names the kind of character and its position, never the
//! file's content.

use crate::location::Position;

/// Why a file's bytes are not YAML this project reads, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Where the first offending character starts.
    pub position: Position,
    /// What it is, without echoing it.
    pub message: String,
}

/// The text of `bytes` when every character is one YAML allows in UTF-8.
///
/// # Errors
/// The first character that is not, with its position (line and column counted in characters).
pub fn screen(bytes: &[u8]) -> Result<&str, Refusal> {
    if let Some(encoding) = wide_encoding(bytes) {
        return Err(Refusal {
            position: Position { line: 1, col: 1 },
            message: format!("the file is {encoding}; save it as UTF-8"),
        });
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = &bytes[..e.valid_up_to()];
            // Valid UTF-8 up to there, so the position is counted in characters.
            let prefix = std::str::from_utf8(valid).unwrap_or_default();
            return Err(Refusal {
                position: Position::after(prefix),
                message: "invalid UTF-8; is this a binary file?".into(),
            });
        }
    };
    for (offset, c) in text.char_indices() {
        if let Some(kind) = forbidden(c, offset) {
            return Err(Refusal {
                position: Position::after(&text[..offset]),
                message: format!("{kind}, which YAML does not allow; is this a binary file?"),
            });
        }
    }
    Ok(text)
}

/// UTF-16 and UTF-32 files, by their byte-order mark (or, without one, by the NUL bytes that
/// ASCII text in them starts with).
fn wide_encoding(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0x00, 0x00, 0xFE, 0xFF, ..] | [0x00, 0x00, 0x00, _, ..] => Some("UTF-32 (big-endian)"),
        [0xFF, 0xFE, 0x00, 0x00, ..] => Some("UTF-32 (little-endian)"),
        [0xFE, 0xFF, ..] => Some("UTF-16 (big-endian)"),
        [0xFF, 0xFE, ..] => Some("UTF-16 (little-endian)"),
        [0x00, b, ..] if *b != 0 => Some("UTF-16 (big-endian)"),
        [a, 0x00, b, 0x00, ..] if *a != 0 && *b != 0 => Some("UTF-16 (little-endian)"),
        _ => None,
    }
}

/// The kind of a character YAML's printable set excludes. A byte-order mark is allowed at the
/// start of the stream only.
fn forbidden(c: char, offset: usize) -> Option<&'static str> {
    match c {
        '\t' | '\n' | '\r' => None,
        '\0' => Some("a NUL byte"),
        '\u{1}'..='\u{1f}' | '\u{7f}' => Some("a control character"),
        '\u{85}' => None,
        '\u{80}'..='\u{9f}' => Some("a C1 control character"),
        '\u{feff}' if offset == 0 => None,
        '\u{feff}' => Some("a byte-order mark inside the text"),
        '\u{fffe}' | '\u{ffff}' => Some("a noncharacter"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(bytes: &[u8]) -> (String, String) {
        let r = screen(bytes).expect_err("refused");
        (r.position.to_string(), r.message)
    }

    #[test]
    fn printable_yaml_passes_unchanged() {
        let text = "\u{feff}a: b\t# ünïcödé, 日本, 🚀\r\nnel: \u{85}\n";
        assert_eq!(screen(text.as_bytes()), Ok(text));
    }

    #[test]
    fn nul_and_control_characters_are_refused_at_their_position() {
        assert_eq!(
            refusal(b"\0"),
            (
                "1:1".into(),
                "a NUL byte, which YAML does not allow; is this a binary file?".into()
            )
        );
        assert_eq!(refusal(b"kind: \x01\x02").0, "1:7");
        assert_eq!(refusal("a: é\nb: \u{9b}".as_bytes()).0, "2:4");
        assert!(refusal(b"x\x7f").1.starts_with("a control character"));
        assert!(refusal("a\u{feff}".as_bytes())
            .1
            .starts_with("a byte-order mark"));
    }

    #[test]
    fn invalid_utf8_and_wide_encodings_are_refused() {
        assert_eq!(
            refusal(b"a: b\nc: \xff\xfe"),
            ("2:4".into(), "invalid UTF-8; is this a binary file?".into())
        );
        assert_eq!(
            refusal(b"\xff\xfek\x00i\x00").1,
            "the file is UTF-16 (little-endian); save it as UTF-8"
        );
        assert!(refusal(b"\xfe\xff\x00k").1.contains("UTF-16 (big-endian)"));
        assert!(refusal(b"k\x00i\x00n\x00")
            .1
            .contains("UTF-16 (little-endian)"));
        assert!(refusal(b"\x00\x00\xfe\xff").1.contains("UTF-32"));
    }

    #[test]
    fn messages_never_echo_the_content() {
        let secret = b"token: hunter2\x00hunter2";
        let (_, message) = refusal(secret);
        assert!(!message.contains("hunter2") && !message.contains("token"));
    }
}
