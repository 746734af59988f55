//! ObjectScript string intrinsics the function library is built from: `$PIECE`, `$EXTRACT`,
//! `$LENGTH`, `$TRANSLATE`, `$ZSTRIP`, list membership (`In`) and `<a><b>` lists
//! (`IntersectsList`).
//!
//! # Invariants
//!
//! - Positions are 1-based character positions, as in ObjectScript; out-of-range positions
//!   give empty results, never a panic.
//! - Every function is total over its inputs.

/// `$PIECE(s, delim, from, to)`: pieces `from..=to` joined with `delim`; empty when `delim`
/// is empty or the range is empty.
pub fn piece(s: &str, delim: &str, from: i64, to: i64) -> String {
    if delim.is_empty() || to < 1 || to < from {
        return String::new();
    }
    let from = from.max(1) as usize;
    let to = to as usize;
    let parts: Vec<&str> = s.split(delim).collect();
    if from > parts.len() {
        return String::new();
    }
    parts[from - 1..to.min(parts.len())].join(delim)
}

/// `$EXTRACT(s, from, to)`: characters `from..=to` (1-based).
pub fn extract(s: &str, from: i64, to: i64) -> String {
    if to < 1 || to < from {
        return String::new();
    }
    let from = from.max(1) as usize;
    s.chars().skip(from - 1).take(to as usize - from + 1).collect()
}

/// Number of characters.
pub fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// `$LENGTH(s, delim)`: the number of `delim`-separated pieces (0 for an empty delimiter).
pub fn piece_count(s: &str, delim: &str) -> usize {
    if delim.is_empty() { 0 } else { s.matches(delim).count() + 1 }
}

/// `$TRANSLATE(s, from, to)`: each character of `from` becomes the character at the same
/// position of `to`, or is removed when `to` is shorter.
pub fn translate(s: &str, from: &str, to: &str) -> String {
    let from: Vec<char> = from.chars().collect();
    let to: Vec<char> = to.chars().collect();
    s.chars()
        .filter_map(|c| match from.iter().position(|&f| f == c) {
            Some(i) => to.get(i).copied(),
            None => Some(c),
        })
        .collect()
}

/// Whether `c` is in the `$ZSTRIP` / pattern character class `class`.
fn in_class(class: char, c: char) -> bool {
    match class {
        'A' => c.is_alphabetic(),
        'N' => c.is_ascii_digit(),
        'P' => c.is_ascii_punctuation() || c == ' ',
        'W' => c.is_whitespace(),
        'C' => c.is_control(),
        'L' => c.is_lowercase(),
        'U' => c.is_uppercase(),
        'E' => true,
        _ => false,
    }
}

/// Checks a `$ZSTRIP` mask: groups of actions (`*` `<` `>` `=`) each followed by character
/// classes (`A N P W C L U E`).
pub fn check_strip_mask(mask: &str) -> Result<(), String> {
    parse_mask(mask).map(|_| ())
}

struct MaskGroup {
    all: bool,
    leading: bool,
    trailing: bool,
    collapse: bool,
    classes: Vec<char>,
}

fn parse_mask(mask: &str) -> Result<Vec<MaskGroup>, String> {
    let chars: Vec<char> = mask.chars().collect();
    let mut groups = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let mut g = MaskGroup { all: false, leading: false, trailing: false, collapse: false, classes: Vec::new() };
        let start = i;
        while let Some(&c) = chars.get(i) {
            match c {
                '*' => g.all = true,
                '<' => g.leading = true,
                '>' => g.trailing = true,
                '=' => g.collapse = true,
                _ => break,
            }
            i += 1;
        }
        if i == start {
            return Err(format!("$ZSTRIP mask {mask:?}: expected an action (* < > =) at position {}", i + 1));
        }
        while let Some(&c) = chars.get(i) {
            let up = c.to_ascii_uppercase();
            if matches!(up, 'A' | 'N' | 'P' | 'W' | 'C' | 'L' | 'U' | 'E') {
                g.classes.push(up);
                i += 1;
            } else {
                break;
            }
        }
        if let Some(&c) = chars.get(i)
            && !matches!(c, '*' | '<' | '>' | '=')
        {
            return Err(format!("$ZSTRIP mask {mask:?}: unknown code {c:?} at position {}", i + 1));
        }
        groups.push(g);
    }
    Ok(groups)
}

/// `$ZSTRIP(s, mask, remove, keep)`; an invalid mask leaves `s` unchanged (compilers check
/// literal masks with [`check_strip_mask`]).
pub fn zstrip(s: &str, mask: &str, remove: &str, keep: &str) -> String {
    let Ok(groups) = parse_mask(mask) else {
        return s.to_owned();
    };
    let mut chars: Vec<char> = s.chars().collect();
    for g in &groups {
        let hit = |c: char| !keep.contains(c) && (g.classes.iter().any(|&k| in_class(k, c)) || remove.contains(c));
        if g.all {
            chars.retain(|&c| !hit(c));
        }
        if g.leading {
            let n = chars.iter().take_while(|&&c| hit(c)).count();
            chars.drain(..n);
        }
        if g.trailing {
            let n = chars.iter().rev().take_while(|&&c| hit(c)).count();
            chars.truncate(chars.len() - n);
        }
        if g.collapse {
            let mut out: Vec<char> = Vec::with_capacity(chars.len());
            for c in chars {
                if hit(c) && out.last() == Some(&c) {
                    continue;
                }
                out.push(c);
            }
            chars = out;
        }
    }
    chars.into_iter().collect()
}

