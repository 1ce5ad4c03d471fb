//! `ferry`: the command line for CI servers and people. Packs a folder into a versioned
//! package, pushes it, manages environments and projects, creates releases, and deploys them
//! while following progress, with an exit code that reflects the outcome. `ferry template
//! render` renders an Octostache template locally, without a server.

mod template;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use ferry_domain::{PackageId, PackageVersion};
use ferry_packages::PackageFileName;
use ferry_packages::archive::{ArchiveFormat, pack_zip};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(name = "ferry", version, about = "Ferry deployment automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Server {
    /// The Ferry API's address.
    #[arg(long, env = "FERRY_SERVER", default_value = "http://127.0.0.1:58080")]
    server: String,
    /// The API key (better given as FERRY_API_KEY than on the command line).
    #[arg(long, env = "FERRY_API_KEY", hide_env_values = true)]
    api_key: String,
}

#[derive(Subcommand)]
enum Command {
    /// Pack a folder into `<id>.<version>.zip`.
    Pack {
        #[arg(long)]
        id: String,
        #[arg(long)]
        version: String,
        /// The folder to pack.
        #[arg(long, default_value = ".")]
        base_path: PathBuf,
        /// Where the zip is written.
        #[arg(long, default_value = ".")]
        out_folder: PathBuf,
    },
    /// Push a package file named `<id>.<version>.zip` or `.tar.gz`.
    Push {
        file: PathBuf,
        /// Replace the version if it was pushed before.
        #[arg(long)]
        overwrite: bool,
        #[command(flatten)]
        server: Server,
    },
    /// Create an environment.
    CreateEnvironment {
        name: String,
        #[command(flatten)]
        server: Server,
    },
    /// Create a project from a JSON file shaped like the API's project body.
    CreateProject {
        file: PathBuf,
        #[command(flatten)]
        server: Server,
    },
    /// Create a release of a project.
    CreateRelease {
        #[arg(long)]
        project: String,
        #[arg(long = "version")]
        release_number: String,
        /// Pin a package version: `PackageId:Version` (repeatable). Others take the latest.
        #[arg(long = "package")]
        packages: Vec<String>,
        #[arg(long)]
        notes: Option<String>,
        #[command(flatten)]
        server: Server,
    },
    /// Deploy a release to an environment.
    Deploy {
        #[arg(long)]
        project: String,
        #[arg(long = "release")]
        release_number: String,
        #[arg(long)]
        environment: String,
        /// Follow the task log until the deployment ends; exit non-zero unless it succeeded.
        #[arg(long)]
        progress: bool,
        /// Give up following after this many seconds.
        #[arg(long, default_value_t = 3600)]
        timeout_seconds: u64,
        #[command(flatten)]
        server: Server,
    },
    /// Work with Octostache templates locally (no server or API key needed).
    Template {
        #[command(subcommand)]
        command: TemplateCommand,
    },
}

