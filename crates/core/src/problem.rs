//! Problems found in user input, each located by a JSON pointer (RFC 6901).

use serde::Serialize;

/// One problem with a definition or request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// JSON pointer of the offending field (`""` is the whole document).
    pub pointer: String,
    pub message: String,
}

/// Everything validation found: errors make the input invalid, warnings do not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl Report {
    pub fn error(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Problem { pointer: pointer.into(), message: message.into() });
    }

    pub fn warn(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Problem { pointer: pointer.into(), message: message.into() });
    }

    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// Errors in document order, so the first problem a user sees is the first in their file.
    pub fn sort(&mut self) {
        self.errors.sort_by(|a, b| pointer_order(&a.pointer, &b.pointer));
        self.warnings.sort_by(|a, b| pointer_order(&a.pointer, &b.pointer));
    }
}

/// Orders pointers segment by segment, numeric segments as numbers (`/steps/10` after `/steps/9`).
fn pointer_order(a: &str, b: &str) -> std::cmp::Ordering {
    let mut sa = a.split('/');
    let mut sb = b.split('/');
    loop {
        match (sa.next(), sb.next()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n),
                    _ => x.cmp(y),
                };
                if ord.is_ne() {
                    return ord;
                }
            }
        }
    }
}

/// `base` extended by one reference token, escaped per RFC 6901.
pub fn child(base: &str, token: impl std::fmt::Display) -> String {
    let token = token.to_string();
    if token.contains(['~', '/']) {
        format!("{base}/{}", token.replace('~', "~0").replace('/', "~1"))
    } else {
        format!("{base}/{token}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_escapes_tokens() {
        assert_eq!(child("/a", "b/c~d"), "/a/b~1c~0d");
        assert_eq!(child("", 3), "/3");
    }

    #[test]
    fn sort_is_numeric_per_segment() {
        let mut r = Report::default();
        r.error("/steps/10/id", "x");
        r.error("/steps/9/id", "y");
        r.error("/name", "z");
        r.sort();
        let order: Vec<_> = r.errors.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(order, ["/name", "/steps/9/id", "/steps/10/id"]);
    }
}
