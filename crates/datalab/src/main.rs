//! `datalab`: the command line. Parses flags, builds the one configuration,
//! wires the crates together and runs the chosen command. No business rule
//! lives here.

mod config;
mod demo;
mod import;

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use config::{Config, ConfigArgs};
use datalab_app::App;
use datalab_files::FileStore;
use datalab_search::SearchIndex;
use datalab_store::{NewUser, Store};
use datalab_web::{AppState, WebSettings};

#[derive(Parser)]
#[command(name = "datalab", version, about = "Open data and civic participation in one binary")]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server (pages, CKAN API, native API).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "DATALAB_BIND")]
        bind: Option<SocketAddr>,
        /// Load the demo content first (idempotent).
        #[arg(long)]
        demo: bool,
        /// Run no background jobs (file analyses) in this process: a
        /// `datalab worker` beside it runs them.
        #[arg(long, env = "DATALAB_NO_WORKER")]
        no_worker: bool,
    },
    /// Run background jobs (file analyses) until stopped, beside `serve
    /// --no-worker` or more of the same on the same data.
    Worker {
        /// Run what is queued, retries included, and exit.
        #[arg(long)]
        once: bool,
    },
    /// Load the demo content (idempotent) and exit.
    Demo,
    /// Publish a local file as a resource of a dataset (created if needed)
    /// and analyse it, with progress bars.
    Import {
        file: std::path::PathBuf,
        /// The dataset's name (its URL slug).
        #[arg(long)]
        dataset: String,
        /// The organization of a new dataset.
        #[arg(long)]
        org: Option<String>,
        /// The title of a new dataset (default: its name).
        #[arg(long)]
        title: Option<String>,
        /// The file's encoding, instead of detecting it (for example windows-1252).
        #[arg(long)]
        encoding: Option<String>,
        /// Print the result as JSON (schema, row count, validation summary).
        #[arg(long)]
        json: bool,
    },
    /// Administration tasks.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a user; the password is read from standard input. Re-running
    /// it for an existing user sets a new password.
    CreateUser {
        name: String,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        fullname: String,
        #[arg(long)]
        sysadmin: bool,
    },
    /// Create an API token for a user; the token is the last line printed.
    CreateToken {
        name: String,
        /// A label for the token, to recognise it when revoking it.
        #[arg(long, default_value = "cli")]
        token_name: String,
    },
    /// Rebuild the search index from the database.
    Reindex,
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DATALAB_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tantivy=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Opens the database, file store and search index under the data directory,
/// rebuilding the index when it is new. Takes no lock and removes nothing:
/// an `admin` or `import` command runs beside a serving process.
async fn open(config: &Config, settings: datalab_app::Settings) -> anyhow::Result<App> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let store = Store::open(&config.database_path()).await.context("cannot open the database")?;
    let files = FileStore::local(&config.files_dir(), config.max_upload_bytes)?;
    let (search, created) = SearchIndex::open(&config.search_dir())?;
    let search = Arc::new(search.with_cache_entries(config.search_cache_entries));
    let query = Arc::new(datalab_query::QueryEngine::new(&config.tables_dir(), config.query_settings())?);
    let app = App::new(store, files, search, query, settings);
    if created {
        let count =
            datalab_app::index::reindex_all(&app).await.map_err(|error| anyhow::anyhow!("{}", error.detailed()))?;
        tracing::info!(count, "search index built");
    }
    Ok(app)
}

/// The web layer's settings from the configuration.
fn web_settings(config: &Config) -> WebSettings {
    WebSettings {
        public_url: config.public_url.clone(),
        secure_cookies: config.secure_cookies,
        allowed_hosts: config.allowed_hosts.clone(),
        trusted_proxy_header: config.trusted_proxy_header.clone(),
        trusted_proxies: config.trusted_proxies.clone(),
        login_attempts_per_window: config.login_attempts,
        ..WebSettings::default()
    }
}

