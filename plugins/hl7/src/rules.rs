//! Routing rules for `EnsLib.HL7.MsgRouter.RoutingEngine`.
//!
//! # File format
//! A YAML (or JSON) file named by the router's `BusinessRuleName` setting:
//!
//! ```yaml
//! rules:
//!   - name: ADT to PAS and archive
//!     when: MSH-9.1 = "ADT" and MSH-9.2 in ("A01", "A08")
//!     send:
//!       - target: PAS_Out
//!         transform: HIE.Example.NHSNumberNormaliser
//!       - Archive_Out              # a bare name is a target without transform
//!       - target: Urgent_Out
//!         priority: 1              # queue priority (IRIS: 1 highest, 6 ordinary)
//!     return: true                 # stop here (IRIS <return/>)
//!   - name: drop test patients
//!     when: PID-5.1 starts-with "TEST"
//!     delete: true                 # IRIS <delete/>: the message is Discarded
//! otherwise:                       # optional: when no rule matched
//!   send: [Unrouted_Out]
//! ```
//!
//! As in IRIS, every matching rule fires in order until one with `return`. A rule
//! without `when` always matches. `disabled: true` skips a rule.
//!
//! # Conditions
//! `operand op value`, combined with `and`, `or`, `not` and parentheses. Operands are HL7
//! paths (`PID-3.1`, `MSH-9.2`, `PID-3(2).1`, `OBX(2)-5`, IRIS-style `PID:3.1`) and the
//! header fields `Source` (the sending item), `DocType` (`ADT^A01`), `MessageType`
//! (MSH-9.1) and `TriggerEvent` (MSH-9.2). Operators: `=`, `!=`, `contains`,
//! `starts-with`, `ends-with`, `in ("a", "b")`, `not-in (...)`, and `exists` (no value).
//! Values are double-quoted strings or bare words. Comparisons are exact (case-sensitive).

use hie_plugin_api::hl7;
use yaml_rust2::{Yaml, YamlLoader};

/// Where a value comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    /// An HL7 path into the body.
    Path(hl7::Path),
    /// The sending item.
    Source,
    /// `code^event`.
    DocType,
    /// MSH-9.1.
    MessageType,
    /// MSH-9.2.
    TriggerEvent,
}

/// A comparison operator.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Equal.
    Eq(String),
    /// Not equal.
    Ne(String),
    /// Contains the text.
    Contains(String),
    /// Starts with the text.
    StartsWith(String),
    /// Ends with the text.
    EndsWith(String),
    /// One of the values.
    In(Vec<String>),
    /// None of the values.
    NotIn(Vec<String>),
    /// Present and not empty.
    Exists,
}

/// A condition expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// Always true (no `when`).
    Always,
    /// One comparison.
    Compare(Operand, Op),
    /// Both.
    And(Box<Condition>, Box<Condition>),
    /// Either.
    Or(Box<Condition>, Box<Condition>),
    /// Negation.
    Not(Box<Condition>),
}

/// A send action.
#[derive(Clone, Debug, PartialEq)]
pub struct SendAction {
    /// Target item.
    pub target: String,
    /// Transform class, if any.
    pub transform: Option<String>,
    /// Queue priority for the sent message (IRIS 1 = highest .. 6), if set.
    pub priority: Option<u8>,
}

/// One rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// Name for logs (or `rule N`).
    pub name: String,
    /// When it fires.
    pub when: Condition,
    /// Where to send.
    pub send: Vec<SendAction>,
    /// Discard the message.
    pub delete: bool,
    /// Stop after this rule.
    pub stop: bool,
}

/// A whole rules file.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RuleSet {
    /// Rules in order.
    pub rules: Vec<Rule>,
    /// What happens when nothing matched.
    pub otherwise: Option<Rule>,
}

/// The decision for one message.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Decision {
    /// Sends, in order.
    pub sends: Vec<SendAction>,
    /// Whether a rule deleted the message.
    pub delete: bool,
    /// Names of the rules that fired.
    pub fired: Vec<String>,
}

/// What a condition is evaluated against.
pub struct Facts<'a> {
    /// The parsed message.
    pub message: &'a hl7::Message<'a>,
    /// The sending item.
    pub source: &'a str,
}

