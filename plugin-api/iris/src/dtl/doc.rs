//! The documents a DTL reads and writes: a whole HL7 message (with its DocType) or a single
//! segment (segment-level DTLs), held in a [`MessageBuf`] and addressed by virtual paths.
//!
//! # Invariants
//!
//! - A segment document is a message of MSH plus that one segment (or just the MSH when the
//!   segment is MSH); [`Doc::segment_content`] gives the segment back.
//! - Writes change only what they address: a field write edits one segment, a whole-segment
//!   write replaces or inserts one segment, a removal deletes one segment. Untouched segments
//!   keep their bytes.
//! - A missing segment is created where the DocType's structure puts it: the last position
//!   at which the path then resolves without moving any other segment in the structure
//!   (placeholders are inserted for missing earlier occurrences). Without a DocType it goes
//!   after the last segment with its name.
//! - Text is written by the leaf rule: escaped, unless it is composite text (holds the
//!   component, repetition or subcomponent separator below the level written) meant to build
//!   structure; copied nodes are written raw.

use std::sync::Arc;

use hie_hl7::{Delimiters, Message, MessageBuf, Path};
use hie_hl7_schema::{Category, CompiledPath, DocType, Keys, Node, SegmentMap};

use crate::access::{self, Mode, PathCache, View};
use crate::error::EvalError;
use crate::vpath::{Index, VPath};

/// Most placeholder segments inserted to reach an occurrence that does not exist yet.
const MAX_FILL: usize = 20;

/// A segment document's identity.
#[derive(Clone, Debug)]
pub struct SegInfo {
    /// Index of the segment in the buffer (1, or 0 for MSH).
    pub index: usize,
    /// The segment ID.
    pub id: String,
    /// The category for symbolic field names.
    pub category: Option<Arc<Category>>,
}

/// A value to write.
#[derive(Clone, Debug)]
pub enum Val {
    /// Text (escaped on write by the leaf rule).
    Text(String),
    /// Raw bytes copied from a node (a value, a whole segment, or a group's segments).
    Raw(Vec<u8>, RawKind),
}

/// What a raw value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawKind {
    /// A field, repetition, component or subcomponent.
    Value,
    /// One whole segment.
    Segment,
    /// A group instance (several segments).
    Group,
}

/// An HL7 document.
#[derive(Clone, Debug)]
pub struct Doc {
    /// The content.
    pub buf: MessageBuf,
    /// The DocType of a message document.
    pub doc: Option<DocType>,
    /// Set for a segment document.
    pub seg: Option<SegInfo>,
}

fn path_err(path: &str, message: impl Into<String>) -> EvalError {
    EvalError::Path { path: path.to_owned(), message: message.into() }
}

fn parse_err(e: hie_hl7::ParseError) -> EvalError {
    EvalError::Other(format!("the document no longer parses: {e}"))
}

/// A dummy message with these segment names, for placement trials.
fn names_message(names: &[String]) -> Vec<u8> {
    let mut out = b"MSH|^~\\&".to_vec();
    for n in names.iter().skip(1) {
        out.push(b'\r');
        out.extend_from_slice(n.as_bytes());
    }
    out.push(b'\r');
    out
}

impl Doc {
    /// A message document.
    pub fn message(buf: MessageBuf, doc: Option<DocType>) -> Doc {
        Doc { buf, doc, seg: None }
    }

    /// A segment document holding `content` (`PID|1||...`), with the given delimiters.
    pub fn segment(delims: Delimiters, content: &[u8], category: Option<Arc<Category>>) -> Result<Doc, EvalError> {
        let id = String::from_utf8_lossy(content.get(..3).unwrap_or(b"")).into_owned();
        let mut head = b"MSH".to_vec();
        head.push(delims.field);
        head.extend(delims.encoding_characters());
        if id == "MSH" {
            let buf = MessageBuf::parse(content).map_err(parse_err)?;
            return Ok(Doc { buf, doc: None, seg: Some(SegInfo { index: 0, id, category }) });
        }
        let mut buf = MessageBuf::parse(&head).map_err(parse_err)?;
        buf.push_segment(content).map_err(|e| EvalError::Other(format!("segment {id}: {e}")))?;
        Ok(Doc { buf, doc: None, seg: Some(SegInfo { index: 1, id, category }) })
    }

