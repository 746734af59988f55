//! Error types of the crate.
//!
//! # Invariants
//!
//! - Every error carries enough text to be logged alone: the file and line for schema files,
//!   the path text (and character position for syntax errors) for paths.
//! - Errors are plain data (`Clone`, `PartialEq`), so callers can keep and compare them.

/// Why a custom schema category (IRIS XML export) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The XML itself is malformed.
    #[error("{file}:{line}: malformed XML: {message}")]
    Xml {
        /// The file name (or label) given to the loader.
        file: String,
        /// 1-based line.
        line: usize,
        /// What the XML reader reported.
        message: String,
    },
    /// An element is missing a required attribute or has an unusable value.
    #[error("{file}:{line}: <{element}>: {message}")]
    Invalid {
        /// The file name (or label).
        file: String,
        /// 1-based line of the element.
        line: usize,
        /// The element name, e.g. `SegmentSubStructure`.
        element: String,
        /// What is wrong, e.g. `missing attribute "piece"`.
        message: String,
    },
    /// A `MessageStructure` definition string could not be parsed.
    #[error("{file}:{line}: <MessageStructure name={structure:?}>: definition: {message}")]
    Definition {
        /// The file name (or label).
        file: String,
        /// 1-based line of the element.
        line: usize,
        /// The structure name.
        structure: String,
        /// What is wrong with the definition string.
        message: String,
    },
    /// The category's `base` is not a loaded category.
    #[error("{file}:{line}: <Category name={category:?}>: base {base:?} is not a known category")]
    UnknownBase {
        /// The file name (or label).
        file: String,
        /// 1-based line of the `Category` element.
        line: usize,
        /// The category being loaded.
        category: String,
        /// The base it names.
        base: String,
    },
    /// A custom category would replace a built-in one.
    #[error("{file}:{line}: <Category name={name:?}>: a built-in category has this name")]
    BuiltinName {
        /// The file name (or label).
        file: String,
        /// 1-based line of the `Category` element.
        line: usize,
        /// The category name.
        name: String,
    },
    /// The file holds no `Category` element.
    #[error("{file}: no <Category> element found")]
    NoCategory {
        /// The file name (or label).
        file: String,
    },
}

/// Why a virtual property path text was refused by the parser.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("virtual property path {path:?}, at character {column}: {reason}")]
pub struct PathSyntaxError {
    /// The path text.
    pub path: String,
    /// 1-based character position of the problem (path length + 1 for "at the end").
    pub column: usize,
    /// What is wrong.
    pub reason: String,
}

/// Why a parsed path could not be compiled against a schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// The path text did not parse.
    #[error(transparent)]
    Syntax(#[from] PathSyntaxError),
    /// A group path, or a segment addressed through groups, without a DocType.
    #[error("path {path:?}: {step:?} is a group step; group paths need a DocType (e.g. 2.5:ORU_R01)")]
    NeedsDocType {
        /// The path text.
        path: String,
        /// The group step.
        step: String,
    },
    /// A segment or group name that is not an element of the structure at that level.
    #[error("path {path:?}: {name:?} is not an element of {parent} (it has: {available})")]
    UnknownElement {
        /// The path text.
        path: String,
        /// The name asked for.
        name: String,
        /// `2.5:ORU_R01` or the group name.
        parent: String,
        /// The element names available there, comma-separated.
        available: String,
    },
    /// A field part after a group (only segments have fields).
    #[error("path {path:?}: {name:?} is a group; a field part needs a segment")]
    GroupHasNoFields {
        /// The path text.
        path: String,
        /// The group name.
        name: String,
    },
    /// Symbolic names were used but no definition of the segment is available.
    #[error("path {path:?}: no definition of segment {segment} in category {category}, so its field names are unknown")]
    UnknownSegment {
        /// The path text.
        path: String,
        /// The segment ID.
        segment: String,
        /// The category searched.
        category: String,
    },
    /// A field name the segment definition does not have.
    #[error("path {path:?}: segment {segment} ({category}) has no field named {name:?}")]
    UnknownField {
        /// The path text.
        path: String,
        /// The segment ID.
        segment: String,
        /// The category searched.
        category: String,
        /// The name asked for.
        name: String,
    },
    /// A component (or subcomponent) name the data type does not have.
    #[error("path {path:?}: data type {data_type} ({category}) has no component named {name:?}")]
    UnknownComponent {
        /// The path text.
        path: String,
        /// The data type searched.
        data_type: String,
        /// The category searched.
        category: String,
        /// The name asked for.
        name: String,
    },
    /// A relative path (`Segment.{3.1}`) with symbolic names but no segment type given.
    #[error("path {path:?}: a segment-relative path with names needs the segment type (e.g. OBX)")]
    NeedsSegmentType {
        /// The path text.
        path: String,
    },
    /// `(*)` (count) and `()` (every repetition) in the same path, or `(*)` not on the last
    /// step that takes an index.
    #[error("path {path:?}: {reason}")]
    BadIndex {
        /// The path text.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The segment is not a top-level element of the structure, so IRIS cannot reach it without
    /// its groups (use the group path, or compile with `SegmentScope::Message`).
    #[error(
        "path {path:?}: segment {segment} is not at the top level of {doc_type}; address it through its groups ({hint})"
    )]
    NotTopLevel {
        /// The path text.
        path: String,
        /// The segment name.
        segment: String,
        /// The DocType.
        doc_type: String,
        /// One group path that reaches it, e.g. `PIDgrpgrp(1).ORCgrp(1).OBXgrp(1).OBX`.
        hint: String,
    },
}