impl RuleSet {
    /// Parses a rules file's text.
    pub fn parse(text: &str) -> Result<RuleSet, String> {
        let docs = YamlLoader::load_from_str(text).map_err(|e| format!("YAML syntax error: {e}"))?;
        let Some(doc) = docs.into_iter().next() else { return Ok(RuleSet::default()) };
        let Yaml::Hash(top) = &doc else { return Err("the rules file must be a mapping with `rules:`".into()) };
        for k in top.keys() {
            let key = k.as_str().unwrap_or("");
            if key != "rules" && key != "otherwise" {
                return Err(format!("unknown key {key:?} at the top of the rules file (expected rules, otherwise)"));
            }
        }
        let mut set = RuleSet::default();
        if let Some(rules) = doc["rules"].as_vec() {
            for (i, r) in rules.iter().enumerate() {
                set.rules.push(parse_rule(r, i + 1)?);
            }
        } else if !doc["rules"].is_badvalue() {
            return Err("`rules` must be a list".into());
        }
        if !doc["otherwise"].is_badvalue() {
            let mut r = parse_rule(&doc["otherwise"], 0)?;
            r.name = "otherwise".into();
            set.otherwise = Some(r);
        }
        Ok(set)
    }

    /// Every target named anywhere, for checking against the production.
    pub fn targets(&self) -> Vec<&str> {
        self.rules.iter().chain(self.otherwise.iter()).flat_map(|r| r.send.iter().map(|s| s.target.as_str())).collect()
    }

    /// Every transform class named anywhere.
    pub fn transforms(&self) -> Vec<&str> {
        self.rules
            .iter()
            .chain(self.otherwise.iter())
            .flat_map(|r| r.send.iter().filter_map(|s| s.transform.as_deref()))
            .collect()
    }

    /// Evaluates the rules for one message.
    pub fn decide(&self, facts: &Facts<'_>) -> Decision {
        let mut d = Decision::default();
        for rule in &self.rules {
            if rule.when.eval(facts) {
                d.fired.push(rule.name.clone());
                d.sends.extend(rule.send.iter().cloned());
                d.delete |= rule.delete;
                if rule.stop || rule.delete {
                    return d;
                }
            }
        }
        if d.fired.is_empty()
            && let Some(o) = &self.otherwise
        {
            d.fired.push(o.name.clone());
            d.sends.extend(o.send.iter().cloned());
            d.delete |= o.delete;
        }
        d
    }
}

fn parse_rule(y: &Yaml, n: usize) -> Result<Rule, String> {
    let Yaml::Hash(h) = y else { return Err(format!("rule {n} must be a mapping")) };
    let name = y["name"].as_str().map(str::to_string).unwrap_or_else(|| format!("rule {n}"));
    let at = |m: String| format!("rule {n} ({name}): {m}");
    for k in h.keys() {
        let key = k.as_str().unwrap_or("");
        if !["name", "when", "send", "delete", "return", "disabled"].contains(&key) {
            return Err(at(format!("unknown key {key:?} (expected name, when, send, delete, return, disabled)")));
        }
    }
    if y["disabled"].as_bool() == Some(true) {
        return Ok(Rule {
            name,
            when: Condition::Not(Box::new(Condition::Always)),
            send: vec![],
            delete: false,
            stop: false,
        });
    }
    let when = match &y["when"] {
        Yaml::BadValue | Yaml::Null => Condition::Always,
        Yaml::String(s) => parse_condition(s).map_err(|e| at(format!("when: {e}")))?,
        Yaml::Boolean(true) => Condition::Always,
        other => return Err(at(format!("when must be a condition string, got {other:?}"))),
    };
    let mut send = Vec::new();
    let items: Vec<Yaml> = match &y["send"] {
        Yaml::BadValue | Yaml::Null => vec![],
        Yaml::Array(a) => a.clone(),
        one => vec![one.clone()],
    };
    for s in items {
        match &s {
            Yaml::String(t) => {
                for t in t.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    send.push(SendAction { target: t.to_string(), transform: None, priority: None });
                }
            }
            Yaml::Hash(_) => {
                let target = s["target"].as_str().ok_or_else(|| at("send entry needs `target`".into()))?;
                let transform = s["transform"].as_str().map(str::to_string).filter(|t| !t.is_empty());
                let priority = match &s["priority"] {
                    Yaml::BadValue | Yaml::Null => None,
                    Yaml::Integer(p) if (1..=9).contains(p) => Some(*p as u8),
                    other => {
                        return Err(at(format!("send priority must be a number 1-9 (1 = highest), got {other:?}")));
                    }
                };
                for t in target.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    send.push(SendAction { target: t.to_string(), transform: transform.clone(), priority });
                }
            }
            other => return Err(at(format!("send entries are target names or {{target, transform}}, got {other:?}"))),
        }
    }
    Ok(Rule {
        name,
        when,
        send,
        delete: y["delete"].as_bool().unwrap_or(false),
        stop: y["return"].as_bool().unwrap_or(false),
    })
}

/// A token of the condition language.
#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    LParen,
    RParen,
    Comma,
    Eq,
    Ne,
}

