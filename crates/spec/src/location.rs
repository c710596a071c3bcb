//! Where each field of a YAML document stands: an index from field path to line and column.
//!
//! serde only says *what* is wrong with a value; users need to know *where*. The index is built
//! from yaml-rust2's marked event stream, which also reveals duplicate keys (serde_yaml keeps the
//! last one silently for maps).

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::Marker;

/// A 1-based line and column in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
}

impl Position {
    fn from_marker(m: &Marker) -> Self {
        // yaml-rust2 counts lines from 1 and columns from 0.
        Position {
            line: m.line(),
            col: m.col() + 1,
        }
    }
}

impl Position {
    /// The position just after `prefix`: lines end at YAML's line breaks (CR LF, CR, LF, as
    /// YAML 1.2 §5.4 has them) and columns count characters.
    pub fn after(prefix: &str) -> Self {
        let mut line = 1;
        let mut col = 1;
        let mut chars = prefix.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' if chars.peek() == Some(&'\n') => {}
                '\r' | '\n' => {
                    line += 1;
                    col = 1;
                }
                _ => col += 1,
            }
        }
        Position { line, col }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A path to a field, written `spec.network.subnets[0]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct FieldPath(String);

impl FieldPath {
    /// The document root.
    pub fn root() -> Self {
        FieldPath(String::new())
    }

    /// Parses a dotted path such as `spec.network.subnets[0]`.
    pub fn new(path: &str) -> Self {
        FieldPath(path.to_owned())
    }

    /// This path followed by a mapping key.
    pub fn key(&self, key: &str) -> Self {
        if self.0.is_empty() {
            FieldPath(key.to_owned())
        } else {
            FieldPath(format!("{}.{key}", self.0))
        }
    }

    /// This path followed by a sequence index.
    pub fn index(&self, index: usize) -> Self {
        FieldPath(format!("{}[{index}]", self.0))
    }

    /// The enclosing path, or `None` at the root.
    pub fn parent(&self) -> Option<Self> {
        if self.0.is_empty() {
            return None;
        }
        let cut = self.0.rfind(['.', '[']).unwrap_or(0);
        Some(FieldPath(self.0[..cut].to_owned()))
    }

    /// The path as text (empty at the root).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("(document)")
        } else {
            f.write_str(&self.0)
        }
    }
}

/// Positions of the fields of one YAML document.
#[derive(Debug, Clone, Default)]
pub struct FieldIndex {
    start: Position,
    positions: HashMap<FieldPath, Position>,
    /// Keys that appeared twice in one mapping: the path, the repeated key's position, the first one's.
    pub duplicates: Vec<(FieldPath, Position, Position)>,
    /// False for an empty document (nothing but comments, or a bare `---`).
    pub has_content: bool,
}

impl FieldIndex {
    /// Where the field stands (its key for mapping entries, its value for sequence items).
    pub fn get(&self, path: &FieldPath) -> Option<Position> {
        self.positions.get(path).copied()
    }

    /// The position of the field, else of its nearest enclosing field that exists, else of the
    /// document start.
    pub fn locate(&self, path: &FieldPath) -> Position {
        let mut current = Some(path.clone());
        while let Some(p) = current {
            if let Some(pos) = self.get(&p) {
                return pos;
            }
            current = p.parent();
        }
        self.start
    }

    /// Where the document starts.
    pub fn start(&self) -> Position {
        self.start
    }
}

/// A syntax error found while indexing.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub position: Position,
    /// What it said.
    pub message: String,
}

enum Frame {
    Map {
        path: FieldPath,
        pending_key: Option<(String, Position)>,
        seen: HashMap<String, Position>,
    },
    Seq {
        path: FieldPath,
        next: usize,
    },
}

/// Builds one index per document of `text`.
///
/// # Errors
/// Returns the first YAML syntax error; documents before it are not returned.
pub fn index_documents(text: &str) -> Result<Vec<FieldIndex>, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    // yaml-rust2 may place an event (an empty key at end of input, an error) on a line past the
    // last one: every position is clamped to the end of the text.
    let end = Position::after(text);
    let mut docs = Vec::new();
    let mut current: Option<FieldIndex> = None;
    let mut stack: Vec<Frame> = Vec::new();
    loop {
        let (event, marker) = parser.next_token().map_err(|e| SyntaxError {
            position: Position::from_marker(e.marker()).min(end),
            message: e.info().to_owned(),
        })?;
        let pos = Position::from_marker(&marker).min(end);
        match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                current = Some(FieldIndex {
                    start: pos,
                    ..FieldIndex::default()
                });
            }
            Event::DocumentEnd => {
                if let Some(doc) = current.take() {
                    docs.push(doc);
                }
                stack.clear();
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let Some(doc) = current.as_mut() else {
                    continue;
                };
                doc.has_content = true;
                let path = child_path(doc, &mut stack, pos);
                stack.push(if matches!(event, Event::MappingStart(..)) {
                    Frame::Map {
                        path,
                        pending_key: None,
                        seen: HashMap::new(),
                    }
                } else {
                    Frame::Seq { path, next: 0 }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            Event::Scalar(ref value, ..) => {
                let Some(doc) = current.as_mut() else {
                    continue;
                };
                // A key scalar: remember it until its value arrives.
                if let Some(Frame::Map {
                    path,
                    pending_key,
                    seen,
                }) = stack.last_mut()
                {
                    if pending_key.is_none() {
                        // yaml-rust2 marks a block mapping inside a sequence one column past
                        // its first key; locate such an item at that key instead.
                        if seen.is_empty() && path.as_str().ends_with(']') {
                            doc.positions.insert(path.clone(), pos);
                        }
                        let key_path = path.key(value);
                        if let Some(first) = seen.get(value) {
                            doc.duplicates.push((key_path, pos, *first));
                        } else {
                            seen.insert(value.clone(), pos);
                        }
                        *pending_key = Some((value.clone(), pos));
                        continue;
                    }
                }
                if stack.is_empty() && !value.is_empty() {
                    doc.has_content = true;
                }
                child_path(doc, &mut stack, pos);
            }
            Event::Alias(_) => {
                if let Some(doc) = current.as_mut() {
                    child_path(doc, &mut stack, pos);
                }
            }
            Event::StreamStart | Event::Nothing => {}
        }
    }
    Ok(docs)
}

/// Records the position of the node that starts at `pos` and returns its path.
fn child_path(doc: &mut FieldIndex, stack: &mut [Frame], pos: Position) -> FieldPath {
    match stack.last_mut() {
        None => FieldPath::root(),
        Some(Frame::Map {
            path, pending_key, ..
        }) => {
            // A mapping entry is located at its key; a non-scalar key is not indexed.
            let Some((key, key_pos)) = pending_key.take() else {
                return path.key("?");
            };
            let child = path.key(&key);
            doc.positions.entry(child.clone()).or_insert(key_pos);
            child
        }
        Some(Frame::Seq { path, next }) => {
            let child = path.index(*next);
            *next += 1;
            doc.positions.entry(child.clone()).or_insert(pos);
            child
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_keys_items_and_documents() {
        let text = "a: 1\nb:\n  c: [x, y]\n  d:\n    - e: 2\n---\nz: 3\n";
        let docs = index_documents(text).unwrap();
        assert_eq!(docs.len(), 2);
        let p = |s: &str| docs[0].get(&FieldPath::new(s)).map(|p| p.to_string());
        assert_eq!(p("a").as_deref(), Some("1:1"));
        assert_eq!(p("b.c").as_deref(), Some("3:3"));
        assert_eq!(p("b.c[1]").as_deref(), Some("3:10"));
        assert_eq!(p("b.d[0]").as_deref(), Some("5:7"));
        assert_eq!(p("b.d[0].e").as_deref(), Some("5:7"));
        assert_eq!(
            docs[1].get(&FieldPath::new("z")).unwrap().to_string(),
            "7:1"
        );
    }

    #[test]
    fn locate_falls_back_to_the_nearest_enclosing_field() {
        let docs = index_documents("spec:\n  network:\n    subnets: []\n").unwrap();
        let pos = docs[0].locate(&FieldPath::new("spec.network.securityGroups[0]"));
        assert_eq!(pos.to_string(), "2:3");
    }

    #[test]
    fn reports_duplicate_keys_with_both_positions() {
        let docs = index_documents("a: 1\nb:\n  x: 1\n  x: 2\n").unwrap();
        let (path, at, first) = &docs[0].duplicates[0];
        assert_eq!(path.as_str(), "b.x");
        assert_eq!(
            (at.to_string(), first.to_string()),
            ("4:3".into(), "3:3".into())
        );
    }

    #[test]
    fn empty_documents_have_no_content() {
        let docs = index_documents("# just a comment\n---\na: 1\n").unwrap();
        assert!(!docs[0].has_content || docs.len() == 1);
        assert!(docs.last().unwrap().has_content);
    }

    #[test]
    fn parent_strips_one_segment() {
        assert_eq!(FieldPath::new("a.b[2]").parent().unwrap().as_str(), "a.b");
        assert_eq!(FieldPath::new("a.b").parent().unwrap().as_str(), "a");
        assert_eq!(FieldPath::new("a").parent().unwrap().as_str(), "");
    }

    #[test]
    fn positions_count_yaml_line_breaks() {
        assert_eq!(Position::after("").to_string(), "1:1");
        assert_eq!(Position::after("ab\r\ncd\re\nfé").to_string(), "4:3");
    }

    /// Found by `make fuzz` (fuzz/regressions/loader/explicit-key-at-end-of-input.yaml): an
    /// empty explicit key was placed on line 2 of a one-line file.
    #[test]
    fn an_empty_key_at_end_of_input_stays_inside_the_file() {
        let docs = index_documents("? ").unwrap();
        let end = Position::after("? ");
        assert!(
            docs[0].positions.values().all(|p| *p <= end),
            "{:?}",
            docs[0].positions
        );
        assert!(docs[0].start() <= end);
    }

    #[test]
    fn a_syntax_error_at_end_of_input_stays_inside_the_file() {
        let text = "a:\n  b: {c: ";
        let error = index_documents(text).unwrap_err();
        assert!(
            error.position <= Position::after(text),
            "{}",
            error.position
        );
    }
}
