//! Plain-text tables: aligned columns, long text cut with an ellipsis, and the widest
//! column squeezed to fit the terminal.

/// How a column's cells line up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    /// Text: flush left.
    Left,
    /// Numbers: flush right.
    Right,
}

/// A table to print: a header row, then rows of cells.
#[derive(Debug)]
pub struct Table {
    headers: Vec<String>,
    align: Vec<Align>,
    max: Vec<usize>,
    rows: Vec<Vec<String>>,
    show_header: bool,
}

/// Cuts `text` to at most `width` characters, ending in `…` when cut. Line breaks and
/// tabs become spaces, so one cell stays on one line.
pub fn truncate(text: &str, width: usize) -> String {
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if clean.chars().count() <= width {
        return clean;
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = clean.chars().take(width - 1).collect();
    out.push('…');
    out
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

impl Table {
    /// A table with these column headers (all flush left, no width limit).
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            align: vec![Align::Left; headers.len()],
            max: vec![usize::MAX; headers.len()],
            rows: Vec::new(),
            show_header: true,
        }
    }

    /// Makes column `col` flush right (for numbers).
    pub fn right(mut self, cols: &[usize]) -> Table {
        for &c in cols {
            if let Some(a) = self.align.get_mut(c) {
                *a = Align::Right;
            }
        }
        self
    }

    /// Limits column `col` to `width` characters (longer cells end in `…`).
    pub fn max_width(mut self, col: usize, width: usize) -> Table {
        if let Some(m) = self.max.get_mut(col) {
            *m = width;
        }
        self
    }

    /// Leaves the header row out (for trees and key/value blocks).
    pub fn without_header(mut self) -> Table {
        self.show_header = false;
        self
    }

    /// Adds a row; missing cells are empty, extra cells are dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells = cells;
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    /// Column widths: the widest cell, within each column's limit, then the widest
    /// column shrunk (down to 8 characters) while the table is wider than `fit`.
    fn widths(&self, fit: Option<usize>) -> Vec<usize> {
        let n = self.headers.len();
        let mut w: Vec<usize> = (0..n)
            .map(|c| {
                let header = if self.show_header { chars(&self.headers[c]) } else { 0 };
                let widest = self.rows.iter().map(|r| chars(&r[c])).max().unwrap_or(0);
                header.max(widest).min(self.max[c].max(1))
            })
            .collect();
        if let Some(fit) = fit {
            let gaps = 2 * n.saturating_sub(1);
            while w.iter().sum::<usize>() + gaps > fit {
                let Some((c, &widest)) = w.iter().enumerate().max_by_key(|(_, w)| **w) else { break };
                if widest <= 8 {
                    break;
                }
                let over = w.iter().sum::<usize>() + gaps - fit;
                w[c] = widest.saturating_sub(over).max(8);
            }
        }
        w
    }

    /// The table as text, one line per row, columns two spaces apart, no trailing
    /// spaces; fitted to `fit` characters when given.
    pub fn render_to(&self, fit: Option<usize>) -> String {
        let widths = self.widths(fit);
        let mut out = String::new();
        let mut line = |cells: &[String]| {
            let mut text = String::new();
            for (c, cell) in cells.iter().enumerate() {
                let cell = truncate(cell, widths[c]);
                let pad = widths[c] - chars(&cell);
                if c > 0 {
                    text.push_str("  ");
                }
                match self.align[c] {
                    Align::Left => {
                        text.push_str(&cell);
                        text.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        text.extend(std::iter::repeat_n(' ', pad));
                        text.push_str(&cell);
                    }
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        if self.show_header {
            line(&self.headers);
        }
        for r in &self.rows {
            line(r);
        }
        out
    }

    /// The table fitted to the terminal (unlimited when stdout is not one).
    pub fn render(&self) -> String {
        self.render_to(super::output::width())
    }

    /// Prints the table to stdout.
    pub fn print(&self) {
        super::output::print(format_args!("{}", self.render()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_and_numbers_sit_right() {
        let mut t = Table::new(&["ITEM", "QUEUE"]).right(&[1]);
        t.row(vec!["Router".into(), "5".into()]);
        t.row(vec!["EPR_Out".into(), "1234".into()]);
        assert_eq!(t.render_to(None), "ITEM     QUEUE\nRouter       5\nEPR_Out   1234\n");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(truncate("abcdefghij", 5), "abcd…");
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("a\rb", 5), "a b");
        let mut t = Table::new(&["A", "NOTE"]).max_width(1, 6);
        t.row(vec!["x".into(), "a very long note".into()]);
        assert_eq!(t.render_to(None).lines().nth(1), Some("x  a ver…"));
    }

    #[test]
    fn a_table_wider_than_the_terminal_shrinks_its_widest_column() {
        let mut t = Table::new(&["A", "B"]);
        t.row(vec!["short".into(), "x".repeat(100)]);
        let text = t.render_to(Some(40));
        assert!(text.lines().all(|l| l.chars().count() <= 40), "{text}");
        assert!(text.contains('…'));
    }
}
