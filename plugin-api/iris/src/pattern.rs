//! ObjectScript pattern match (`Matches`, the `?` operator) and SQL `LIKE`.
//!
//! A pattern is a sequence of atoms `count code`: the count is `n`, `n.m`, `n.`, `.m` or `.`;
//! the code is a set of pattern letters (`A` letter, `N` digit, `U` upper case, `L` lower
//! case, `P` punctuation including space, `C` control character, `E` anything; several
//! letters form a union), a quoted literal (`"-"`, with `""` for a quote) or an alternation
//! `(p1,p2,...)` of whole patterns. The whole string must match.
//!
//! # Invariants
//!
//! - [`Pattern::parse`] rejects every malformed pattern with a message; a parsed pattern can
//!   always be matched.
//! - Matching never panics and is bounded: backtracking stops after [`STEP_BUDGET`] steps and
//!   then reports no match.

/// Most backtracking steps one match may take.
pub const STEP_BUDGET: usize = 200_000;

/// A parsed ObjectScript pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    atoms: Vec<Atom>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Atom {
    min: usize,
    max: Option<usize>,
    what: Code,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Code {
    Classes(Vec<char>),
    Literal(Vec<char>),
    Alt(Vec<Pattern>),
}

impl Pattern {
    /// Parses a pattern such as `3N1"-"4A` or `1(2N,3A)`.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let chars: Vec<char> = text.chars().collect();
        let mut pos = 0;
        let p = parse_seq(&chars, &mut pos, false, 0)?;
        if pos != chars.len() {
            return Err(format!("unexpected {:?} at position {} of pattern {text:?}", chars[pos], pos + 1));
        }
        Ok(p)
    }

    /// True when the whole of `s` matches.
    pub fn matches(&self, s: &str) -> bool {
        let chars: Vec<char> = s.chars().collect();
        let mut budget = STEP_BUDGET;
        match_seq(&self.atoms, &chars, 0, &mut budget, &mut |end, _| end == chars.len())
    }
}

/// Deepest nesting of alternations accepted.
const MAX_NEST: usize = 32;

fn parse_seq(c: &[char], pos: &mut usize, nested: bool, depth: usize) -> Result<Pattern, String> {
    if depth > MAX_NEST {
        return Err(format!("pattern alternations nested deeper than {MAX_NEST}"));
    }
    let mut atoms = Vec::new();
    while *pos < c.len() {
        if nested && (c[*pos] == ',' || c[*pos] == ')') {
            break;
        }
        atoms.push(parse_atom(c, pos, depth)?);
    }
    if atoms.is_empty() {
        return Err("empty pattern".to_owned());
    }
    Ok(Pattern { atoms })
}

fn number(c: &[char], pos: &mut usize) -> Option<usize> {
    let start = *pos;
    while *pos < c.len() && c[*pos].is_ascii_digit() {
        *pos += 1;
    }
    if *pos == start {
        return None;
    }
    let s: String = c[start..*pos].iter().collect();
    Some(s.parse::<usize>().unwrap_or(usize::MAX).min(1_000_000))
}

fn parse_atom(c: &[char], pos: &mut usize, depth: usize) -> Result<Atom, String> {
    let at = *pos + 1;
    let first = number(c, pos);
    let (min, max) = if c.get(*pos) == Some(&'.') {
        *pos += 1;
        let second = number(c, pos);
        (first.unwrap_or(0), second)
    } else {
        match first {
            Some(n) => (n, Some(n)),
            None => return Err(format!("pattern atom at position {at} must start with a count (e.g. 3N, 1.5A, .E)")),
        }
    };
    if let Some(m) = max
        && m < min
    {
        return Err(format!("count {min}.{m} at position {at}: the maximum is below the minimum"));
    }
    let what = match c.get(*pos) {
        Some('"') => {
            *pos += 1;
            let mut lit = Vec::new();
            loop {
                match c.get(*pos) {
                    None => return Err(format!("unterminated literal in pattern at position {at}")),
                    Some('"') if c.get(*pos + 1) == Some(&'"') => {
                        lit.push('"');
                        *pos += 2;
                    }
                    Some('"') => {
                        *pos += 1;
                        break;
                    }
                    Some(&ch) => {
                        lit.push(ch);
                        *pos += 1;
                    }
                }
            }
            Code::Literal(lit)
        }
        Some('(') => {
            *pos += 1;
            let mut alts = vec![parse_seq(c, pos, true, depth + 1)?];
            while c.get(*pos) == Some(&',') {
                *pos += 1;
                alts.push(parse_seq(c, pos, true, depth + 1)?);
            }
            if c.get(*pos) != Some(&')') {
                return Err(format!("missing ')' in pattern alternation at position {at}"));
            }
            *pos += 1;
            Code::Alt(alts)
        }
        _ => {
            let mut classes = Vec::new();
            while let Some(&ch) = c.get(*pos) {
                let up = ch.to_ascii_uppercase();
                if matches!(up, 'A' | 'C' | 'E' | 'L' | 'N' | 'P' | 'U') {
                    classes.push(up);
                    *pos += 1;
                } else {
                    break;
                }
            }
            if classes.is_empty() {
                return Err(match c.get(*pos) {
                    Some(ch) => {
                        format!("unknown pattern code {ch:?} at position {} (use A, C, E, L, N, P, U)", *pos + 1)
                    }
                    None => format!("pattern count at position {at} has no code after it"),
                });
            }
            Code::Classes(classes)
        }
    };
    Ok(Atom { min, max, what })
}

