//! The function library: Ens.Util.FunctionSet functions (called by bare name in rules and as
//! `..Name` in DTL) and the ObjectScript intrinsics DTLs may use (`$PIECE`, `$EXTRACT`, ...).
//!
//! # Invariants
//!
//! - Every function has a fixed arity range ([`Func::arity`]); the compilers reject calls
//!   outside it, so [`apply`] can read its arguments by position with defaults for omitted
//!   trailing ones.
//! - Literal arguments whose syntax can be checked (patterns, `$ZSTRIP` masks, date formats,
//!   regular expressions) are checked at load time by [`check_literals`].
//! - Boolean results are `1` or `0`; numeric results are canonical numbers.

use regex_automata::meta::Regex;

use crate::datetime;
use crate::env::Services;
use crate::error::EvalError;
use crate::lookup;
use crate::num::{Num, bool_str, num, truthy};
use crate::pattern::{Pattern, like};
use crate::strings;

macro_rules! funcs {
    ($( $v:ident = $name:literal ($min:literal, $max:literal) ),* $(,)?) => {
        /// A callable function.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Func {
            $(
                #[doc = concat!("`", $name, "`")]
                $v,
            )*
        }

        const TABLE: &[(Func, &str, usize, usize)] = &[$( (Func::$v, $name, $min, $max) ),*];
    };
}

funcs! {
    Contains = "Contains" (2, 2),
    DoesNotContain = "DoesNotContain" (2, 2),
    StartsWith = "StartsWith" (2, 2),
    DoesNotStartWith = "DoesNotStartWith" (2, 2),
    In = "In" (2, 2),
    NotIn = "NotIn" (2, 2),
    InFile = "InFile" (2, 2),
    NotInFile = "NotInFile" (2, 2),
    InFileColumn = "InFileColumn" (2, 8),
    IntersectsList = "IntersectsList" (2, 4),
    DoesNotIntersectList = "DoesNotIntersectList" (2, 4),
    Matches = "Matches" (2, 2),
    DoesNotMatch = "DoesNotMatch" (2, 2),
    Like = "Like" (2, 2),
    NotLike = "NotLike" (2, 2),
    RegexMatch = "RegexMatch" (2, 2),
    Exists = "Exists" (2, 2),
    Lookup = "Lookup" (2, 4),
    If = "If" (2, 3),
    Not = "Not" (1, 1),
    Length = "Length" (1, 2),
    Piece = "Piece" (1, 4),
    SubString = "SubString" (2, 3),
    ReplaceStr = "ReplaceStr" (3, 3),
    Replace = "Replace" (3, 3),
    Translate = "Translate" (2, 3),
    Strip = "Strip" (2, 4),
    Pad = "Pad" (2, 3),
    ToUpper = "ToUpper" (1, 1),
    ToLower = "ToLower" (1, 1),
    Round = "Round" (1, 2),
    Min = "Min" (1, 8),
    Max = "Max" (1, 8),
    CurrentDateTime = "CurrentDateTime" (0, 1),
    ConvertDateTime = "ConvertDateTime" (1, 4),
    ZPiece = "$PIECE" (2, 4),
    ZExtract = "$EXTRACT" (1, 3),
    ZLength = "$LENGTH" (1, 2),
    ZTranslate = "$TRANSLATE" (2, 3),
    ZConvert = "$ZCONVERT" (2, 2),
    ZChar = "$CHAR" (1, 16),
    ZReplace = "$REPLACE" (3, 3),
    ZStrip = "$ZSTRIP" (2, 4),
}

/// Abbreviations of the supported intrinsics.
const INTRINSIC_ALIASES: &[(&str, Func)] = &[
    ("$P", Func::ZPiece),
    ("$E", Func::ZExtract),
    ("$L", Func::ZLength),
    ("$TR", Func::ZTranslate),
    ("$ZCVT", Func::ZConvert),
    ("$C", Func::ZChar),
];

impl Func {
    /// The function-set function called `name` (case-insensitive), without intrinsics.
    pub fn from_name(name: &str) -> Option<Func> {
        TABLE.iter().find(|(_, n, _, _)| !n.starts_with('$') && n.eq_ignore_ascii_case(name)).map(|(f, ..)| *f)
    }

