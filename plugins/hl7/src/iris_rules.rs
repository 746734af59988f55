//! IRIS routing rules for `EnsLib.HL7.MsgRouter.RoutingEngine`: the `Ens.Rule.Definition`
//! class a `BusinessRuleName` names, with the `Ens.DataTransformDTL` classes its sends
//! name, the custom schema categories and the lookup tables beside the production, run by
//! `hie-iris` exactly as the fixtures pin them (docs/iris-formats.md).
//!
//! # Where things are found
//! Beside the production, as [`hie_iris::catalog`] lays out: class files in its directory
//! and `rules/`, `dtl/`, `classes/`; custom schemas in `schema/`; lookup tables in
//! `lookup/`. `InFile` and friends read paths relative to the rule file's directory.
//!
//! # Invariants
//! - Everything is loaded and checked when the router starts: a rule that does not
//!   compile, a file that cannot be read, a send naming an item the production lacks, or
//!   a schema or lookup file that does not load is a start error naming the file. While
//!   messages flow nothing is read from disk but `InFile` files.
//! - A message's DocType comes from its service's `MessageSchemaCategory` (the engine
//!   records it on the session as the `MessageSchemaCategory` attribute) and MSH-9, as
//!   IRIS sets it; without one, from MSH-12.

use hie_hl7_schema::Registry;
use hie_iris::catalog::{self, Catalog};
use hie_iris::dtl::DtlInput;
use hie_iris::env::{DirFileReader, Services};
use hie_iris::lookup::LookupTables;
use hie_iris::rules::{Body, HL7_MESSAGE_CLASS, Input};
use hie_iris::{RuleDefinition, Transform};
use hie_plugin_api::hl7;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The header attribute holding the service's `MessageSchemaCategory`.
pub const CATEGORY_ATTRIBUTE: &str = "MessageSchemaCategory";

/// A loaded IRIS rule and what it runs with.
pub struct IrisRules {
    /// The rule class.
    rule: RuleDefinition,
    /// The file it came from (for messages).
    pub file: PathBuf,
    /// DTL classes found beside the production, by class name.
    transforms: HashMap<String, Arc<Transform>>,
    /// Built-in HL7 versions plus the custom categories of `<dir>/schema`.
    schemas: Registry,
    /// Lookup tables of `<dir>/lookup`.
    lookups: LookupTables,
    /// `InFile` files, relative to the rule file.
    files: DirFileReader,
}

/// One send the rule decided, ready for the router's outcome.
#[derive(Debug, PartialEq)]
pub struct RoutedSend {
    /// Target item.
    pub target: String,
    /// The body the DTL made; `None` forwards the message unchanged.
    pub body: Option<Vec<u8>>,
    /// A transform the rule names that is no DTL found here: left to the engine (a pack class).
    pub transform: Option<String>,
}

/// What the rule decided for one message.
#[derive(Debug, Default)]
pub struct Routed {
    /// Sends, in the rule's order (one per target).
    pub sends: Vec<RoutedSend>,
    /// A `delete` ran.
    pub deleted: bool,
    /// The rules that fired (`rule#n(name):when#m`).
    pub fired: Vec<String>,
    /// `trace` texts.
    pub traces: Vec<String>,
    /// Errors evaluating conditions (each condition counted false, as IRIS does), and
    /// DTL errors skipped under `ActOnTransformError=0`.
    pub errors: Vec<String>,
    /// `debug` texts (logged when `RuleLogging` has `d`).
    pub debugs: Vec<String>,
    /// Sends skipped because their DTL failed (`ActOnTransformError=0`).
    pub transform_errors: usize,
}

impl IrisRules {
    /// The rule class `name` among the class files beside the production in `dir`, or
    /// the one in `file` when `BusinessRuleName` is a path. `Ok(None)`: no such class.
    pub fn load(dir: &Path, name: &str, file: Option<&Path>) -> Result<Option<IrisRules>, String> {
        let mut catalog = Catalog::load(dir, file, name)?;
        let Some((rule, file)) = catalog.take_rule(name, file) else { return Ok(None) };
        let files = DirFileReader::new(file.parent().unwrap_or(dir));
        Ok(Some(IrisRules {
            rule,
            file,
            transforms: catalog.transforms,
            schemas: catalog::load_schemas(dir)?,
            lookups: catalog::load_lookups(dir)?,
            files,
        }))
    }

