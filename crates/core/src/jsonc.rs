//! A lenient reader for JSON as people paste it from documentation: `//` and `/* */` comments and
//! trailing commas are accepted. They are blanked out (replaced by spaces, newlines kept), so the
//! strict parser that follows reports positions in the original text.

/// Parses JSON with comments and trailing commas.
pub fn parse(text: &str) -> Result<serde_json::Value, serde_json::Error> {
    serde_json::from_str(&strip(text))
}

/// The text with comments and trailing commas replaced by spaces, same length and line breaks.
pub fn strip(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let mut i = 0;
    // Position of the last comma outside strings that has no value after it yet.
    let mut pending_comma: Option<usize> = None;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                pending_comma = None;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |p| i + 2 + p + 2);
                for b in &mut out[i..end] {
                    if *b != b'\n' {
                        *b = b' ';
                    }
                }
                i = end;
            }
            b',' => {
                pending_comma = Some(i);
                i += 1;
            }
            b']' | b'}' => {
                if let Some(c) = pending_comma.take() {
                    out[c] = b' ';
                }
                i += 1;
            }
            b if b.is_ascii_whitespace() => i += 1,
            _ => {
                pending_comma = None;
                i += 1;
            }
        }
    }
    // Only ASCII bytes were replaced by ASCII spaces, so the text is still UTF-8.
    String::from_utf8(out).expect("blanking ASCII keeps UTF-8 valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn comments_and_trailing_commas_are_accepted() {
        let text = "{\n // note\n \"a\": [1, 2,], /* b */ \"s\": \"x // not a comment, ]\",\n}";
        assert_eq!(
            parse(text).unwrap(),
            json!({"a": [1, 2], "s": "x // not a comment, ]"})
        );
    }

    #[test]
    fn errors_keep_original_positions() {
        let err = parse("// c\n{\"a\": tru}").unwrap_err();
        assert_eq!((err.line(), err.column()), (2, 10));
    }

    #[test]
    fn escaped_quotes_stay_inside_strings() {
        assert_eq!(parse(r#"{"a": "q\"//", }"#).unwrap(), json!({"a": "q\"//"}));
    }
}