/// `In(val, items)`: whether `val` is one of the items. `items` is a comma list, or ends in
/// `,,` plus one character (that separator) or two characters (a prefix and a suffix that
/// wrap each item: `<a><b>,,<>`).
pub fn in_list(val: &str, items: &str) -> bool {
    if let Some(at) = items.rfind(",,") {
        let spec = &items[at + 2..];
        let list = &items[..at];
        let sc: Vec<char> = spec.chars().collect();
        match sc.as_slice() {
            [sep] => {
                let sep = sep.to_string();
                return list.split(sep.as_str()).any(|i| i == val);
            }
            [pre, suf] => {
                return list.contains(&format!("{pre}{val}{suf}"));
            }
            _ => {}
        }
    }
    items.split(',').any(|i| i == val)
}

/// Splits a list for `IntersectsList`: with the default separator `><`, `<a><b>` gives `a`,
/// `b`; with another separator, the text is split on it. An empty list has no items.
pub fn split_list<'s>(list: &'s str, sep: &str) -> Vec<&'s str> {
    if list.is_empty() {
        return Vec::new();
    }
    if sep == "><" {
        let inner = list.strip_prefix('<').unwrap_or(list);
        let inner = inner.strip_suffix('>').unwrap_or(inner);
        return inner.split("><").collect();
    }
    if sep.is_empty() {
        return vec![list];
    }
    list.split(sep).collect()
}

/// `IntersectsList(val, items, srcsep, targetsep)`.
pub fn intersects(val: &str, items: &str, src_sep: &str, target_sep: &str) -> bool {
    let targets = split_list(items, target_sep);
    split_list(val, src_sep).iter().any(|v| targets.contains(v))
}

/// `Pad(val, width, char)`: positive width pads on the right, negative on the left, to
/// `|width|` characters; a longer value is returned unchanged.
pub fn pad(val: &str, width: i64, pad_char: char) -> String {
    let len = char_len(val) as i64;
    let want = width.unsigned_abs().min(1_000_000) as i64;
    if len >= want {
        return val.to_owned();
    }
    let fill: String = std::iter::repeat_n(pad_char, (want - len) as usize).collect();
    if width < 0 { fill + val } else { val.to_owned() + &fill }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_and_extract_follow_objectscript() {
        assert_eq!(piece("12 LOW ROAD^^YORK^^YO1 7HH^GBR", "^", 3, 3), "YORK");
        assert_eq!(piece("a,b,c", ",", 2, 3), "b,c");
        assert_eq!(piece("a,b,c", ",", 5, 5), "");
        assert_eq!(piece("a,b,c", "", 1, 1), "");
        assert_eq!(extract("19750620", 1, 4), "1975");
        assert_eq!(extract("john", 2, i64::MAX), "ohn");
        assert_eq!(extract("john", 0, 1), "j");
        assert_eq!(extract("", 1, 1), "");
        assert_eq!(piece_count("O'BRIEN^MARY ANN^^^MRS", "^"), 5);
    }

    #[test]
    fn translate_removes_characters_without_counterpart() {
        assert_eq!(translate("O'BRIEN", "'", ""), "OBRIEN");
        assert_eq!(translate("Urea and electrolytes", " ", "_"), "Urea_and_electrolytes");
    }

    #[test]
    fn zstrip_masks() {
        assert_eq!(zstrip("  X  ", "<>W", "", ""), "X");
        assert_eq!(zstrip("0113 496 0000", "*W", "", ""), "01134960000");
        assert_eq!(zstrip("a   b", "=W", "", ""), "a b");
        assert_eq!(zstrip("a-b.c", "*P", "", "."), "ab.c");
        assert_eq!(zstrip("xxaxx", "<>", "x", ""), "a");
        assert!(check_strip_mask("*W").is_ok());
        assert!(check_strip_mask("W").is_err());
        assert!(check_strip_mask("*-").is_err());
    }

    #[test]
    fn list_membership() {
        assert!(in_list("A01", "A01,A04,A08"));
        assert!(!in_list("A0", "A01,A04"));
        assert!(in_list("CAR", "MED|CAR|SUR,,|"));
        assert!(in_list("b", "<a><b><c>,,<>"));
        assert!(!in_list("d", "<a><b><c>,,<>"));
        assert!(intersects("<8302-2><29463-7>", "<29463-7><8867-4>", "><", "><"));
        assert!(!intersects("<8302-2>", "<29463-7>", "><", "><"));
        assert!(!intersects("", "<a>", "><", "><"));
        assert!(intersects("a,b", "x,b", ",", ","));
    }

    #[test]
    fn pad_both_ways() {
        assert_eq!(pad("1", -4, '0'), "0001");
        assert_eq!(pad("LAB0001", -12, '0'), "00000LAB0001");
        assert_eq!(pad("ab", 4, ' '), "ab  ");
        assert_eq!(pad("abcdef", 3, ' '), "abcdef");
    }
}