fn tokenize(s: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Token::LParen);
                i += 1;
            }
            ')' => {
                out.push(Token::RParen);
                i += 1;
            }
            ',' => {
                out.push(Token::Comma);
                i += 1;
            }
            '=' => {
                out.push(Token::Eq);
                i += if chars.get(i + 1) == Some(&'=') { 2 } else { 1 };
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                out.push(Token::Ne);
                i += 2;
            }
            '"' | '\'' => {
                let quote = c;
                let mut v = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(format!("unterminated string starting at column {}", i + 1)),
                        Some('\\') if chars.get(i + 1).is_some() => {
                            v.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(&ch) if ch == quote => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            v.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push(Token::Str(v));
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !" \t\n\r(),=\"'".contains(chars[i])
                    && !(chars[i] == '!' && chars.get(i + 1) == Some(&'='))
                {
                    // `PID-3(2).1` and `OBX(2)-5` keep their parentheses.
                    i += 1;
                    if i < chars.len() && chars[i] == '(' && looks_like_path(&chars[start..i]) {
                        while i < chars.len() && chars[i] != ')' {
                            i += 1;
                        }
                        i += 1;
                    }
                }
                out.push(Token::Word(chars[start..i.min(chars.len())].iter().collect()));
            }
        }
    }
    Ok(out)
}

/// Whether the text so far is the start of an HL7 path (segment name, maybe `-field`).
fn looks_like_path(s: &[char]) -> bool {
    s.len() >= 3 && s[..3].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) && s[0].is_ascii_uppercase()
}

