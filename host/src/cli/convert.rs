//! `hie convert --to json|xml|hl7 FILE`: HL7 v2 to and from HIE's JSON and HL7 v2.xml,
//! exactly as the `HIE.Transform.*` classes convert (`hie_hl7_schema::convert`,
//! docs/hl7-conversions.md).
//!
//! An HL7 file may hold several messages or a batch: each message is converted (FHS/BHS
//! envelopes belong to no message), one JSON document or XML document per line of
//! output with `--to json|xml` unless `--pretty`. With `--to hl7` the input is one JSON or
//! XML document, told apart by its first character; segments are printed one per line
//! (`--raw` for the bytes, segments ending in CR).

use clap::{Args, ValueEnum};
use hie_hl7_schema::{Registry, convert};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// What to convert to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// HIE's loss-free JSON.
    Json,
    /// HL7 v2.xml.
    Xml,
    /// HL7 v2 (from JSON or XML).
    Hl7,
}

/// Arguments of `hie convert`.
#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// What to convert to.
    #[arg(long)]
    to: Target,
    /// The input file (`-` for standard input).
    file: PathBuf,
    /// The MessageSchemaCategory for field and group names (default: MSH-12's version).
    #[arg(long)]
    category: Option<String>,
    /// Indent the JSON or XML.
    #[arg(long)]
    pretty: bool,
    /// With `--to hl7`: print the bytes as they are (segments end in CR).
    #[arg(long)]
    raw: bool,
}

/// Runs `hie convert`.
pub fn run(args: ConvertArgs) -> anyhow::Result<ExitCode> {
    let bytes = if args.file.as_os_str() == "-" {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)?;
        b
    } else {
        std::fs::read(&args.file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", args.file.display()))?
    };
    let name = args.file.display().to_string();
    let mut out: Vec<u8> = Vec::new();
    match args.to {
        Target::Json | Target::Xml => {
            let registry = Registry::new();
            let messages = hie_hl7::batch::split_messages(&bytes).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            anyhow::ensure!(!messages.is_empty(), "{name}: no HL7 message in it");
            for m in messages {
                let msg = hie_hl7::parse(m).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
                let doc = registry.resolve_message(args.category.as_deref(), &msg);
                let text = match (args.to, args.pretty) {
                    (Target::Json, false) => convert::to_json(&msg, doc.as_ref()),
                    (Target::Json, true) => convert::to_json_pretty(&msg, doc.as_ref()),
                    (_, false) => convert::to_xml(&msg, doc.as_ref()),
                    (_, true) => convert::to_xml_pretty(&msg, doc.as_ref()),
                };
                writeln!(out, "{text}")?;
            }
        }
        Target::Hl7 => {
            let text = std::str::from_utf8(&bytes).map_err(|e| anyhow::anyhow!("{name}: not UTF-8 text: {e}"))?;
            let hl7 = match text.trim_start().chars().next() {
                Some('{') => convert::from_json(text),
                Some('<') => convert::from_xml(text),
                _ => anyhow::bail!("{name}: neither JSON (starts with {{) nor XML (starts with <)"),
            }
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            if args.raw {
                out.write_all(&hl7)?;
            } else {
                for seg in hl7.split(|b| *b == b'\r').filter(|s| !s.is_empty()) {
                    out.write_all(seg)?;
                    out.write_all(b"\n")?;
                }
            }
        }
    }
    // A closed pipe (`hie convert ... | head -1`) ends the command quietly, as `outln!` does.
    match std::io::stdout().lock().write_all(&out) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}