    /// The schema categories the rule reads messages with.
    pub fn schemas(&self) -> &Registry {
        &self.schemas
    }

    /// The rule class name.
    pub fn class(&self) -> &str {
        &self.rule.class
    }

    /// Every item the rule can send to.
    pub fn targets(&self) -> Vec<&str> {
        self.rule.targets()
    }

    /// Transforms the rule names that no DTL found here provides (left to pack classes).
    pub fn foreign_transforms(&self) -> Vec<&str> {
        self.rule.transforms().into_iter().filter(|t| !self.transforms.contains_key(*t)).collect()
    }

    /// Rule sets, and DTL classes loaded beside it.
    pub fn summary(&self) -> String {
        format!(
            "IRIS rule {} ({} rule sets) from {}, {} DTL classes, {} lookup tables",
            self.rule.class,
            self.rule.rule_sets.len(),
            self.file.display(),
            self.transforms.len(),
            self.lookups.table_names().len()
        )
    }

    /// Runs the rule over `msg` (the parsed `body`) from `source`, running the DTLs its
    /// sends name. A DTL that fails skips its send with the error in `errors`, or, with
    /// `act_on_transform_error` (IRIS `ActOnTransformError`), stops the routing: the error
    /// (naming the DTL, its line and action) is returned for the error path.
    pub fn route(
        &self,
        body: &[u8],
        msg: &hl7::Message<'_>,
        source: &str,
        category: Option<&str>,
        act_on_transform_error: bool,
    ) -> Result<Routed, String> {
        let doc_type = self.schemas.resolve_message(category.filter(|c| !c.is_empty()), msg);
        let doc_name = hie_hl7_schema::message_doc_name(msg).unwrap_or_default();
        let services = Services { lookups: &self.lookups, files: &self.files, now: chrono::Local::now().naive_local() };
        let input = Input {
            body: Body::Hl7(msg),
            msg_class: HL7_MESSAGE_CLASS,
            doc_type: doc_type.as_ref(),
            doc_name: &doc_name,
            source,
            services,
        };
        let decision = self.rule.evaluate(&input);
        let mut routed = Routed {
            deleted: decision.deleted,
            fired: decision.fired.iter().map(|f| f.reason.clone()).collect(),
            traces: decision.traces.clone(),
            errors: decision.errors.iter().map(|e| e.to_string()).collect(),
            debugs: decision.debugs.clone(),
            ..Routed::default()
        };
        if decision.deleted {
            return Ok(routed);
        }
        for send in &decision.sends {
            let made = match send.transform.as_deref().and_then(|t| self.transforms.get(t)) {
                Some(dtl) => {
                    let aux = decision.aux(send, &self.rule.class);
                    let run = dtl.run(&DtlInput {
                        source: body,
                        doc_type: doc_type.as_ref(),
                        target: None,
                        aux: Some(&aux),
                        services,
                        schemas: &self.schemas,
                        transforms: &self.transforms,
                    });
                    let out = match run {
                        Ok(out) => out,
                        Err(e) if act_on_transform_error => return Err(format!("transform {e}")),
                        Err(e) => {
                            routed.transform_errors += 1;
                            routed.errors.push(format!("transform {e}: not sent to {}", send.targets.join(", ")));
                            continue;
                        }
                    };
                    routed.traces.extend(out.traces);
                    routed.errors.extend(out.errors);
                    Some(out.bytes)
                }
                None => None,
            };
            let foreign = send.transform.clone().filter(|t| !self.transforms.contains_key(t));
            for target in &send.targets {
                routed.sends.push(RoutedSend {
                    target: target.clone(),
                    body: made.clone(),
                    transform: foreign.clone(),
                });
            }
        }
        Ok(routed)
    }
}
