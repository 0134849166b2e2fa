//! `switchboard apply PATH…`: workflows kept as files made so on a server, like `kubectl apply`.
//! Every file is read and validated by the server before anything is written; then each workflow
//! is created, or updated when its definition changed (matched by name); `--prune` deletes the
//! store's workflows no file names (an app's workflows are spared); `--dry-run` says what would
//! change and writes nothing.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use reqwest::Method;
use serde_json::Value;
use switchboard_core::jsonc;

use super::{Connection, Refused, Remote, display_pointer};

#[derive(Args)]
pub struct ApplyArgs {
    /// Workflow files, or folders of them (`.json`, `.jsonc`; comments and trailing commas are
    /// fine: the server gets strict JSON).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Say what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Delete the store's workflows that no file names (workflows an app installed are kept).
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub connection: Connection,
}

/// Fields the server adds to a stored workflow; what remains is the definition as applied.
const SERVER_FIELDS: [&str; 7] = [
    "id",
    "format",
    "version",
    "createdAt",
    "updatedAt",
    "warnings",
    "active",
];

pub async fn run(args: &ApplyArgs) -> anyhow::Result<ExitCode> {
    let files = collect(&args.paths)?;
    let mut definitions = Vec::new();
    let mut unreadable = false;
    for file in &files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
        match jsonc::parse(&text) {
            Ok(v) => definitions.push((file.clone(), v)),
            Err(e) => {
                println!(
                    "{}: invalid JSON at line {}, column {}: {e}",
                    file.display(),
                    e.line(),
                    e.column()
                );
                unreadable = true;
            }
        }
    }
    if unreadable {
        println!("nothing applied");
        return Ok(ExitCode::from(1));
    }
    let remote = Remote::connect(&args.connection)?;

    // Everything is checked before anything is written.
    let mut names: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut invalid = false;
    for (file, definition) in &definitions {
        let name = definition["name"].as_str().unwrap_or_default().to_owned();
        if let Some(first) = names.insert(name.clone(), file.clone()) {
            println!(
                "{}: invalid: the name '{name}' is also {}'s",
                file.display(),
                first.display()
            );
            invalid = true;
            continue;
        }
        let request = remote
            .request(Method::POST, "/api/workflows/validate")
            .json(definition);
        let checked = match remote.send(request).await {
            Ok((_, checked)) => checked,
            Err(e) => match e.downcast::<Refused>() {
                Ok(refused) if refused.status == 400 => {
                    println!("{}: invalid: {refused}", file.display());
                    invalid = true;
                    continue;
                }
                Ok(refused) => return Err(refused.into()),
                Err(e) => return Err(e),
            },
        };
        if checked["valid"] != true {
            println!("{}: invalid", file.display());
            for e in checked["errors"].as_array().into_iter().flatten() {
                let pointer = e["pointer"].as_str().unwrap_or_default();
                println!(
                    "  error {}: {}",
                    display_pointer(pointer),
                    e["message"].as_str().unwrap_or("")
                );
            }
            invalid = true;
        }
    }
    if invalid {
        println!("nothing applied");
        return Ok(ExitCode::from(1));
    }

    let stored = remote.all("/api/workflows").await?;
    let by_name: BTreeMap<String, String> = stored
        .iter()
        .filter_map(|w| Some((w["name"].as_str()?.to_owned(), w["id"].as_str()?.to_owned())))
        .collect();
    let verb = |done: &str, would: &str| {
        if args.dry_run {
            would.to_owned()
        } else {
            done.to_owned()
        }
    };
    for (file, definition) in &definitions {
        let name = definition["name"].as_str().unwrap_or_default();
        match by_name.get(name) {
            None => {
                let mut said = format!(
                    "{} {name} ({})",
                    verb("created", "would create"),
                    file.display()
                );
                if !args.dry_run {
                    let request = remote
                        .request(Method::POST, "/api/workflows")
                        .json(definition);
                    let (_, created) = remote.send(request).await?;
                    said.push_str(&format!(
                        ": {} version {}",
                        created["id"].as_str().unwrap_or(""),
                        created["version"]
                    ));
                }
                println!("{said}");
            }
            Some(id) => {
                let current = remote.get(&format!("/api/workflows/{id}")).await?;
                if same_definition(&current, definition) {
                    println!("unchanged {name}: {id} version {}", current["version"]);
                    continue;
                }
                let mut said = format!("{} {name}: {id}", verb("updated", "would update"));
                if !args.dry_run {
                    let request = remote
                        .request(Method::PUT, &format!("/api/workflows/{id}"))
                        .json(definition);
                    let (_, updated) = remote.send(request).await?;
                    said.push_str(&format!(" version {}", updated["version"]));
                }
                println!("{said}");
            }
        }
    }
    if args.prune {
        prune(&remote, &stored, &names, args.dry_run).await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Deletes the stored workflows no file names, except those an installed app holds.
async fn prune(
    remote: &Remote,
    stored: &[Value],
    named: &BTreeMap<String, PathBuf>,
    dry_run: bool,
) -> anyhow::Result<()> {
    let installed: HashSet<String> = remote
        .all("/api/apps")
        .await?
        .iter()
        .flat_map(|app| app["workflows"].as_array().cloned().unwrap_or_default())
        .filter_map(|w| w["id"].as_str().map(str::to_owned))
        .collect();
    for w in stored {
        let (Some(id), Some(name)) = (w["id"].as_str(), w["name"].as_str()) else {
            continue;
        };
        if named.contains_key(name) || installed.contains(id) {
            continue;
        }
        if dry_run {
            println!("would delete {name}: {id}");
            continue;
        }
        match remote
            .send(remote.request(Method::DELETE, &format!("/api/workflows/{id}")))
            .await
        {
            Ok(_) => println!("deleted {name}: {id}"),
            Err(e) if e.downcast_ref::<Refused>().is_some_and(|r| r.status == 404) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Whether the stored workflow is the definition (server fields aside).
fn same_definition(stored: &Value, definition: &Value) -> bool {
    let strip = |v: &Value| match v {
        Value::Object(map) => {
            let mut map = map.clone();
            for f in SERVER_FIELDS {
                map.remove(f);
            }
            Value::Object(map)
        }
        other => other.clone(),
    };
    let active = |v: &Value| v.get("active").and_then(Value::as_bool).unwrap_or(true);
    strip(stored) == strip(definition)
        && (definition.get("active").is_none() || active(stored) == active(definition))
}

/// The files named, and the `.json` / `.jsonc` files in the folders named (not their
/// subfolders), in a stable order.
fn collect(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("read {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_definition(p))
                .collect();
            found.sort();
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            anyhow::bail!("{} is neither a file nor a folder", path.display());
        }
    }
    if files.is_empty() {
        anyhow::bail!(
            "no .json or .jsonc files in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(files)
}

fn is_definition(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("json" | "jsonc")
    )
}
