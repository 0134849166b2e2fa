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
        sort_by_position(&mut self.errors);
        sort_by_position(&mut self.warnings);
    }
}

/// Sorts by a key per pointer: each array index is itself; each field, and the pointer's end,
/// the rank of its path among the paths in the order first met (the found order). Sorting needs
/// a total order; treating differing fields as ties is not one (`/a/2` < `/a/10`, yet both tie
/// with `/b`), and the sort may panic on it.
fn sort_by_position(problems: &mut Vec<Problem>) {
    let mut ranks: std::collections::HashMap<(&str, bool), u64> = std::collections::HashMap::new();
    let mut rank = |path, is_end| {
        let next = ranks.len() as u64;
        (true, *ranks.entry((path, is_end)).or_insert(next))
    };
    let keys: Vec<Vec<(bool, u64)>> = problems
        .iter()
        .map(|p| {
            let pointer = p.pointer.as_str();
            let mut key = Vec::new();
            let mut end = 0;
            for token in pointer.split('/') {
                end += token.len();
                let path = &pointer[..end];
                end += 1;
                key.push(match token.parse::<u64>() {
                    Ok(index) => (false, index),
                    Err(_) => rank(path, false),
                });
            }
            key.push(rank(pointer, true));
            key
        })
        .collect();
    let mut keyed: Vec<_> = keys.into_iter().zip(std::mem::take(problems)).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    problems.extend(keyed.into_iter().map(|(_, p)| p));
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

    #[test]
    fn sorting_many_problems_is_a_total_order() {
        let mut r = Report::default();
        for i in (0..40).rev() {
            r.error(format!("/a/{i}/x"), "indexed");
            r.error(format!("/b{}", i % 3), "field");
            r.error(format!("/a/{i}"), "parent");
        }
        r.sort();
        let indexes: Vec<u64> = r
            .errors
            .iter()
            .filter_map(|p| p.pointer.strip_prefix("/a/"))
            .map(|rest| rest.split('/').next().unwrap().parse().unwrap())
            .collect();
        assert!(indexes.windows(2).all(|w| w[0] <= w[1]), "{indexes:?}");
        // A child found before its parent stays before it.
        assert_eq!(r.errors[0].pointer, "/a/0/x");
        assert_eq!(r.errors[1].pointer, "/a/0");
    }
}
