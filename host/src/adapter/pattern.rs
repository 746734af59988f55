//! IRIS's file name patterns (`FileSpec`) and OpenSSH's host patterns: `*` is any run of
//! characters, `?` any one. One matcher for the file and FTP pollers and SFTP's
//! known_hosts.

/// Whether `name` matches `pattern` (`*` and `?` wildcards; case as given).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn stars_match_any_run_and_question_marks_one_character() {
        assert!(glob_match("a*b*c", "aXbYbZc") && !glob_match("a*b*c", "aXbYbZ") && glob_match("*", ""));
        assert!(glob_match("adt_??.hl7", "adt_01.hl7") && !glob_match("adt_??.hl7", "adt_1.hl7"));
    }
}
