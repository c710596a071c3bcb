//! A small well-formedness check of the status page: every `<` opens or closes one of the
//! page's own elements, elements nest and close, every `&` starts an entity, and attribute
//! values are quoted. Text that reached the page unescaped breaks one of these.

/// The elements the page writes (maud templates in `crates/controller/src/page.rs`).
const ELEMENTS: &[&str] = &[
    "a", "b", "body", "code", "details", "em", "footer", "h1", "h2", "head", "header", "html",
    "li", "link", "meta", "nav", "p", "section", "span", "strong", "summary", "table", "tbody",
    "td", "th", "thead", "time", "title", "tr", "ul",
];

/// Elements without a closing tag.
const VOID: &[&str] = &["link", "meta"];

/// Entities maud writes.
const ENTITIES: &[&str] = &["&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&#x27;"];

/// Checks `page`.
///
/// # Errors
/// What is wrong, and at which byte.
pub fn check(page: &str) -> Result<(), String> {
    let body = page.strip_prefix("<!DOCTYPE html>").ok_or("no doctype")?;
    let bytes = body.as_bytes();
    let mut open: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' => {
                let end = tag_end(bytes, i).ok_or(format!("an unclosed tag at {i}"))?;
                let inner = &body[i + 1..end];
                let (closing, inner) = match inner.strip_prefix('/') {
                    Some(rest) => (true, rest),
                    None => (false, inner),
                };
                let name: &str = inner
                    .split(|c: char| c.is_whitespace())
                    .next()
                    .unwrap_or_default();
                if !ELEMENTS.contains(&name) {
                    return Err(format!(
                        "an element the page does not write: <{name}> at {i}"
                    ));
                }
                if closing {
                    if open.pop() != Some(name) {
                        return Err(format!("</{name}> closes nothing open at {i}"));
                    }
                } else if !VOID.contains(&name) {
                    open.push(name);
                }
                i = end + 1;
            }
            b'>' => return Err(format!("a bare '>' at {i}")),
            b'&' => {
                if !ENTITIES.iter().any(|e| body[i..].starts_with(e)) {
                    return Err(format!("an '&' that starts no entity at {i}"));
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    match open.last() {
        None => Ok(()),
        Some(name) => Err(format!("<{name}> is never closed")),
    }
}

/// The index of the `>` that ends the tag starting at `start`, skipping quoted values (which
/// may not hold `<` or a bare `&` either).
fn tag_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut quoted = false;
    for (i, b) in bytes.iter().enumerate().skip(start + 1) {
        match b {
            b'"' => quoted = !quoted,
            b'<' => return None,
            b'>' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_the_page_shape_and_refuses_injections() {
        assert_eq!(
            check("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"></head><body><p class=\"x\">a &amp; b</p></body></html>"),
            Ok(())
        );
        for bad in [
            "<!DOCTYPE html><html><script>x</script></html>",
            "<!DOCTYPE html><html><p>a < b</p></html>",
            "<!DOCTYPE html><html><p>a & b</p></html>",
            "<!DOCTYPE html><html><p title=\"a\">x</html>",
            "<!DOCTYPE html><html><p>x</p>",
            "<!DOCTYPE html><html><p>a > b</p></html>",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
