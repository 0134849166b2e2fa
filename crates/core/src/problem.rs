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
        self.errors.push(Problem {
            pointer: pointer.into(),
            message: message.into(),
        });
    }

    pub fn warn(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Problem {
            pointer: pointer.into(),
            message: message.into(),
        });
    }

    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// Groups problems by array position (`/steps/2/…` before `/steps/10/…`), keeping the order
    /// they were found in — which follows the document — everywhere else.
    pub fn sort(&mut self) {
        self.errors
            .sort_by(|a, b| index_order(&a.pointer, &b.pointer));
        self.warnings
            .sort_by(|a, b| index_order(&a.pointer, &b.pointer));
    }
}

/// Compares the array indexes along two pointers' common path; other differences are ties.
fn index_order(a: &str, b: &str) -> std::cmp::Ordering {
    for (x, y) in a.split('/').zip(b.split('/')) {
        if x == y {
            continue;
        }
        return match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(m), Ok(n)) => m.cmp(&n),
            _ => std::cmp::Ordering::Equal,
        };
    }
    std::cmp::Ordering::Equal
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
    fn sort_groups_by_index_and_keeps_found_order() {
        let mut r = Report::default();
        r.error("/name", "a");
        r.error("/steps/10/id", "x");
        r.error("/steps/9/type", "y");
        r.error("/steps/9/config", "z");
        r.sort();
        let order: Vec<_> = r.errors.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(
            order,
            ["/name", "/steps/9/type", "/steps/9/config", "/steps/10/id"]
        );
    }
}
