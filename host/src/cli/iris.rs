//! `hie rules convert` and `hie dtl run`: what an imported IRIS rule or DTL will do,
//! shown before it runs in a production. Both use what the router uses (`hie-iris`, its
//! catalog of the classes, schemas and lookup tables beside a production), so what they
//! print is what the engine does.

use clap::{Args, Subcommand};
use hie_iris::IrisClass;
use hie_iris::catalog::{self, Catalog};
use hie_iris::dtl::DtlInput;
use hie_iris::env::{Aux, DirFileReader, Services};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `hie rules`.
#[derive(Args, Debug)]
pub struct RulesArgs {
    #[command(subcommand)]
    command: RulesCommand,
}

#[derive(Subcommand, Debug)]
enum RulesCommand {
    /// Print the YAML rules equivalent of the IRIS rule classes in FILE (UDL .cls, Studio
    /// export or bare XML), or say what in them has no YAML form.
    Convert {
        /// The rule file.
        file: PathBuf,
    },
}

/// Arguments of `hie dtl`.
#[derive(Args, Debug)]
pub struct DtlArgs {
    #[command(subcommand)]
    command: DtlCommand,
}

#[derive(Subcommand, Debug)]
enum DtlCommand {
    /// Run the DTL class CLASS on the HL7 message in FILE and print the result (segments
    /// one per line; --raw for the bytes). Classes, schemas and lookup tables are found as
    /// the router finds them beside a production in --dir.
    Run {
        /// The DTL class (`Pkg.MyTransform`).
        class: String,
        /// The source message.
        file: PathBuf,
        /// The production's directory (class files in it and rules/, dtl/, classes/;
        /// schema/ and lookup/).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The MessageSchemaCategory the message came in with (its DocType when the
        /// transform declares no sourceDocType).
        #[arg(long)]
        category: Option<String>,
        /// Print the bytes as they are (segments end in CR).
        #[arg(long)]
        raw: bool,
    },
}

/// Runs `hie rules`.
pub fn run_rules(args: RulesArgs) -> anyhow::Result<ExitCode> {
    let RulesCommand::Convert { file } = args.command;
    let text = std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let stem = file.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let classes = hie_iris::load_classes_named(&text, &stem).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let mut code = ExitCode::SUCCESS;
    let mut rules = 0;
    for class in &classes {
        let IrisClass::Rule(rule) = class else { continue };
        rules += 1;
        let conversion = hie_iris::rules::convert(rule);
        match conversion.yaml {
            Some(yaml) => {
                outln!("# {} ({})", rule.class, file.display());
                for note in &conversion.notes {
                    outln!("# note: {note}");
                }
                outln!("{}", yaml.trim_end());
            }
            None => {
                super::logging::say(
                    super::logging::Level::Error,
                    &format!("hie: {} has no YAML form: {}", rule.class, conversion.notes.join("; ")),
                );
                code = ExitCode::from(1);
            }
        }
    }
    if rules == 0 {
        anyhow::bail!("{} holds no rule class (Ens.Rule.Definition)", file.display());
    }
    Ok(code)
}

/// Runs `hie dtl`.
pub fn run_dtl(args: DtlArgs) -> anyhow::Result<ExitCode> {
    let DtlCommand::Run { class, file, dir, category, raw } = args.command;
    let catalog = Catalog::load(&dir, None, &class).map_err(|e| anyhow::anyhow!(e))?;
    let Some(dtl) = catalog.transforms.get(&class) else {
        anyhow::bail!(
            "no DTL class {class} in the .cls/.xml files of {} (and its rules/, dtl/, classes/)",
            dir.display()
        );
    };
    let schemas = catalog::load_schemas(&dir).map_err(|e| anyhow::anyhow!(e))?;
    let lookups = catalog::load_lookups(&dir).map_err(|e| anyhow::anyhow!(e))?;
    let source = std::fs::read(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let parsed = hie_hl7::parse(&source).map_err(|e| anyhow::anyhow!("{}: not HL7 v2: {e}", file.display()))?;
    let doc_type = schemas.resolve_message(category.as_deref(), &parsed);
    let files = DirFileReader::new(dir.clone());
    let aux = Aux::default();
    let out = dtl
        .run(&DtlInput {
            source: &source,
            doc_type: doc_type.as_ref(),
            target: None,
            aux: Some(&aux),
            services: Services { lookups: &lookups, files: &files, now: chrono::Local::now().naive_local() },
            schemas: &schemas,
            transforms: &catalog.transforms,
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for t in &out.traces {
        eprintln!("trace: {t}");
    }
    for e in &out.errors {
        super::logging::say(super::logging::Level::Warn, &format!("error (REPORTERRORS=0): {e}"));
    }
    if raw {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(&out.bytes)?;
        stdout.flush()?;
    } else {
        for segment in String::from_utf8_lossy(&out.bytes).split('\r').filter(|s| !s.is_empty()) {
            outln!("{segment}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