/// Parses a condition string.
pub fn parse_condition(s: &str) -> Result<Condition, String> {
    let tokens = tokenize(s)?;
    let mut p = Parser { tokens, pos: 0 };
    let c = p.or()?;
    if p.pos < p.tokens.len() {
        return Err(format!("unexpected {:?} after the condition", p.tokens[p.pos]));
    }
    Ok(c)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek_word(&self) -> Option<String> {
        match self.tokens.get(self.pos) {
            Some(Token::Word(w)) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn or(&mut self) -> Result<Condition, String> {
        let mut left = self.and()?;
        while self.peek_word().as_deref() == Some("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Condition::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Condition, String> {
        let mut left = self.not()?;
        while self.peek_word().as_deref() == Some("and") {
            self.pos += 1;
            let right = self.not()?;
            left = Condition::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Condition, String> {
        if self.peek_word().as_deref() == Some("not") {
            self.pos += 1;
            return Ok(Condition::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Condition, String> {
        match self.tokens.get(self.pos).cloned() {
            Some(Token::LParen) => {
                self.pos += 1;
                let c = self.or()?;
                match self.tokens.get(self.pos) {
                    Some(Token::RParen) => {
                        self.pos += 1;
                        Ok(c)
                    }
                    _ => Err("missing ')'".into()),
                }
            }
            Some(Token::Word(w)) => {
                self.pos += 1;
                let operand = operand(&w)?;
                let op = self.operator()?;
                Ok(Condition::Compare(operand, op))
            }
            Some(t) => Err(format!("expected a field or '(' but found {t:?}")),
            None => Err("the condition is empty or ends too early".into()),
        }
    }

    fn value(&mut self) -> Result<String, String> {
        match self.tokens.get(self.pos).cloned() {
            Some(Token::Str(s)) | Some(Token::Word(s)) => {
                self.pos += 1;
                Ok(s)
            }
            other => Err(format!("expected a value but found {other:?}")),
        }
    }

    fn list(&mut self) -> Result<Vec<String>, String> {
        if self.tokens.get(self.pos) != Some(&Token::LParen) {
            return Err("`in` needs a list like (\"A01\", \"A08\")".into());
        }
        self.pos += 1;
        let mut out = vec![self.value()?];
        loop {
            match self.tokens.get(self.pos) {
                Some(Token::Comma) => {
                    self.pos += 1;
                    out.push(self.value()?);
                }
                Some(Token::RParen) => {
                    self.pos += 1;
                    return Ok(out);
                }
                _ => return Err("unterminated list: expected ',' or ')'".into()),
            }
        }
    }

    fn operator(&mut self) -> Result<Op, String> {
        let tok = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        match tok {
            Some(Token::Eq) => Ok(Op::Eq(self.value()?)),
            Some(Token::Ne) => Ok(Op::Ne(self.value()?)),
            Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "contains" => Ok(Op::Contains(self.value()?)),
                "starts-with" | "startswith" => Ok(Op::StartsWith(self.value()?)),
                "ends-with" | "endswith" => Ok(Op::EndsWith(self.value()?)),
                "in" => Ok(Op::In(self.list()?)),
                "not-in" => Ok(Op::NotIn(self.list()?)),
                "exists" => Ok(Op::Exists),
                other => Err(format!(
                    "unknown operator {other:?} (use =, !=, contains, starts-with, ends-with, in, not-in, exists)"
                )),
            },
            other => Err(format!("expected an operator but found {other:?}")),
        }
    }
}

fn operand(w: &str) -> Result<Operand, String> {
    match w.to_ascii_lowercase().as_str() {
        "source" => return Ok(Operand::Source),
        "doctype" => return Ok(Operand::DocType),
        "messagetype" => return Ok(Operand::MessageType),
        "triggerevent" => return Ok(Operand::TriggerEvent),
        _ => {}
    }
    w.parse::<hl7::Path>()
        .map(Operand::Path)
        .map_err(|e| format!("{w:?} is neither an HL7 path nor Source/DocType/MessageType/TriggerEvent ({e})"))
}

impl Condition {
    /// Evaluates against a message.
    pub fn eval(&self, f: &Facts<'_>) -> bool {
        match self {
            Condition::Always => true,
            Condition::And(a, b) => a.eval(f) && b.eval(f),
            Condition::Or(a, b) => a.eval(f) || b.eval(f),
            Condition::Not(a) => !a.eval(f),
            Condition::Compare(operand, op) => {
                let value: Option<String> = match operand {
                    Operand::Path(p) => f.message.value(p).map(|v| v.into_owned()),
                    Operand::Source => Some(f.source.to_string()),
                    Operand::DocType => f.message.message_type().map(|v| v.into_owned()),
                    Operand::MessageType => f.message.message_code().map(str::to_string),
                    Operand::TriggerEvent => f.message.trigger_event().map(str::to_string),
                };
                let v = value.unwrap_or_default();
                match op {
                    Op::Eq(x) => &v == x,
                    Op::Ne(x) => &v != x,
                    Op::Contains(x) => v.contains(x.as_str()),
                    Op::StartsWith(x) => v.starts_with(x.as_str()),
                    Op::EndsWith(x) => v.ends_with(x.as_str()),
                    Op::In(list) => list.iter().any(|x| x == &v),
                    Op::NotIn(list) => !list.iter().any(|x| x == &v),
                    Op::Exists => !v.is_empty(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADT: &[u8] = b"MSH|^~\\&|PAS|RXX|EPR|RXX|20260101||ADT^A01^ADT_A01|1|P|2.4\rPID|1||123^^^RXX^MR~9434765919^^^NHS^NH||TEST^Alice\r";

    fn decide(rules: &str, source: &str) -> Decision {
        let set = RuleSet::parse(rules).unwrap();
        let m = hl7::parse(ADT).unwrap();
        set.decide(&Facts { message: &m, source })
    }

    #[test]
    fn conditions_on_paths_and_header_fields_combine_with_and_or_not() {
        let d = decide(
            r#"
rules:
  - name: adt
    when: MSH-9.1 = "ADT" and MSH-9.2 in ("A01", "A08") and not Source = "Lab"
    send: [A]
  - when: PID-3(2).1 starts-with "943" or PID-5.1 contains "nope"
    send: B, C
"#,
            "PAS",
        );
        let targets: Vec<_> = d.sends.iter().map(|s| s.target.as_str()).collect();
        assert_eq!(targets, vec!["A", "B", "C"]);
        assert_eq!(d.fired.len(), 2);
    }

    #[test]
    fn return_stops_and_delete_discards() {
        let d =
            decide("rules:\n  - when: DocType = \"ADT^A01\"\n    send: [A]\n    return: true\n  - send: [B]\n", "x");
        assert_eq!(d.sends.len(), 1);
        let d = decide("rules:\n  - when: PID-5.1 starts-with TEST\n    delete: true\n  - send: [B]\n", "x");
        assert!(d.delete);
        assert!(d.sends.is_empty());
    }

    #[test]
    fn otherwise_fires_only_when_nothing_matched() {
        let d = decide("rules:\n  - when: MSH-9.1 = ORU\n    send: [A]\notherwise:\n  send: [Unrouted]\n", "x");
        assert_eq!(d.sends[0].target, "Unrouted");
    }

    #[test]
    fn transforms_are_kept_with_their_targets() {
        let d = decide("rules:\n  - send:\n      - target: A\n        transform: HIE.Example.T\n      - B\n", "x");
        assert_eq!(d.sends[0].transform.as_deref(), Some("HIE.Example.T"));
        assert_eq!(d.sends[1].transform, None);
    }

    #[test]
    fn mistakes_are_reported_with_the_rule() {
        let e = RuleSet::parse("rules:\n  - name: x\n    when: MSH-9.1 ~ ADT\n").unwrap_err();
        assert!(e.contains("rule 1 (x)"), "{e}");
        let e = RuleSet::parse("rules:\n  - when: PID-5.1 = \"A\" andd x\n").unwrap_err();
        assert!(e.contains("rule 1"), "{e}");
        let e = RuleSet::parse("rules:\n  - sned: [A]\n").unwrap_err();
        assert!(e.contains("unknown key"), "{e}");
    }
}