    /// The intrinsic called `name` (`$PIECE`, `$P`, ..., case-insensitive).
    pub fn from_intrinsic(name: &str) -> Option<Func> {
        let full =
            TABLE.iter().find(|(_, n, _, _)| n.starts_with('$') && n.eq_ignore_ascii_case(name)).map(|(f, ..)| *f);
        full.or_else(|| INTRINSIC_ALIASES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, f)| *f))
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        TABLE.iter().find(|(f, ..)| *f == self).map_or("?", |(_, n, _, _)| n)
    }

    /// Minimum and maximum number of arguments.
    pub fn arity(self) -> (usize, usize) {
        TABLE.iter().find(|(f, ..)| *f == self).map_or((0, 0), |(_, _, a, b)| (*a, *b))
    }

    /// The argument positions (0-based) holding a pattern, mask, format or regex, with how
    /// to check a literal there.
    fn literal_checks(self) -> &'static [(usize, Check)] {
        match self {
            Func::Matches | Func::DoesNotMatch => &[(1, Check::Pattern)],
            Func::RegexMatch => &[(1, Check::Regex)],
            Func::Strip | Func::ZStrip => &[(1, Check::Mask)],
            Func::CurrentDateTime => &[(0, Check::Format)],
            Func::ConvertDateTime => &[(1, Check::Format), (2, Check::OutFormat)],
            _ => &[],
        }
    }
}

#[derive(Clone, Copy)]
enum Check {
    Pattern,
    Regex,
    Mask,
    Format,
    OutFormat,
}

/// Checks the literal arguments of a call (`None` = not a literal) at load time.
pub fn check_literals(f: Func, args: &[Option<&str>]) -> Result<(), String> {
    for (i, check) in f.literal_checks() {
        let Some(Some(lit)) = args.get(*i) else { continue };
        match check {
            Check::Pattern => Pattern::parse(lit).map(|_| ())?,
            Check::Regex => {
                Regex::new(lit).map(|_| ()).map_err(|e| format!("invalid regular expression {lit:?}: {e}"))?
            }
            Check::Mask => strings::check_strip_mask(lit)?,
            Check::Format => datetime::check_format(lit, false)?,
            Check::OutFormat => datetime::check_format(lit, true)?,
        }
    }
    Ok(())
}

fn arg(args: &[Option<String>], i: usize) -> Option<&str> {
    args.get(i).and_then(|a| a.as_deref())
}

fn arg_or<'a>(args: &'a [Option<String>], i: usize, default: &'a str) -> &'a str {
    arg(args, i).unwrap_or(default)
}

fn int(s: &str) -> i64 {
    num(s).to_i64()
}

fn pattern_match(val: &str, pat: &str) -> Result<bool, EvalError> {
    let p = Pattern::parse(pat).map_err(|message| EvalError::Pattern { pattern: pat.to_owned(), message })?;
    Ok(p.matches(val))
}

fn regex_match(val: &str, re: &str) -> Result<bool, EvalError> {
    let r = Regex::new(&format!("^(?:{re})$"))
        .map_err(|e| EvalError::Pattern { pattern: re.to_owned(), message: e.to_string() })?;
    Ok(r.is_match(val))
}

/// `InFileColumn(val, file, columnId, rowSeparator, columnSeparator, columnWidth,
/// lineComment, stripPadChars)`.
fn in_file_column(args: &[Option<String>], svc: &Services<'_>) -> Result<bool, EvalError> {
    let val = arg_or(args, 0, "");
    let file = arg_or(args, 1, "");
    let column = int(arg_or(args, 2, "1")).max(1);
    let row_sep = arg_or(args, 3, "\n");
    let col_sep = arg_or(args, 4, "\t");
    let width = int(arg_or(args, 5, "0"));
    let comment = arg_or(args, 6, "");
    let pad = arg_or(args, 7, " \t");
    let text = svc.files.read(file).map_err(|message| EvalError::File { path: file.to_owned(), message })?;
    let rows: Vec<String> = if num(row_sep) < Num::ZERO && Num::is_canonical(row_sep) {
        let len = usize::try_from(int(row_sep).checked_neg().unwrap_or(i64::MAX).max(1)).unwrap_or(usize::MAX);
        let chars: Vec<char> = text.chars().collect();
        chars.chunks(len).map(|c| c.iter().collect()).collect()
    } else {
        text.split(row_sep).map(str::to_owned).collect()
    };
    for row in rows {
        let row = row.strip_suffix('\r').unwrap_or(&row);
        if !comment.is_empty() && row.starts_with(comment) {
            continue;
        }
        let cell = if col_sep == "0" {
            let w = if width > 0 { width } else { i64::MAX / 2 };
            strings::extract(row, column, column.saturating_add(w - 1))
        } else if col_sep.is_empty() {
            row.to_owned()
        } else {
            strings::piece(row, col_sep, column, column)
        };
        let cell = cell.trim_matches(|c: char| pad.contains(c));
        if cell == val {
            return Ok(true);
        }
    }
    Ok(false)
}