fn class_matches(class: char, ch: char) -> bool {
    match class {
        'A' => ch.is_alphabetic(),
        'N' => ch.is_ascii_digit(),
        'U' => ch.is_uppercase(),
        'L' => ch.is_lowercase(),
        'P' => {
            (ch.is_ascii_punctuation() || ch == ' ') || (!ch.is_ascii() && !ch.is_alphanumeric() && !ch.is_control())
        }
        'C' => ch.is_control(),
        _ => true,
    }
}

/// Matches `atoms` against `s` from `at`; calls `k(end, budget)` for every way the sequence
/// can end and returns true as soon as `k` accepts.
fn match_seq(
    atoms: &[Atom],
    s: &[char],
    at: usize,
    budget: &mut usize,
    k: &mut dyn FnMut(usize, &mut usize) -> bool,
) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    let Some((atom, rest)) = atoms.split_first() else {
        return k(at, budget);
    };
    match_atom(atom, 0, s, at, budget, &mut |end, b| match_seq(rest, s, end, b, k))
}

/// Deepest recursion of alternation repetitions while matching (beyond it: no match).
const MAX_ALT_DEPTH: usize = 400;

/// Matches `atom` from `at` with every allowed repetition count (most first) and calls `k`
/// with each end. Character classes and literals are counted in a loop, so the recursion
/// depth does not grow with the length of the string.
fn match_atom(
    atom: &Atom,
    count: usize,
    s: &[char],
    at: usize,
    budget: &mut usize,
    k: &mut dyn FnMut(usize, &mut usize) -> bool,
) -> bool {
    let limit = atom.max.unwrap_or(usize::MAX);
    match &atom.what {
        Code::Classes(cl) => {
            let mut n = 0;
            while n < limit && at + n < s.len() && cl.iter().any(|&c| class_matches(c, s[at + n])) {
                n += 1;
            }
            try_counts(atom.min, n, budget, |take, b| k(at + take, b))
        }
        Code::Literal(lit) => {
            if lit.is_empty() {
                return k(at, budget);
            }
            let mut n = 0;
            while n < limit && s.get(at + n * lit.len()..at + (n + 1) * lit.len()) == Some(lit.as_slice()) {
                n += 1;
            }
            try_counts(atom.min, n, budget, |take, b| k(at + take * lit.len(), b))
        }
        Code::Alt(alts) => {
            if *budget == 0 || count > MAX_ALT_DEPTH {
                return false;
            }
            *budget -= 1;
            if count < limit {
                for alt in alts {
                    let found = match_seq(&alt.atoms, s, at, budget, &mut |end, b| {
                        // An empty repetition cannot make progress: only count it once.
                        end > at && match_atom(atom, count + 1, s, end, b, k)
                    });
                    if found {
                        return true;
                    }
                }
            }
            count >= atom.min && k(at, budget)
        }
    }
}

/// Calls `f` with `most`, `most - 1`, ... down to `least` repetitions until it accepts.
fn try_counts(least: usize, most: usize, budget: &mut usize, mut f: impl FnMut(usize, &mut usize) -> bool) -> bool {
    if most < least {
        return false;
    }
    for take in (least..=most).rev() {
        if *budget == 0 {
            return false;
        }
        *budget -= 1;
        if f(take, budget) {
            return true;
        }
    }
    false
}

