//! Reads the worked examples out of the specs in `docs/`, so that the tests
//! check the bytes the documents show, not a copy of them.
//!
//! An example is a fenced block whose info string holds `example:NAME`
//! (for instance ```` ```text example:index-record ````). Within a block,
//! columns are separated by two or more spaces; lines starting with `#` are
//! comments. In a hex block the first column holds the bytes, written as
//! two-digit hex numbers separated by single spaces and optionally preceded
//! by an `offset:` label; every further column is commentary.

#![allow(dead_code, unreachable_pub)]

/// The text of the one block named `name` in `doc`.
pub fn block<'a>(doc: &'a str, name: &str) -> &'a str {
    let marker = format!("example:{name}");
    let mut offset = 0usize;
    let lines: Vec<(usize, &str)> = doc
        .split_inclusive('\n')
        .map(|l| {
            let at = offset;
            offset += l.len();
            (at, l)
        })
        .collect();
    let mut found = None;
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].1.trim_end();
        if fence.starts_with("```") && fence.split_whitespace().any(|w| w == marker) {
            let start = lines.get(i + 1).map_or(doc.len(), |l| l.0);
            let close = (i + 1..lines.len())
                .find(|&j| lines[j].1.trim_end() == "```")
                .unwrap_or_else(|| panic!("block {marker} is not closed"));
            assert!(found.is_none(), "two blocks are named {marker}");
            found = Some(&doc[start..lines[close].0]);
            i = close;
        }
        i += 1;
    }
    found.unwrap_or_else(|| panic!("no block named {marker}"))
}

/// The lines of a block that are not blank or comments.
pub fn lines(block: &str) -> impl Iterator<Item = &str> {
    block
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
}

/// The columns of a line: separated by two or more spaces.
pub fn columns(line: &str) -> Vec<&str> {
    line.trim()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

/// The bytes of a hex block, checking any `offset:` labels.
pub fn hex(block: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines(block) {
        let first = columns(line)[0];
        let mut tokens = first.split(' ').peekable();
        if let Some(label) = tokens.peek().and_then(|t| t.strip_suffix(':')) {
            let offset = usize::from_str_radix(label, 16)
                .unwrap_or_else(|_| panic!("bad offset label in {line:?}"));
            assert_eq!(offset, out.len(), "offset label of {line:?}");
            tokens.next();
        }
        for t in tokens {
            assert!(t.len() == 2, "not a hex byte: {t:?} in {line:?}");
            out.push(u8::from_str_radix(t, 16).unwrap_or_else(|_| panic!("not hex: {t:?}")));
        }
    }
    out
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
