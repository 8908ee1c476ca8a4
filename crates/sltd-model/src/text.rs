//! Text from outside (a feed file, a server's answer, a client's query, a
//! file on disk) on its way to a log line, a terminal, a status file or an
//! error message. Raw, a newline in it forges a log line, an escape
//! sequence rewrites an operator's terminal, and a megabyte of it floods
//! a journal or overflows a gRPC status. Everything that prints, logs or
//! stores such text passes it through [`printable`], and nothing else
//! decides how.

use std::borrow::Cow;
use std::fmt::Write;

/// The longest outside text kept in a log line, a status file or an error
/// message, in bytes.
pub const MAX_LOGGED_TEXT: usize = 512;

/// Marks a cut: what follows it was left out.
const CUT: &str = "...";

/// `text` with every control character (C0, DEL, C1) and every
/// bidirectional-override or invisible formatting character escaped as
/// `\n`, `\t`, `\r` or `\u{…}`, cut to at most `max` bytes (ending in
/// `...` when cut). Printable text passes through unchanged and unbuffered;
/// applying it twice gives the result of applying it once.
pub fn printable(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max && !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let budget = max.saturating_sub(CUT.len());
    let mut out = String::with_capacity(text.len().min(max));
    let mut cut = false;
    let mut piece = String::new();
    for c in text.chars() {
        piece.clear();
        match c {
            '\n' => piece.push_str("\\n"),
            '\r' => piece.push_str("\\r"),
            '\t' => piece.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(piece, "\\u{{{:x}}}", c as u32);
            }
            c => piece.push(c),
        }
        if out.len() + piece.len() > budget {
            cut = true;
            break;
        }
        out.push_str(&piece);
    }
    if cut {
        out.push_str(CUT);
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200b}'..='\u{200f}' // zero-width and direction marks
            | '\u{2028}' | '\u{2029}' // line and paragraph separators
            | '\u{202a}'..='\u{202e}' // bidirectional embeddings and overrides
            | '\u{2066}'..='\u{2069}' // bidirectional isolates
            | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_text_passes_unchanged() {
        assert!(matches!(
            printable("unknown key id 34750f98", 512),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            printable("a\nlevel=ERROR forged\x1b[2J\u{202e}", 512),
            "a\\nlevel=ERROR forged\\u{1b}[2J\\u{202e}"
        );
    }

    #[test]
    fn long_text_is_cut_to_the_bound() {
        let long = "é".repeat(1000);
        let p = printable(&long, 512);
        assert!(p.len() <= 512, "{}", p.len());
        assert!(p.ends_with(CUT));
    }

    proptest! {
        #[test]
        fn output_is_bounded_clean_and_stable(s in any::<String>(), max in 3usize..600) {
            let once = printable(&s, max).into_owned();
            prop_assert!(once.len() <= max);
            prop_assert!(!once.chars().any(needs_escape));
            prop_assert_eq!(printable(&once, max).into_owned(), once.clone());
            if s.len() <= max && !s.chars().any(needs_escape) {
                prop_assert_eq!(once, s);
            }
        }
    }
}