    /// The segment of a segment document.
    pub fn segment_content(&self) -> Vec<u8> {
        let i = self.seg.as_ref().map_or(0, |s| s.index);
        self.buf.segment_raw(i).unwrap_or_default().to_vec()
    }

    /// The current bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.buf.to_bytes()
    }

    fn compile(&self, cache: &PathCache, path: &VPath) -> Arc<Result<CompiledPath, String>> {
        match &self.seg {
            Some(s) => cache.get(&path.render(), Mode::Relative(s.id.clone()), None, s.category.as_deref()),
            None => cache.get(&path.render(), Mode::Document, self.doc.as_ref(), None),
        }
    }

    /// Runs `f` on a view of the current content and the compiled `path`.
    fn with_view<R>(
        &self,
        cache: &PathCache,
        path: &VPath,
        f: impl FnOnce(&View<'_>, &CompiledPath) -> R,
    ) -> Result<R, EvalError> {
        let cp = self.compile(cache, path);
        let cp = cp.as_ref().as_ref().map_err(|e| path_err(&path.text, e.clone()))?;
        let bytes = self.bytes();
        let msg = Message::parse(&bytes).map_err(parse_err)?;
        let view = View::new(&msg, self.doc.as_ref());
        Ok(f(&view, cp))
    }

    /// The value at `path` (concrete: no variables), `""` when absent.
    pub fn read(&self, cache: &PathCache, path: &VPath) -> Result<String, EvalError> {
        let seg = self.seg.as_ref().map(|s| s.index);
        self.with_view(cache, path, |view, cp| match seg {
            Some(i) => access::value_in(view, i, cp, Keys::NONE),
            None => access::value(view, cp, Keys::NONE),
        })
    }

    /// The raw bytes of the first node at `path`, and what it is; `None` when absent.
    pub fn read_raw(&self, cache: &PathCache, path: &VPath) -> Result<Option<(Vec<u8>, RawKind)>, EvalError> {
        let seg = self.seg.as_ref().map(|s| s.index);
        self.with_view(cache, path, |view, cp| {
            let node = match seg {
                Some(i) => access::node_in(view, i, cp, Keys::NONE),
                None => cp.first(view.msg, view.map.as_ref(), Keys::NONE),
            }?;
            let kind = match node {
                Node::Value(_) => RawKind::Value,
                Node::Segment(_) => RawKind::Segment,
                Node::Group { first, last } if first == last => RawKind::Segment,
                Node::Group { .. } => RawKind::Group,
            };
            access::node_raw(view.msg, node).map(|r| (r.to_vec(), kind))
        })
    }

    /// How many nodes a `()` path selects (iterations of a foreach).
    pub fn count(&self, cache: &PathCache, path: &VPath) -> Result<usize, EvalError> {
        let seg = self.seg.as_ref().map(|s| s.index);
        self.with_view(cache, path, |view, cp| match seg {
            Some(i) => cp.count_in(view.msg, i, Keys::NONE),
            None => cp.count(view.msg, view.map.as_ref(), Keys::NONE),
        })
    }

    fn names(&self) -> Vec<String> {
        (0..self.buf.segment_count()).map(|i| self.buf.segment_name(i).unwrap_or("ZZZ").to_owned()).collect()
    }

    /// The index of the segment the segment part of `path` names, if present.
    fn find_segment(&self, cache: &PathCache, path: &VPath) -> Result<Option<usize>, EvalError> {
        if let Some(s) = &self.seg {
            return Ok(Some(s.index));
        }
        let seg_path = VPath { segment: path.segment.clone(), field: Vec::new(), text: path.segment_text() };
        self.with_view(cache, &seg_path, |view, cp| match cp.first(view.msg, view.map.as_ref(), Keys::NONE) {
            Some(Node::Segment(i)) => Some(i),
            Some(Node::Group { first, .. }) => Some(first),
            _ => None,
        })
    }

    /// Where to insert segments so that the segment part of `path` resolves: (position, how
    /// many to insert; the last inserted is the one the path names).
    fn placement(&self, cache: &PathCache, path: &VPath) -> Result<(usize, usize), EvalError> {
        let seg_text = path.segment_text();
        let Some(last) = path.segment.last() else {
            return Err(path_err(&path.text, "no segment part"));
        };
        let id = match &last.name {
            crate::vpath::StepName::Name(n) if n.len() == 3 && n.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                n.to_ascii_uppercase()
            }
            _ => return Err(path_err(&path.text, "the path does not end on a segment, so it cannot be created")),
        };
        let names = self.names();
        let Some(doc) = &self.doc else {
            // No structure: after the last segment with the name, creating missing occurrences.
            let want = match last.index {
                Index::Num(n) => n,
                _ => 1,
            };
            let have: Vec<usize> = names.iter().enumerate().filter(|(_, n)| **n == id).map(|(i, _)| i).collect();
            let at = have.last().map_or(names.len(), |i| i + 1);
            return Ok((at, want.saturating_sub(have.len()).max(1)));
        };
        let seg_path = VPath { segment: path.segment.clone(), field: Vec::new(), text: seg_text.clone() };
        let cp = cache.get(&seg_text, Mode::Document, Some(doc), None);
        let cp = cp.as_ref().as_ref().map_err(|e| path_err(&path.text, e.clone()))?;
        let _ = seg_path;
        let orig_bytes = names_message(&names);
        let orig_msg = Message::parse(&orig_bytes).map_err(parse_err)?;
        let orig_map = SegmentMap::build(&orig_msg, doc.structure());
        let orig: Vec<Option<String>> = (0..names.len()).map(|i| orig_map.element_path(i)).collect();
        for k in 1..=MAX_FILL {
            for p in (1..=names.len()).rev() {
                let mut trial = names[..p].to_vec();
                trial.extend(std::iter::repeat_n(id.clone(), k));
                trial.extend_from_slice(&names[p..]);
                let bytes = names_message(&trial);
                let Ok(msg) = Message::parse(&bytes) else { continue };
                let map = SegmentMap::build(&msg, doc.structure());
                let hit = match cp.first(&msg, Some(&map), Keys::NONE) {
                    Some(Node::Segment(i)) => i,
                    _ => continue,
                };
                let undisturbed = (0..names.len()).all(|j| {
                    let moved = if j < p { j } else { j + k };
                    map.element_path(moved) == orig[j]
                });
                if hit == p + k - 1 && undisturbed {
                    return Ok((p, k));
                }
            }
        }
        Err(path_err(&path.text, format!("cannot place a new {id} segment in {doc}")))
    }

    /// The segment index for `path`, inserting `content` (or an empty segment) when absent.
    fn ensure_segment(
        &mut self,
        cache: &PathCache,
        path: &VPath,
        content: Option<&[u8]>,
    ) -> Result<(usize, bool), EvalError> {
        if let Some(i) = self.find_segment(cache, path)? {
            return Ok((i, false));
        }
        let (at, k) = self.placement(cache, path)?;
        let id = path.segment.last().map(|s| match &s.name {
            crate::vpath::StepName::Name(n) => n.to_ascii_uppercase(),
            crate::vpath::StepName::Number(_) => String::new(),
        });
        let id = id.unwrap_or_default();
        for j in 0..k {
            let seg: Vec<u8> = match content {
                Some(c) if j + 1 == k => c.to_vec(),
                _ => id.as_bytes().to_vec(),
            };
            self.buf.insert_segment(at + j, &seg).map_err(|e| path_err(&path.text, e.to_string()))?;
        }
        Ok((at + k - 1, true))
    }

    /// Replaces segment `index` with `content`.
    fn replace_segment(&mut self, index: usize, content: &[u8], path: &str) -> Result<(), EvalError> {
        if content.iter().any(|&b| b == b'\r' || b == b'\n') {
            return Err(path_err(path, "a segment value holds several segments"));
        }
        if index > 0 {
            self.buf.remove_segment(index).map_err(|e| path_err(path, e.to_string()))?;
            return self.buf.insert_segment(index, content).map_err(|e| path_err(path, e.to_string()));
        }
        if !content.starts_with(b"MSH") {
            return Err(path_err(path, "only an MSH segment can replace the MSH segment"));
        }
        let bytes = self.buf.to_bytes();
        let old = self.buf.segment_raw(0).unwrap_or_default();
        let at = bytes.windows(old.len().max(1)).position(|w| w == old).unwrap_or(0);
        let mut out = bytes[..at].to_vec();
        out.extend_from_slice(content);
        out.extend_from_slice(&bytes[at + old.len()..]);
        self.buf = MessageBuf::parse(&out).map_err(parse_err)?;
        Ok(())
    }

    /// The `hie_hl7` path of the field part of `path` in segment `index`.
    fn field_path(&self, cache: &PathCache, path: &VPath, index: usize) -> Result<Path, EvalError> {
        let cp = match &self.seg {
            Some(s) => {
                let field = VPath { segment: Vec::new(), field: path.field.clone(), text: path.field_text() };
                cache.get(&field.render(), Mode::Relative(s.id.clone()), None, s.category.as_deref())
            }
            None => cache.get(&path.render(), Mode::Document, self.doc.as_ref(), None),
        };
        let cp = cp.as_ref().as_ref().map_err(|e| path_err(&path.text, e.clone()))?;
        let Some((field, comp, sub)) = cp.field_numbers() else {
            return Err(path_err(&path.text, "no field part"));
        };
        let name = self.buf.segment_name(index).unwrap_or("").to_owned();
        let occurrence = (0..=index).filter(|&i| self.buf.segment_name(i) == Some(name.as_str())).count();
        let mut p =
            Path::new(&name, field).map_err(|e| path_err(&path.text, e.to_string()))?.with_occurrence(occurrence);
        match path.field.first().map(|s| &s.index) {
            Some(Index::Num(n)) => p = p.with_repetition(*n),
            Some(Index::None) | None => {}
            Some(_) => return Err(path_err(&path.text, "the repetition index must be a number here")),
        }
        if let Some(c) = comp {
            p = p.with_component(c);
        }
        if let Some(s) = sub {
            p = p.with_subcomponent(s);
        }
        Ok(p)
    }

    /// Writes `val` at `path` (concrete).
    pub fn set(&mut self, cache: &PathCache, path: &VPath, val: &Val) -> Result<(), EvalError> {
        let text = &path.text;
        if path.field.is_empty() {
            let content = match val {
                Val::Raw(b, RawKind::Segment) => b.clone(),
                Val::Raw(_, RawKind::Group) => {
                    return Err(path_err(text, "copying a whole group is not supported; copy its segments"));
                }
                Val::Raw(b, RawKind::Value) => b.clone(),
                Val::Text(t) => t.as_bytes().to_vec(),
            };
            if content.len() < 3 {
                return Err(path_err(text, "a segment value must start with the segment ID"));
            }
            if self.seg.is_some() {
                let index = self.seg.as_ref().map_or(0, |s| s.index);
                return self.replace_segment(index, &content, text);
            }
            let (index, created) = self.ensure_segment(cache, path, Some(&content))?;
            return if created { Ok(()) } else { self.replace_segment(index, &content, text) };
        }
        if let Val::Text(t) = val
            && t.is_empty()
            && self.find_segment(cache, path)?.is_none()
        {
            // An empty value does not create a segment.
            return Ok(());
        }
        let (index, _) = self.ensure_segment(cache, path, None)?;
        let hp = self.field_path(cache, path, index)?;
        let d = self.buf.delimiters();
        let result = match val {
            Val::Raw(b, _) => self.buf.set_raw(&hp, b),
            Val::Text(t) => {
                let has = |c: u8| t.as_bytes().contains(&c);
                let structural = match (hp.component(), hp.subcomponent()) {
                    (None, _) => {
                        has(d.component) || has(d.subcomponent) || (hp.repetition().is_none() && has(d.repetition))
                    }
                    (Some(_), None) => has(d.subcomponent),
                    (Some(_), Some(_)) => false,
                };
                if structural && !has(d.field) && !has(b'\r') && !has(b'\n') && !has(d.escape) {
                    self.buf.set_raw(&hp, t.as_bytes())
                } else {
                    self.buf.set(&hp, t)
                }
            }
        };
        result.map_err(|e| path_err(text, e.to_string()))
    }

    /// `action='remove'` at `path`: a whole segment is deleted, a field part is emptied.
    pub fn remove(&mut self, cache: &PathCache, path: &VPath) -> Result<(), EvalError> {
        let Some(index) = self.find_segment(cache, path)? else { return Ok(()) };
        if path.field.is_empty() {
            if self.seg.is_some() || index == 0 {
                return Err(path_err(
                    &path.text,
                    "the MSH segment (or a segment document's own segment) cannot be removed",
                ));
            }
            return self.buf.remove_segment(index).map(|_| ()).map_err(|e| path_err(&path.text, e.to_string()));
        }
        let hp = self.field_path(cache, path, index)?;
        if self.buf.get(&hp).is_none() {
            return Ok(());
        }
        self.buf.set_raw(&hp, b"").map_err(|e| path_err(&path.text, e.to_string()))
    }
}