fn min_max(args: &[Option<String>], want_max: bool) -> String {
    let mut best: Option<Num> = None;
    for a in args.iter().flatten().filter(|a| !a.is_empty()) {
        let n = num(a);
        best = Some(match best {
            None => n,
            Some(b) if (want_max && n > b) || (!want_max && n < b) => n,
            Some(b) => b,
        });
    }
    best.map(|n| n.to_string()).unwrap_or_default()
}

fn zconvert(s: &str, mode: &str) -> Result<String, EvalError> {
    Ok(match mode.to_ascii_uppercase().as_str() {
        "U" => s.to_uppercase(),
        "L" => s.to_lowercase(),
        "W" | "T" => {
            let mut out = String::new();
            let mut start = true;
            for c in s.chars() {
                if start {
                    out.extend(c.to_uppercase())
                } else {
                    out.extend(c.to_lowercase())
                }
                start = c.is_whitespace();
            }
            out
        }
        "S" => {
            let mut out = String::new();
            let mut start = true;
            for c in s.chars() {
                if start && c.is_alphabetic() {
                    out.extend(c.to_uppercase());
                    start = false;
                } else {
                    out.extend(c.to_lowercase());
                }
                if matches!(c, '.' | '!' | '?') {
                    start = true;
                }
            }
            out
        }
        other => return Err(EvalError::Other(format!("$ZCONVERT mode {other:?} is not supported (U, L, W, S, T)"))),
    })
}

