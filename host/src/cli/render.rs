//! How messages look to a person: search results as a table, one message as a header
//! block and its body a segment per line, a session as a tree.

use super::table::Table;
use super::units;
use serde_json::Value;

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_default()
}

fn or_dash(text: &str) -> String {
    if text.is_empty() { "-".into() } else { text.to_string() }
}

/// HL7 text with one segment per line: CR (and CR LF) become newlines.
pub fn segments(body: &str) -> String {
    let text = body.replace("\r\n", "\n").replace('\r', "\n");
    text.trim_end_matches('\n').to_string()
}

/// The IRIS name of a priority.
fn priority_name(p: u64) -> &'static str {
    match p {
        1 => "HighSync",
        2 => "Sync",
        4 => "SimSync",
        6 => "Async",
        _ => "",
    }
}

/// Search results (the `messages` of `GET /api/messages`) as a table.
pub fn search_table(messages: &[Value]) -> Table {
    let now = units::now_us();
    let mut t =
        Table::new(&["ID", "CREATED", "AGE", "SOURCE", "TARGET", "TYPE", "CONTROL ID", "STATUS", "SESSION", "NOTE"])
            .right(&[0, 8])
            .max_width(3, 28)
            .max_width(4, 28)
            .max_width(6, 24)
            .max_width(9, 50);
    for m in messages {
        let created = m["created_us"].as_i64().unwrap_or(0);
        t.row(vec![
            m["id"].to_string(),
            units::local_time(created),
            units::ago(created, now),
            or_dash(s(m, "source")),
            or_dash(s(m, "target")),
            or_dash(s(m, "doc_type")),
            or_dash(s(m, "control_id")),
            or_dash(s(m, "status")),
            m["session_id"].to_string(),
            s(m, "note").to_string(),
        ]);
    }
    t
}

/// One message (`GET /api/messages/{id}`): a header block, then the body and the reply
/// with a segment per line.
pub fn message(m: &Value) -> String {
    let now = units::now_us();
    let mut block = Table::new(&["", ""]).without_header();
    let mut field = |k: &str, v: String| {
        if !v.is_empty() {
            block.row(vec![k.to_string(), v]);
        }
    };
    let status = match s(m, "note") {
        "" => s(m, "status").to_string(),
        note => format!("{} ({note})", s(m, "status")),
    };
    field("Status", status);
    field("Session", m["session_id"].to_string());
    field("Source", or_dash(s(m, "source")));
    field("Target", or_dash(s(m, "target")));
    field("Type", or_dash(s(m, "doc_type")));
    field("Control ID", or_dash(s(m, "control_id")));
    let p = m["priority"].as_u64().unwrap_or(0);
    field("Priority", format!("{p} {}", priority_name(p)).trim_end().to_string());
    let created = m["created_us"].as_i64().unwrap_or(0);
    field("Created", format!("{} ({})", units::local_time(created), units::ago(created, now)));
    if let Some(done) = m["processed_us"].as_i64() {
        let took = units::duration_ms((done - created) as f64 / 1000.0);
        field("Processed", format!("{} (after {took})", units::local_time(done)));
    }
    for (k, label) in [("correlation_id", "Correlation"), ("causation_id", "Caused by")] {
        if let Some(id) = m[k].as_u64().filter(|id| *id != 0) {
            field(label, id.to_string());
        }
    }
    field("Ordering key", s(m, "ordering_key").to_string());
    let attrs: Vec<String> = m["attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| Some(format!("{}={}", a.get(0)?.as_str()?, a.get(1)?.as_str()?)))
        .collect();
    field("Attributes", attrs.join(", "));
    let mut out = format!("Message {}\n", m["id"]);
    for line in block.render_to(None).lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    match m["body"].as_str() {
        Some(body) => {
            let size = m["body_size"].as_u64().unwrap_or(body.len() as u64);
            out.push_str(&format!("\nBody ({}):\n{}\n", units::size(size), segments(body)));
        }
        None => out.push_str("\nBody: (not stored)\n"),
    }
    if let Some(reply) = m["reply"].as_str() {
        out.push_str(&format!("\nReply ({}):\n{}\n", units::size(reply.len() as u64), segments(reply)));
    }
    out
}

/// A session (`GET /api/sessions/{id}`) as a tree: each message under the one whose
/// processing caused it, with item names, status and times.
pub fn session(v: &Value) -> String {
    let mut t = Table::new(&["MESSAGE", "KIND", "STATUS", "TYPE", "CONTROL ID", "CREATED", "TOOK", "NOTE"])
        .max_width(0, 72)
        .max_width(7, 50);
    fn walk(t: &mut Table, nodes: &[Value], lead: &str, root: bool) {
        for (i, n) in nodes.iter().enumerate() {
            let last = i + 1 == nodes.len();
            let (branch, next) = match (root, last) {
                (true, _) => ("", String::new()),
                (false, true) => ("└── ", format!("{lead}    ")),
                (false, false) => ("├── ", format!("{lead}│   ")),
            };
            let created = n["created_us"].as_i64().unwrap_or(0);
            t.row(vec![
                format!("{lead}{branch}{} {} → {}", n["id"], or_dash(s(n, "source")), or_dash(s(n, "target"))),
                s(n, "kind").to_string(),
                s(n, "status").to_string(),
                or_dash(s(n, "doc_type")),
                or_dash(s(n, "control_id")),
                units::clock_ms(created),
                n["elapsed_ms"].as_f64().map(units::duration_ms).unwrap_or_else(|| "-".into()),
                s(n, "note").to_string(),
            ]);
            let children = n["children"].as_array().map(Vec::as_slice).unwrap_or_default();
            walk(t, children, &next, false);
        }
    }
    let roots = v["tree"].as_array().map(Vec::as_slice).unwrap_or_default();
    walk(&mut t, roots, "", true);
    let mut out = format!(
        "Session {}: {} messages in {}\n",
        v["session_id"],
        v["count"],
        units::duration_ms(v["elapsed_ms"].as_f64().unwrap_or(0.0))
    );
    out.push_str(&t.render());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_go_on_their_own_lines() {
        assert_eq!(segments("MSH|a\rPID|b\r"), "MSH|a\nPID|b");
        assert_eq!(segments("MSH|a\r\nPID|b"), "MSH|a\nPID|b");
    }

    #[test]
    fn a_session_prints_as_a_tree_under_its_causes() {
        let v = serde_json::json!({
            "session_id": 1, "count": 3, "elapsed_ms": 2.0,
            "tree": [{"id": 1, "kind": "request", "source": "In", "target": "Router", "status": "Completed",
                "created_us": 1, "children": [
                    {"id": 2, "kind": "request", "source": "Router", "target": "A", "status": "Completed", "created_us": 2, "children": []},
                    {"id": 3, "kind": "request", "source": "Router", "target": "B", "status": "Error", "created_us": 3, "children": []}]}]
        });
        let text = session(&v);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[2].starts_with("1 In → Router"), "{text}");
        assert!(lines[3].starts_with("├── 2 Router → A"), "{text}");
        assert!(lines[4].starts_with("└── 3 Router → B"), "{text}");
    }
}
