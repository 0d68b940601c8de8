//! `ringdown import incident-manager|opsgenie DIR`: another paging tool's
//! configuration as a roster. The conversion is `crate::import`; this reads
//! the directory, writes the roster, and lists on standard error what could
//! not be carried over (exit 0). A file that is not the API's JSON is exit 2.

use super::user;
use crate::cli::{ImportArgs, ImportCommand};
use crate::import::{self, Files, ImportError, Imported, Options, Skipped};
use anyhow::Result;
use ringdown_core::Language;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

/// Largest input file read: far above any team's export, small enough that
/// a wrong directory cannot fill memory.
const MAX_FILE_BYTES: u64 = 32 << 20;

pub(super) fn import(command: ImportCommand) -> Result<ExitCode> {
    type Importer = fn(&Files, Options) -> Result<Imported, ImportError>;
    let (args, run, source): (ImportArgs, Importer, &str) = match command {
        ImportCommand::IncidentManager(a) => {
            (a, import::incident_manager::import, "Incident Manager")
        }
        ImportCommand::Opsgenie(a) => (a, import::opsgenie::import, "Opsgenie"),
    };
    let opts = options(&args)?;
    let files = read_dir(&args.dir)?;
    let imported = match run(&files, opts) {
        Ok(i) => i,
        Err(ImportError::Input { file, what }) => {
            return Err(user(format!("{}: {what}", args.dir.join(file).display())))
        }
        Err(e @ ImportError::NothingToCall { .. }) => {
            if let ImportError::NothingToCall { skipped } = &e {
                print_skipped(skipped);
            }
            return Err(user(e.to_string()));
        }
        Err(e @ ImportError::Internal(_)) => return Err(anyhow::anyhow!("{e}")),
    };
    match &args.out {
        Some(path) => std::fs::write(path, &imported.yaml)
            .map_err(|e| user(format!("cannot write {}: {e}", path.display())))?,
        None => print!("{}", imported.yaml),
    }
    let r = &imported.roster;
    eprintln!(
        "ringdown: imported {} people, {} rotation(s) and {} policy(ies) from {source} ({}){}",
        r.people.len(),
        r.rotations.len(),
        r.policies.len(),
        args.dir.display(),
        args.out
            .as_ref()
            .map(|p| format!(" into {}", p.display()))
            .unwrap_or_default()
    );
    print_skipped(&imported.skipped);
    for a in r.advice() {
        eprintln!("warning: {a}");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_skipped(skipped: &[Skipped]) {
    if skipped.is_empty() {
        eprintln!("ringdown: everything was carried over");
        return;
    }
    eprintln!("ringdown: not carried over as it was ({}):", skipped.len());
    for s in skipped {
        eprintln!("  - {s}");
    }
}

fn options(args: &ImportArgs) -> Result<Options> {
    let timezone = match args.timezone.as_deref() {
        None => None,
        Some(z) => Some(z.parse().map_err(|_| {
            user(format!(
                "--timezone {z:?} is not an IANA time zone name such as Asia/Tokyo, America/New_York or UTC"
            ))
        })?),
    };
    let language = match args.language.as_deref() {
        None => None,
        Some(l) => Some(match l.to_ascii_lowercase().as_str() {
            "ja-jp" | "ja" => Language::JaJp,
            "en-us" | "en" => Language::EnUs,
            _ => return Err(user(format!("--language {l:?}: use ja-JP or en-US"))),
        }),
    };
    Ok(Options { timezone, language })
}

/// Every `*.json` file directly in `dir`, by file name.
fn read_dir(dir: &Path) -> Result<Files> {
    let cannot = |e: std::io::Error| user(format!("cannot read {}: {e}", dir.display()));
    let mut files = Files::new();
    for entry in std::fs::read_dir(dir).map_err(cannot)? {
        let entry = entry.map_err(cannot)?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".json") || !path.is_file() {
            continue;
        }
        let fail = |what: String| user(format!("{}: {what}", path.display()));
        let mut bytes = Vec::new();
        std::fs::File::open(&path)
            .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
            .map_err(|e| fail(format!("cannot read: {e}")))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(fail(format!("larger than {} MiB", MAX_FILE_BYTES >> 20)));
        }
        let text = String::from_utf8(bytes).map_err(|_| fail("not UTF-8 text".into()))?;
        files.insert(name, text);
    }
    Ok(files)
}
