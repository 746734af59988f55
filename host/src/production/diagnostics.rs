//! Problems found in a production, each naming file, line, item and setting.

use super::model::Location;
use serde::Serialize;

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The production cannot run as written.
    Error,
    /// The production runs, but something is ignored, unsupported or suspicious.
    Warning,
}

/// One problem.
#[derive(Clone, Debug, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// File path.
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: u32,
    /// The item concerned, if any.
    pub item: Option<String>,
    /// The setting concerned, if any.
    pub setting: Option<String>,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
}

impl Diagnostic {
    /// An error at `location`.
    pub fn error(location: &Location, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            file: location.file.display().to_string(),
            line: location.line,
            item: None,
            setting: None,
            message: message.into(),
        }
    }

    /// A warning at `location`.
    pub fn warning(location: &Location, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(location, message) }
    }

    /// Names the item.
    pub fn item(mut self, item: &str) -> Self {
        self.item = Some(item.to_string());
        self
    }

    /// Names the setting.
    pub fn setting(mut self, setting: &str) -> Self {
        self.setting = Some(setting.to_string());
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}:{}: {sev}: ", self.file, self.line)?;
        if let Some(item) = &self.item {
            write!(f, "item '{item}'")?;
            if let Some(s) = &self.setting {
                write!(f, ", setting '{s}'")?;
            }
            write!(f, ": ")?;
        } else if let Some(s) = &self.setting {
            write!(f, "setting '{s}': ")?;
        }
        f.write_str(&self.message)
    }
}
