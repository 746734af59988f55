//! The message an item is asked to process.

use crate::abi::MessageView;
use hie_hl7 as hl7;

/// A message handed to an item for one call: its header and body, borrowed from the host.
#[derive(Clone, Copy)]
pub struct Message<'a> {
    /// The FFI view the host passed.
    view: &'a MessageView<'a>,
}

impl<'a> Message<'a> {
    /// Wraps the FFI view (used by the SDK glue).
    pub(crate) fn new(view: &'a MessageView<'a>) -> Self {
        Message { view }
    }

    /// The raw FFI view.
    pub fn view(&self) -> &'a MessageView<'a> {
        self.view
    }

    /// The body bytes.
    pub fn body(&self) -> &'a [u8] {
        self.view.body.as_slice()
    }

    /// Parses the body as HL7 v2 (zero-copy), read in the charset its service's
    /// `DefCharEncoding` chose (the session's [`hl7::DEF_CHAR_ENCODING`] attribute), else
    /// by MSH-18.
    pub fn hl7(&self) -> Result<hl7::Message<'a>, hl7::ParseError> {
        hl7::parse_as(self.body(), self.def_char_encoding())
    }

    /// The `DefCharEncoding` of the service that took this message in, if it set one.
    pub fn def_char_encoding(&self) -> Option<hl7::DefCharEncoding> {
        self.attribute(hl7::DEF_CHAR_ENCODING).and_then(|v| hl7::DefCharEncoding::parse(v).ok().flatten())
    }

    /// Journal id of this message header.
    pub fn id(&self) -> u64 {
        self.view.id
    }

    /// Session id (the id of the first message of the session).
    pub fn session_id(&self) -> u64 {
        self.view.session_id
    }

    /// Id of the request this message pairs with; 0 when none.
    pub fn correlation_id(&self) -> u64 {
        self.view.correlation_id
    }

    /// Id of the message whose processing created this one; 0 for messages from outside.
    pub fn causation_id(&self) -> u64 {
        self.view.causation_id
    }

    /// Priority (IRIS numbering, 1 highest).
    pub fn priority(&self) -> u8 {
        self.view.priority
    }

    /// Name of the item that sent this message.
    pub fn source(&self) -> &'a str {
        self.view.source.as_str()
    }

    /// Name of the item this message is addressed to.
    pub fn target(&self) -> &'a str {
        self.view.target.as_str()
    }

    /// Document type (e.g. `ADT^A01`), empty when unknown.
    pub fn doc_type(&self) -> &'a str {
        self.view.doc_type.as_str()
    }

    /// Creation time, microseconds since the Unix epoch.
    pub fn created_unix_us(&self) -> i64 {
        self.view.created_unix_us
    }

    /// An adapter attribute by name (e.g. `OriginalFilename`).
    pub fn attribute(&self, name: &str) -> Option<&'a str> {
        self.view.attributes.iter().find(|a| a.0.as_str() == name).map(|a| a.1.as_str())
    }

    /// All adapter attributes.
    pub fn attributes(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.view.attributes.as_slice().iter().map(|a| (a.0.as_str(), a.1.as_str()))
    }
}