/// SQL `LIKE`: `%` matches any run of characters, `_` exactly one. If the pattern ends with
/// `%%` and one more character, that character is the escape character (IRIS's `Like`
/// convention) and makes the following `%` or `_` literal.
pub fn like(s: &str, pattern: &str) -> bool {
    let mut pat: Vec<char> = pattern.chars().collect();
    let mut escape = None;
    let n = pat.len();
    if n >= 3 && pat[n - 3] == '%' && pat[n - 2] == '%' {
        escape = Some(pat[n - 1]);
        pat.truncate(n - 3);
    }
    #[derive(Clone, Copy, PartialEq)]
    enum T {
        Any,
        One,
        Lit(char),
    }
    let mut toks = Vec::new();
    let mut i = 0;
    while i < pat.len() {
        let c = pat[i];
        if Some(c) == escape && i + 1 < pat.len() {
            toks.push(T::Lit(pat[i + 1]));
            i += 2;
            continue;
        }
        toks.push(match c {
            '%' => T::Any,
            '_' => T::One,
            c => T::Lit(c),
        });
        i += 1;
    }
    let s: Vec<char> = s.chars().collect();
    // Classic wildcard matching with a single backtrack point: linear in practice.
    let (mut si, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match toks.get(ti) {
            Some(T::One) => {
                si += 1;
                ti += 1;
            }
            Some(T::Lit(c)) if *c == s[si] => {
                si += 1;
                ti += 1;
            }
            Some(T::Any) => {
                star = Some((ti, si));
                ti += 1;
            }
            _ => match star {
                Some((st, ss)) => {
                    ti = st + 1;
                    si = ss + 1;
                    star = Some((st, ss + 1));
                }
                None => return false,
            },
        }
    }
    toks[ti.min(toks.len())..].iter().all(|t| *t == T::Any)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(s: &str, p: &str) -> bool {
        Pattern::parse(p).unwrap().matches(s)
    }

    #[test]
    fn documented_examples_match() {
        assert!(m("123-ABCD", "3N1\"-\"4A"));
        assert!(m("9434765919", "10N"));
        assert!(!m("943476591", "10N"));
        assert!(m("YO1 7HH", "2A1N1\" \"1N2A"));
        assert!(m("2823-3", "1.5N1\"-\"1N"));
        assert!(!m("COMMENT", "1.5N1\"-\"1N"));
        assert!(m("ACC778899", "3A6N"));
        assert!(m("JACKSON", ".E1\"SON\""));
        assert!(!m("JACKSONS", ".E1\"SON\""));
        assert!(m("12", "1(2N,3A)"));
        assert!(m("abc", "1(2N,3A)"));
        assert!(!m("ab", "1(2N,3A)"));
        assert!(m("", ".N"));
        assert!(m("a1b2", ".AN"));
        assert!(m("ab", "2.A"));
        assert!(m("a-b", "1A1P1A"));
        assert!(m("AbC", "1U1L1U"));
    }

    #[test]
    fn malformed_patterns_are_rejected() {
        for p in ["", "N", "3X", "3\"a", "1(2N", "5.3N", "3N)"] {
            assert!(Pattern::parse(p).is_err(), "{p:?} should be rejected");
        }
    }

    #[test]
    fn pathological_patterns_stay_bounded() {
        let p = Pattern::parse(".E.E.E.E.E.E.E.E1\"X\"").unwrap();
        let s = "a".repeat(60);
        assert!(!p.matches(&s));
        let deep = "1(".repeat(40) + "N" + &")".repeat(40);
        assert!(Pattern::parse(&deep).is_err());
    }

    #[test]
    fn long_strings_match_without_deep_recursion() {
        let long = "x".repeat(200_000) + "SON";
        assert!(m(&long, ".E1\"SON\""));
        assert!(m(&"7".repeat(100_000), ".N"));
        assert!(!m(&("7".repeat(100_000) + "a"), ".N"));
    }

    #[test]
    fn like_wildcards() {
        assert!(like("O'BRIEN", "O%N"));
        assert!(!like("O'BRIEN", "_BRIEN"));
        assert!(like("XBRIEN", "_BRIEN"));
        assert!(like("JACKSON", "%SON"));
        assert!(like("", "%"));
        assert!(!like("abc", "ab"));
        assert!(like("50%", "50\\%%%\\"));
        assert!(!like("500", "50\\%%%\\"));
    }
}
