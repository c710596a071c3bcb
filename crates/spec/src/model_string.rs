//! Strings as AWS's service models constrain them: a pattern of one character class, repeated,
//! and a length. The patterns are the models' own text (botocore's `data/*/service-2.json`,
//! which `tests/ecs_contract.rs` compares with these), read with regex-syntax: `\p{L}`, `\p{Z}`
//! and `\p{N}` are Unicode's general categories exactly (Rust's `char::is_alphanumeric` also
//! takes combining marks and circled letters, which AWS refuses), and `\w` is ASCII, as in the
//! Java patterns the models are written in.

mod tag_class;

/// ECS's TagKey: `([\p{L}\p{Z}\p{N}_.:/=+\-@]*)`, 1 to 128 characters.
pub static TAG_KEY: ModelString = ModelString {
    pattern: r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)",
    min: 1,
    max: 128,
    allowed: tag_class::TAG_CLASS,
};

/// ECS's TagValue: the same characters, 0 to 256 of them.
pub static TAG_VALUE: ModelString = ModelString {
    pattern: r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)",
    min: 0,
    max: 256,
    allowed: tag_class::TAG_CLASS,
};

/// IAM's roleNameType: `[\w+=,.@-]+`, 1 to 64 characters (`\w` is ASCII, as in Java).
pub static ROLE_NAME: ModelString = ModelString {
    pattern: r"[\w+=,.@-]+",
    min: 1,
    max: 64,
    allowed: &[
        ('+', '.'),
        ('0', '9'),
        ('=', '='),
        ('@', 'Z'),
        ('_', '_'),
        ('a', 'z'),
    ],
};

/// One model string type: its pattern (as the service model writes it), the characters that
/// pattern allows, and its length bounds in characters.
#[derive(Debug)]
pub struct ModelString {
    /// The pattern, as the service model writes it.
    pub pattern: &'static str,
    /// The fewest characters.
    pub min: usize,
    /// The most characters.
    pub max: usize,
    /// The allowed characters, as sorted inclusive ranges (the tests derive them from
    /// `pattern` with regex-syntax).
    allowed: &'static [(char, char)],
}

impl ModelString {
    /// Whether the pattern allows `c`.
    pub fn allows(&self, c: char) -> bool {
        let position = self.allowed.partition_point(|(_, end)| *end < c);
        self.allowed
            .get(position)
            .is_some_and(|(start, _)| *start <= c)
    }

    /// The first character of `value` the pattern does not allow.
    pub fn first_refused(&self, value: &str) -> Option<char> {
        value.chars().find(|c| !self.allows(*c))
    }

    /// Whether `value`'s length (in characters) is within the bounds.
    pub fn fits(&self, value: &str) -> bool {
        (self.min..=self.max).contains(&value.chars().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_take_letters_separators_and_numbers_as_unicode_defines_them() {
        for c in ['a', 'Z', 'é', '日', '٣', ' ', '\u{2003}', '_', '@', '/'] {
            assert!(TAG_VALUE.allows(c), "{c:?}");
        }
        // A Devanagari vowel sign (Mc), a circled letter (So), a tab, a comma: Rust's
        // is_alphanumeric takes the first two; AWS does not.
        for c in ['\u{093E}', 'Ⓐ', '\t', ',', '*'] {
            assert!(!TAG_VALUE.allows(c), "{c:?}");
        }
        assert!(TAG_KEY.fits("k") && !TAG_KEY.fits("") && TAG_VALUE.fits(""));
        assert!(!TAG_KEY.fits(&"k".repeat(129)) && TAG_VALUE.fits(&"é".repeat(256)));
    }

    use regex_syntax::hir::{Class, Hir, HirKind};

    /// The class of a pattern that is one class repeated (in a group or not), as regex-syntax
    /// reads it (Java's `\w` is ASCII; regex-syntax's is Unicode).
    fn parsed(pattern: &str) -> Vec<(char, char)> {
        fn class(hir: &Hir) -> Option<Vec<(char, char)>> {
            match hir.kind() {
                HirKind::Capture(c) => class(&c.sub),
                HirKind::Repetition(r) => match r.sub.kind() {
                    HirKind::Class(Class::Unicode(c)) => {
                        Some(c.ranges().iter().map(|r| (r.start(), r.end())).collect())
                    }
                    _ => None,
                },
                _ => None,
            }
        }
        let text = pattern.replace(r"\w", "A-Za-z0-9_");
        let hir = regex_syntax::ParserBuilder::new()
            .build()
            .parse(&text)
            .unwrap();
        class(&hir).unwrap()
    }

    #[test]
    fn the_tables_are_what_the_patterns_say() {
        for model in [&TAG_KEY, &TAG_VALUE, &ROLE_NAME] {
            assert_eq!(model.allowed, parsed(model.pattern), "{}", model.pattern);
        }
    }

    #[test]
    fn role_names_are_ascii_words_and_six_marks() {
        assert_eq!(
            ROLE_NAME.first_refused("ecsTaskExecutionRole+=,.@-_9"),
            None
        );
        assert_eq!(ROLE_NAME.first_refused("délégué"), Some('é'));
        assert_eq!(ROLE_NAME.first_refused("a b"), Some(' '));
        assert!(!ROLE_NAME.fits(&"r".repeat(65)));
    }
}