/// Queues the analyses a stop between saving an upload and queueing its
/// job left out (jobs a stop interrupted are taken again by a worker once
/// their lease runs out).
async fn queue_missing_analyses(app: &App) -> anyhow::Result<()> {
    let queued = datalab_app::analysis::queue_missing_analyses(app)
        .await
        .map_err(|error| anyhow::anyhow!("{}", error.detailed()))?;
    if queued > 0 {
        tracing::info!(queued, "file analyses queued");
    }
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let bind = match &cli.command {
        Command::Serve { bind, .. } => *bind,
        _ => None,
    };
    let config = Config::load(&cli.config, bind)?;
    init_logging(&config);
    match cli.command {
        Command::Serve { demo: load_demo, no_worker, .. } => {
            let app = open(&config, Default::default()).await?;
            if load_demo {
                demo::load(&app).await?;
            }
            queue_missing_analyses(&app).await?;
            if !no_worker {
                tokio::spawn(datalab_app::jobs::run_worker(app.clone()));
            }
            // What other processes write (an import, an admin command, a
            // worker's analyses) reaches this node's search within a second.
            tokio::spawn(datalab_app::events::run_follower(app.clone()));
            datalab_app::index::spawn_daily_reindex(app.clone());
            // At once and hourly: blobs nothing refers to, and what a crash
            // left half-written (once old enough not to be a command's work
            // in progress beside this server).
            datalab_app::sweeps::spawn_blob_sweeps(app.clone());
            let listener = tokio::net::TcpListener::bind(config.bind)
                .await
                .with_context(|| format!("cannot listen on {}", config.bind))?;
            let address = listener.local_addr()?;
            tracing::info!(%address, data_dir = %config.data_dir.display(), "datalab is serving");
            if config.public_url.is_empty() && !address.ip().is_loopback() {
                tracing::warn!(
                    "no public_url is set: absolute links use the Host header only for loopback names and \
                     allowed_hosts, and http://localhost otherwise; set public_url (DATALAB_PUBLIC_URL) in production"
                );
            }
            println!("datalab: http://{address}/");
            let store = app.store.clone();
            datalab_web::serve(listener, AppState::new(app, web_settings(&config)), shutdown_signal()).await?;
            store.close().await;
        }
        Command::Worker { once } => {
            let app = open(&config, Default::default()).await?;
            queue_missing_analyses(&app).await?;
            if once {
                let ran = datalab_app::jobs::run_pending(&app)
                    .await
                    .map_err(|error| anyhow::anyhow!("{}", error.detailed()))?;
                println!("jobs run: {ran}");
            } else {
                tokio::select! {
                    _ = datalab_app::jobs::run_worker(app.clone()) => {}
                    _ = shutdown_signal() => {}
                }
            }
            app.store.close().await;
        }
        Command::Import { file, dataset, org, title, encoding, json } => {
            let state = open(&config, datalab_app::Settings { background_analysis: false }).await?;
            let request = import::ImportRequest {
                file: &file,
                dataset: &dataset,
                organization: org.as_deref(),
                title: title.as_deref(),
                encoding,
                json,
            };
            let summary = import::run(&state, request).await;
            state.store.close().await;
            let summary = summary?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                println!(
                    "{}: {} filas, codificación {}, {} errores de validación",
                    summary["dataset"].as_str().unwrap_or_default(),
                    summary["rows"],
                    summary["encoding"].as_str().unwrap_or("-"),
                    summary["validation"]["errors"]
                );
                let mixed = &summary["mixed_encoding"];
                if let Some(lines) = mixed["lines"].as_u64() {
                    let first: Vec<String> =
                        mixed["first_lines"].as_array().into_iter().flatten().map(|line| line.to_string()).collect();
                    println!(
                        "aviso: {lines} líneas están en {} (las primeras: {}); cada línea se leyó en su codificación",
                        mixed["encoding"].as_str().unwrap_or_default(),
                        first.join(", ")
                    );
                }
            }
        }
        Command::Demo => {
            let state = open(&config, Default::default()).await?;
            demo::load(&state).await?;
            state.store.close().await;
        }
        Command::Admin(command) => {
            let state = open(&config, Default::default()).await?;
            match command {
                AdminCommand::CreateUser { name, email, fullname, sysadmin } => {
                    let mut password = String::new();
                    std::io::stdin()
                        .read_to_string(&mut password)
                        .context("cannot read the password from standard input")?;
                    let password = password.trim_end_matches(['\r', '\n']);
                    match state.store.user(&name).await {
                        Ok(existing) => {
                            datalab_app::users::set_password(&state, &datalab_app::system_actor(), &existing, password)
                                .await
                                .map_err(describe)?;
                            println!("password of user {name} updated");
                        }
                        Err(datalab_store::StoreError::NotFound) => {
                            let user = datalab_app::users::register(
                                &state,
                                NewUser { name: &name, fullname: &fullname, email: &email, password, sysadmin },
                            )
                            .await
                            .map_err(describe)?;
                            println!("user {} created{}", user.name, if user.sysadmin { " (sysadmin)" } else { "" });
                        }
                        Err(error) => return Err(error.into()),
                    }
                }
                AdminCommand::CreateToken { name, token_name } => {
                    let user = state.store.user(&name).await.map_err(|_| anyhow::anyhow!("no user named {name:?}"))?;
                    let (_, secret) =
                        datalab_app::users::create_token(&state, &datalab_app::system_actor(), &user, &token_name)
                            .await
                            .map_err(describe)?;
                    println!("API token for {} (shown once):", user.name);
                    println!("{}", secret.0);
                }
                AdminCommand::Reindex => {
                    let count = datalab_app::index::reindex_all(&state)
                        .await
                        .map_err(|error| anyhow::anyhow!("{}", error.detailed()))?;
                    println!("search index rebuilt: {count} datasets");
                }
            }
            state.store.close().await;
        }
    }
    Ok(())
}

/// Turns field errors into a readable message for the terminal.
fn describe(error: datalab_app::Error) -> anyhow::Error {
    anyhow::anyhow!("{}", error.detailed())
}
