//! `ferry`: the command line for CI servers and people. Packs a folder into a versioned
//! package, pushes it, manages environments, lifecycles and projects, creates releases, and
//! deploys them while following progress, with an exit code that reflects the outcome;
//! previews, answers manual interventions and guided failures, cancels and rolls back.
//! `ferry template render` renders an Octostache template locally, without a server.

mod api;
mod config;
mod model;
mod template;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use api::{Server, follow, post, urlencode};
use clap::{Parser, Subcommand};
use ferry_api_types::{
    CreateDeployment, CreateEnvironment, CreateRelease, CreatedDeployment, EnvironmentView,
    PackageView, ProjectView, ReleaseView,
};
use ferry_domain::{PackageId, PackageVersion};
use ferry_packages::PackageFileName;
use ferry_packages::archive::{ArchiveFormat, pack_zip};
use serde_json::Value;

#[derive(Parser)]
#[command(name = "ferry", version, about = "Ferry deployment automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
        /// Pause on a failed step for a person's decision (overrides project and environment).
        #[arg(long, overrides_with = "no_guided_failure")]
        guided_failure: bool,
        /// Fail at once on a failed step (overrides project and environment).
        #[arg(long)]
        no_guided_failure: bool,
        /// Leave a (non-required) step out of this deployment; repeatable.
        #[arg(long = "exclude-step", value_name = "STEP")]
        excluded_steps: Vec<String>,
        #[command(flatten)]
        server: Server,
    },
    /// Create a lifecycle from a JSON file shaped like the API's lifecycle body.
    CreateLifecycle {
        file: PathBuf,
        #[command(flatten)]
        server: Server,
    },
    /// What deploying a release to an environment would do, per step, without deploying.
    Preview {
        #[arg(long)]
        project: String,
        #[arg(long = "release")]
        release_number: String,
        #[arg(long)]
        environment: String,
        #[command(flatten)]
        server: Server,
    },
    /// List the manual interventions and guided failures waiting for a person.
    Interruptions {
        #[command(flatten)]
        server: Server,
    },
    /// Take responsibility for an interruption and answer it.
    Intervene {
        interruption_id: String,
        /// `proceed` or `abort` (manual intervention); `retry`, `ignore` or `abort`
        /// (guided failure).
        result: String,
        #[arg(long)]
        note: Option<String>,
        /// Take the interruption from the person who has taken it.
        #[arg(long)]
        take_over: bool,
        #[command(flatten)]
        server: Server,
    },
    /// Cancel a queued or running deployment.
    Cancel {
        deployment_id: String,
        #[command(flatten)]
        server: Server,
    },
    /// Redeploy the release that succeeded in an environment before the current one.
    Rollback {
        #[arg(long)]
        project: String,
        #[arg(long)]
        environment: String,
        /// Follow the task log until the deployment ends; exit non-zero unless it succeeded.
        #[arg(long)]
        progress: bool,
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
        Command::CreateLifecycle { file, server } => model::create_lifecycle(&server, &file).await,
        Command::Preview {
            project,
            release_number,
            environment,
            server,
        } => model::preview(&server, &project, &release_number, &environment).await,
        Command::Interruptions { server } => model::interruptions(&server).await,
        Command::Intervene {
            interruption_id,
            result,
            note,
            take_over,
            server,
        } => {
            model::intervene(
                &server,
                &interruption_id,
                &result,
                note.as_deref(),
                take_over,
            )
            .await
        }
        Command::Cancel {
            deployment_id,
            server,
        } => model::cancel(&server, &deployment_id).await,
        Command::Rollback {
            project,
            environment,
            progress,
            timeout_seconds,
            server,
        } => {
            let deployment_id = model::rollback(&server, &project, &environment).await?;
            follow_if_asked(&server, &deployment_id, progress, timeout_seconds).await
        }
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
            // Streamed from the disk: a package is never whole in the CLI's memory.
            let opened = tokio::fs::File::open(&file)
                .await
                .with_context(|| format!("reading {}", file.display()))?;
            let length = opened
                .metadata()
                .await
                .with_context(|| format!("reading {}", file.display()))?
                .len();
            let path = format!(
                "/api/packages/{}/{}?overwrite={overwrite}",
                name.package_id, name.version
            );
            let response = server
                .request(reqwest::Method::POST, &path)
                .header("content-type", "application/octet-stream")
                .header("content-length", length)
                .body(reqwest::Body::from(opened))
                .send()
                .await
                .context("reaching the Ferry API")?;
            let pushed: PackageView = api::answer(response).await?;
            println!(
                "Pushed {} {} (sha256 {}, {} bytes)",
                pushed.package_id, pushed.version, pushed.sha256, pushed.size_bytes
            );
            Ok(0)
        }
        Command::CreateEnvironment { name, server } => {
            let request = CreateEnvironment {
                name,
                guided_failure: false,
            };
            let created: EnvironmentView = post(&server, "/api/environments", &request).await?;
            println!("Created environment {}", created.name);
            Ok(0)
        }
        Command::CreateProject { file, server } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            // Sent as written: the API checks it and names the field of any mistake.
            let project: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            let created: ProjectView = post(&server, "/api/projects", &project).await?;
            println!("Created project {}", created.name);
            Ok(0)
        }
        Command::CreateRelease {
            project,
            release_number,
            packages,
            notes,
            server,
        } => {
            let mut pinned = std::collections::BTreeMap::new();
            for package in packages {
                let (id, version) = package
                    .split_once(':')
                    .with_context(|| format!("--package `{package}` must be PackageId:Version"))?;
                pinned.insert(id.to_owned(), version.to_owned());
            }
            let request = CreateRelease {
                release_number,
                notes,
                packages: pinned,
            };
            let path = format!("/api/projects/{}/releases", urlencode(&project));
            let created: ReleaseView = post(&server, &path, &request).await?;
            println!("Created release {} of {project}", created.release_number);
            Ok(0)
        }
        Command::Deploy {
            project,
            release_number,
            environment,
            progress,
            timeout_seconds,
            guided_failure,
            no_guided_failure,
            excluded_steps,
            server,
        } => {
            let request = CreateDeployment {
                project,
                release_number,
                environment,
                excluded_steps,
                guided_failure: (guided_failure || no_guided_failure).then_some(guided_failure),
            };
            let created: CreatedDeployment = post(&server, "/api/deployments", &request).await?;
            println!(
                "Deploying {} release {} to {}",
                request.project, request.release_number, request.environment
            );
            println!("Status page: {}", created.status_url);
            let deployment_id = created.deployment_id.to_string();
            follow_if_asked(&server, &deployment_id, progress, timeout_seconds).await
        }
    }
}

/// With `--progress`, follows the deployment (exit code from its outcome); else exits 0.
async fn follow_if_asked(
    server: &Server,
    deployment_id: &str,
    progress: bool,
    timeout_seconds: u64,
) -> anyhow::Result<i32> {
    if !progress {
        return Ok(0);
    }
    follow(server, deployment_id, Duration::from_secs(timeout_seconds)).await
}

fn pack(base_path: &Path, output: &Path) -> anyhow::Result<()> {
    if !base_path.is_dir() {
        bail!("{} is not a folder", base_path.display());
    }
    let bytes = pack_zip(base_path, Cursor::new(Vec::new()))?.into_inner();
    std::fs::write(output, bytes).with_context(|| format!("writing {}", output.display()))
}