#[derive(Subcommand)]
enum TemplateCommand {
    /// Render a template file, printing the result exactly; exit 1 on a template error.
    Render {
        /// A flat JSON object of variable names to string values.
        #[arg(long = "variables", value_name = "VARS.json")]
        variables_file: PathBuf,
        /// Leave unknown variables as written (Octopus's behaviour) instead of failing.
        #[arg(long)]
        lenient: bool,
        /// The template to render.
        template_file: PathBuf,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    match run(cli.command).await {
        Ok(code) => std::process::exit(code),
        Err(error) => {
            eprintln!("ferry: {error:#}");
            std::process::exit(2);
        }
    }
}

async fn run(command: Command) -> anyhow::Result<i32> {
    match command {
        Command::Template {
            command:
                TemplateCommand::Render {
                    variables_file,
                    lenient,
                    template_file,
                },
        } => template::render_file(&template::RenderRequest {
            template_file,
            variables_file,
            lenient,
        }),
        Command::Pack {
            id,
            version,
            base_path,
            out_folder,
        } => {
            let name = PackageFileName {
                package_id: PackageId::parse(&id)?,
                version: PackageVersion::parse(&version)?,
                format: ArchiveFormat::Zip,
            };
            let output = out_folder.join(name.file_name());
            pack(&base_path, &output)?;
            println!("{}", output.display());
            Ok(0)
        }
        Command::Push {
            file,
            overwrite,
            server,
        } => {
            let file_name = file
                .file_name()
                .and_then(|n| n.to_str())
                .context("the package path has no file name")?;
            let name = PackageFileName::parse(file_name)?;
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let url = format!(
                "{}/api/packages/{}/{}?overwrite={overwrite}",
                server.server.trim_end_matches('/'),
                name.package_id,
                name.version
            );
            let response = client()
                .post(url)
                .header("x-ferry-apikey", &server.api_key)
                .header("content-type", "application/octet-stream")
                .body(bytes)
                .send()
                .await
                .context("reaching the Ferry API")?;
            let body = answer(response).await?;
            println!(
                "Pushed {} {} (sha256 {}, {} bytes)",
                body["package_id"].as_str().unwrap_or_default(),
                body["version"].as_str().unwrap_or_default(),
                body["sha256"].as_str().unwrap_or_default(),
                body["size_bytes"]
            );
            Ok(0)
        }
        Command::CreateEnvironment { name, server } => {
            let body = post(&server, "/api/environments", &json!({ "name": name })).await?;
            println!(
                "Created environment {}",
                body["name"].as_str().unwrap_or_default()
            );
            Ok(0)
        }
        Command::CreateProject { file, server } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let project: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            let body = post(&server, "/api/projects", &project).await?;
            println!(
                "Created project {}",
                body["name"].as_str().unwrap_or_default()
            );
            Ok(0)
        }
        Command::CreateRelease {
            project,
            release_number,
            packages,
            notes,
            server,
        } => {
            let mut pinned = serde_json::Map::new();
            for package in packages {
                let (id, version) = package
                    .split_once(':')
                    .with_context(|| format!("--package `{package}` must be PackageId:Version"))?;
                pinned.insert(id.to_owned(), Value::String(version.to_owned()));
            }
            let mut request = json!({ "release_number": release_number, "packages": pinned });
            if let Some(notes) = notes {
                request["notes"] = Value::String(notes);
            }
            let path = format!("/api/projects/{}/releases", urlencode(&project));
            let body = post(&server, &path, &request).await?;
            println!(
                "Created release {} of {project}",
                body["release_number"].as_str().unwrap_or_default()
            );
            Ok(0)
        }
        Command::Deploy {
            project,
            release_number,
            environment,
            progress,
            timeout_seconds,
            server,
        } => {
            let body = post(
                &server,
                "/api/deployments",
                &json!({ "project": project, "release_number": release_number, "environment": environment }),
            )
            .await?;
            let deployment_id = body["deployment_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            println!("Deploying {project} release {release_number} to {environment}");
            println!(
                "Status page: {}",
                body["status_url"].as_str().unwrap_or_default()
            );
            if !progress {
                return Ok(0);
            }
            follow(
                &server,
                &deployment_id,
                Duration::from_secs(timeout_seconds),
            )
            .await
        }
    }
}

fn pack(base_path: &Path, output: &Path) -> anyhow::Result<()> {
    if !base_path.is_dir() {
        bail!("{} is not a folder", base_path.display());
    }
    let bytes = pack_zip(base_path, Cursor::new(Vec::new()))?.into_inner();
    std::fs::write(output, bytes).with_context(|| format!("writing {}", output.display()))
}

/// Prints new task-log lines until the deployment ends; the exit code is 0 only on success.
async fn follow(server: &Server, deployment_id: &str, timeout: Duration) -> anyhow::Result<i32> {
    let started = std::time::Instant::now();
    let mut printed = 0;
    loop {
        let deployment = get(server, &format!("/api/deployments/{deployment_id}")).await?;
        if let Some(lines) = deployment["log"].as_array() {
            for line in lines.iter().skip(printed) {
                let step = line["step"]
                    .as_str()
                    .map(|s| format!("[{s}] "))
                    .unwrap_or_default();
                println!("{step}{}", line["text"].as_str().unwrap_or_default());
            }
            printed = printed.max(lines.len());
        }
        let status = deployment["status"].as_str().unwrap_or_default();
        match status {
            "Success" => {
                println!("Deployment succeeded");
                return Ok(0);
            }
            "Failed" | "Canceled" => {
                println!(
                    "Deployment {}: {}",
                    status.to_lowercase(),
                    deployment["error"].as_str().unwrap_or("no reason recorded")
                );
                return Ok(1);
            }
            _ => {}
        }
        if started.elapsed() > timeout {
            bail!(
                "deployment {deployment_id} still {status} after {} seconds",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

fn urlencode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn post(server: &Server, path: &str, body: &Value) -> anyhow::Result<Value> {
    let response = client()
        .post(format!("{}{path}", server.server.trim_end_matches('/')))
        .header("x-ferry-apikey", &server.api_key)
        .json(body)
        .send()
        .await
        .context("reaching the Ferry API")?;
    answer(response).await
}

async fn get(server: &Server, path: &str) -> anyhow::Result<Value> {
    let response = client()
        .get(format!("{}{path}", server.server.trim_end_matches('/')))
        .header("x-ferry-apikey", &server.api_key)
        .send()
        .await
        .context("reaching the Ferry API")?;
    answer(response).await
}

/// The JSON body of a successful response, or the API's error message as an error.
async fn answer(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let message = body["error"]["message"].as_str().unwrap_or("no details");
    bail!("the API answered {status}: {message}")
}