/// Calls `f` with evaluated arguments (`None` for an omitted argument, which takes its
/// default).
pub fn apply(f: Func, args: &[Option<String>], svc: &Services<'_>) -> Result<String, EvalError> {
    let a = |i: usize| arg_or(args, i, "");
    let b = bool_str;
    Ok(match f {
        Func::Contains => b(a(0).contains(a(1))),
        Func::DoesNotContain => b(!a(0).contains(a(1))),
        Func::StartsWith => b(a(0).starts_with(a(1))),
        Func::DoesNotStartWith => b(!a(0).starts_with(a(1))),
        Func::In => b(strings::in_list(a(0), a(1))),
        Func::NotIn => b(!strings::in_list(a(0), a(1))),
        Func::InFile => b(in_file_column(&args[..args.len().min(2)], svc)?),
        Func::NotInFile => b(!in_file_column(&args[..args.len().min(2)], svc)?),
        Func::InFileColumn => b(in_file_column(args, svc)?),
        Func::IntersectsList => b(strings::intersects(a(0), a(1), arg_or(args, 2, "><"), arg_or(args, 3, "><"))),
        Func::DoesNotIntersectList => b(!strings::intersects(a(0), a(1), arg_or(args, 2, "><"), arg_or(args, 3, "><"))),
        Func::Matches => b(pattern_match(a(0), a(1))?),
        Func::DoesNotMatch => b(!pattern_match(a(0), a(1))?),
        Func::Like => b(like(a(0), a(1))),
        Func::NotLike => b(!like(a(0), a(1))),
        Func::RegexMatch => b(regex_match(a(0), a(1))?),
        Func::Exists => b(lookup::exists(svc.lookups, a(0), a(1))),
        Func::Lookup => lookup::lookup(svc.lookups, a(0), a(1), a(2), int(a(3))),
        Func::If => {
            if truthy(a(0)) {
                a(1).to_owned()
            } else {
                a(2).to_owned()
            }
        }
        Func::Not => b(!truthy(a(0))),
        Func::Length | Func::ZLength => match arg(args, 1) {
            Some(d) => strings::piece_count(a(0), d).to_string(),
            None => strings::char_len(a(0)).to_string(),
        },
        Func::Piece => {
            let from = int(arg_or(args, 2, "1"));
            let to = arg(args, 3).map_or(from, int);
            strings::piece(a(0), arg_or(args, 1, ","), from, to)
        }
        Func::ZPiece => {
            let from = int(arg_or(args, 2, "1"));
            let to = arg(args, 3).map_or(from, int);
            strings::piece(a(0), a(1), from, to)
        }
        Func::SubString => {
            let from = int(a(1));
            let to = arg(args, 2).map_or(i64::MAX, int);
            strings::extract(a(0), from, to)
        }
        Func::ZExtract => {
            let from = int(arg_or(args, 1, "1"));
            let to = arg(args, 2).map_or(from, int);
            strings::extract(a(0), from, to)
        }
        Func::ReplaceStr | Func::Replace | Func::ZReplace => {
            if a(1).is_empty() {
                a(0).to_owned()
            } else {
                a(0).replace(a(1), a(2))
            }
        }
        Func::Translate | Func::ZTranslate => strings::translate(a(0), a(1), a(2)),
        Func::Strip | Func::ZStrip => strings::zstrip(a(0), a(1), a(2), a(3)),
        Func::Pad => {
            let c = arg(args, 2).and_then(|s| s.chars().next()).unwrap_or(' ');
            strings::pad(a(0), int(a(1)), c)
        }
        Func::ToUpper => a(0).to_uppercase(),
        Func::ToLower => a(0).to_lowercase(),
        Func::Round => num(a(0)).round(i32::try_from(int(a(1))).unwrap_or(0).clamp(-40, 40)).to_string(),
        Func::Min => min_max(args, false),
        Func::Max => min_max(args, true),
        Func::CurrentDateTime => datetime::format(&svc.now.into(), arg_or(args, 0, "%Q"), ""),
        Func::ConvertDateTime => datetime::convert(a(0), arg_or(args, 1, "%Q"), arg_or(args, 2, "%Q"), a(3)),
        Func::ZConvert => zconvert(a(0), a(1))?,
        Func::ZChar => {
            args.iter().flatten().filter_map(|c| u32::try_from(int(c)).ok().and_then(char::from_u32)).collect()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::MemoryFiles;
    use crate::lookup::LookupTables;

    fn call(f: Func, args: &[&str]) -> String {
        let now = chrono::NaiveDate::from_ymd_opt(2024, 6, 1).and_then(|d| d.and_hms_opt(12, 0, 0)).unwrap();
        let mut files = MemoryFiles::new();
        files.insert("p.txt", "9999999999\n9434765918\n");
        let tables = LookupTables::new();
        let svc = Services { lookups: &tables, files: &files, now };
        let args: Vec<Option<String>> = args.iter().map(|s| Some(s.to_string())).collect();
        apply(f, &args, &svc).unwrap()
    }

    #[test]
    fn names_resolve_case_insensitively_and_endswith_is_unknown() {
        assert_eq!(Func::from_name("contains"), Some(Func::Contains));
        assert_eq!(Func::from_name("EndsWith"), None);
        assert_eq!(Func::from_name("$PIECE"), None);
        assert_eq!(Func::from_intrinsic("$p"), Some(Func::ZPiece));
        assert_eq!(Func::from_intrinsic("$ZDATE"), None);
    }

    #[test]
    fn documented_results() {
        assert_eq!(call(Func::Min, &["172", "68.5", "3a"]), "3");
        assert_eq!(call(Func::Max, &["4.1", "140", "112"]), "140");
        assert_eq!(call(Func::Min, &["139", "6.8", "140"]), "6.8");
        assert_eq!(call(Func::Round, &["24.5714"]), "25");
        assert_eq!(call(Func::InFile, &["9999999999", "p.txt"]), "1");
        assert_eq!(call(Func::InFile, &["9434765919", "p.txt"]), "0");
        assert_eq!(call(Func::CurrentDateTime, &["%Y%m%d%H%M%S"]), "20240601120000");
        assert_eq!(call(Func::CurrentDateTime, &[]), "2024-06-01 12:00:00.000");
        assert_eq!(call(Func::Length, &["O'BRIEN^MARY ANN^^^MRS", "^"]), "5");
        assert_eq!(call(Func::SubString, &["john", "2"]), "ohn");
        assert_eq!(call(Func::If, &["0", "a"]), "");
        assert_eq!(call(Func::RegexMatch, &["ABC123", "[A-Z]+[0-9]+"]), "1");
        assert_eq!(call(Func::RegexMatch, &["ABC123x", "[A-Z]+[0-9]+"]), "0");
        assert_eq!(call(Func::ZChar, &["65", "66"]), "AB");
        assert_eq!(call(Func::ZConvert, &["hello world", "W"]), "Hello World");
    }

    #[test]
    fn literal_arguments_are_checked() {
        assert!(check_literals(Func::Matches, &[None, Some("3N")]).is_ok());
        assert!(check_literals(Func::Matches, &[None, Some("3X")]).is_err());
        assert!(check_literals(Func::ConvertDateTime, &[None, Some("%Y"), Some("%Z")]).is_err());
        assert!(check_literals(Func::RegexMatch, &[None, Some("(")]).is_err());
        assert!(check_literals(Func::Strip, &[None, Some("W")]).is_err());
    }
}
