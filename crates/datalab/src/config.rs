//! The one configuration struct, filled from (lowest to highest precedence)
//! built-in defaults, an optional TOML file, `DATALAB_*` environment
//! variables and command-line flags. Every key is documented in
//! `docs/configuration.md`, and a test checks that document names them all.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Clone, PartialEq)]
pub struct Config {
    /// Where the database, files and search index live.
    pub data_dir: PathBuf,
    /// Address the web server listens on.
    pub bind: SocketAddr,
    /// Largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// Public address of the site, for absolute links (empty: from the request).
    pub public_url: String,
    /// Mark cookies Secure (behind HTTPS; the default when `public_url` is https).
    pub secure_cookies: bool,
    /// Host names accepted in absolute links when `public_url` is empty (loopback names always are).
    pub allowed_hosts: Vec<String>,
    /// The header a trusted reverse proxy puts the client's address in (empty: none is trusted).
    pub trusted_proxy_header: String,
    /// The addresses `trusted_proxy_header` is believed from.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Failed logins allowed per account and address in 15 minutes.
    pub login_attempts: u32,
    /// `text` or `json` logs.
    pub log_format: String,
    /// Distinct searches kept in memory between index commits (0: none).
    pub search_cache_entries: usize,
    /// Longest a data query (SQL, a page of rows) may run, in milliseconds (default 5000).
    pub query_time_limit_ms: u64,
    /// Memory the data queries running at once may use together for sorts, joins and aggregations, in bytes (default 256 MiB).
    pub query_memory_limit_bytes: usize,
    /// Most rows a SQL query returns (default 32000).
    pub sql_row_cap: usize,
    /// SQL queries running at once; more wait their turn (default 2).
    pub max_heavy_queries: usize,
    /// Exports streaming at once; more wait their turn (default 2).
    pub max_exports: usize,
    /// Answers of datastore_search and the rows API kept in memory; 0 turns the cache off (default 1024).
    pub query_cache_entries: usize,
}

/// Redacts nothing secret today, but is written by hand so that a future
/// secret (an S3 key, a database password) is never printed by accident.
impl std::fmt::Debug for Config {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("bind", &self.bind)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("public_url", &self.public_url)
            .field("secure_cookies", &self.secure_cookies)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("trusted_proxy_header", &self.trusted_proxy_header)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("login_attempts", &self.login_attempts)
            .field("log_format", &self.log_format)
            .field("search_cache_entries", &self.search_cache_entries)
            .field("query_time_limit_ms", &self.query_time_limit_ms)
            .field("query_memory_limit_bytes", &self.query_memory_limit_bytes)
            .field("sql_row_cap", &self.sql_row_cap)
            .field("max_heavy_queries", &self.max_heavy_queries)
            .field("max_exports", &self.max_exports)
            .field("query_cache_entries", &self.query_cache_entries)
            .finish()
    }
}

/// The keys of the TOML file; all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub bind: Option<SocketAddr>,
    pub max_upload_bytes: Option<u64>,
    pub public_url: Option<String>,
    pub secure_cookies: Option<bool>,
    pub allowed_hosts: Option<Vec<String>>,
    pub trusted_proxy_header: Option<String>,
    pub trusted_proxies: Option<Vec<String>>,
    pub login_attempts: Option<u32>,
    pub log_format: Option<String>,
    pub search_cache_entries: Option<usize>,
    pub query_time_limit_ms: Option<u64>,
    pub query_memory_limit_bytes: Option<usize>,
    pub sql_row_cap: Option<usize>,
    pub max_heavy_queries: Option<usize>,
    pub max_exports: Option<usize>,
    pub query_cache_entries: Option<usize>,
}

/// Values given on the command line or in the environment (clap reads both).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ConfigArgs {
    /// Directory for the database, uploaded files and the search index.
    #[arg(long, env = "DATALAB_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Optional TOML configuration file.
    #[arg(long, env = "DATALAB_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Largest upload accepted, in bytes (default 1 GiB).
    #[arg(long, env = "DATALAB_MAX_UPLOAD_BYTES", global = true)]
    pub max_upload_bytes: Option<u64>,
    /// Public address of the site, for absolute links in the API (for example https://datos.nl.gob.mx).
    #[arg(long, env = "DATALAB_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Mark cookies Secure (default: when the public URL is https).
    #[arg(long, env = "DATALAB_SECURE_COOKIES", global = true)]
    pub secure_cookies: Option<bool>,
    /// Host names accepted in absolute links when no public URL is set, comma-separated (loopback always is).
    #[arg(long, env = "DATALAB_ALLOWED_HOSTS", global = true, value_delimiter = ',')]
    pub allowed_hosts: Option<Vec<String>>,
    /// Header in which a trusted reverse proxy gives the client's address (for example X-Forwarded-For).
    #[arg(long, env = "DATALAB_TRUSTED_PROXY_HEADER", global = true)]
    pub trusted_proxy_header: Option<String>,
    /// Addresses or networks of the proxies whose header is believed, comma-separated (default: loopback).
    #[arg(long, env = "DATALAB_TRUSTED_PROXIES", global = true, value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<String>>,
    /// Failed logins allowed per account and per address in 15 minutes (default 10).
    #[arg(long, env = "DATALAB_LOGIN_ATTEMPTS", global = true)]
    pub login_attempts: Option<u32>,
    /// Log format: text or json.
    #[arg(long, env = "DATALAB_LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
    /// Distinct searches kept in memory between index commits; 0 turns the cache off (default 1024).
    #[arg(long, env = "DATALAB_SEARCH_CACHE_ENTRIES", global = true)]
    pub search_cache_entries: Option<usize>,
    /// Longest a data query (SQL, a page of rows) may run, in milliseconds (default 5000).
    #[arg(long, env = "DATALAB_QUERY_TIME_LIMIT_MS", global = true)]
    pub query_time_limit_ms: Option<u64>,
    /// Memory the data queries running at once may use together for sorts, joins and aggregations, in bytes (default 256 MiB).
    #[arg(long, env = "DATALAB_QUERY_MEMORY_LIMIT_BYTES", global = true)]
    pub query_memory_limit_bytes: Option<usize>,
    /// Most rows a SQL query returns (default 32000).
    #[arg(long, env = "DATALAB_SQL_ROW_CAP", global = true)]
    pub sql_row_cap: Option<usize>,
    /// SQL queries running at once; more wait their turn (default 2).
    #[arg(long, env = "DATALAB_MAX_HEAVY_QUERIES", global = true)]
    pub max_heavy_queries: Option<usize>,
    /// Exports streaming at once; more wait their turn (default 2).
    #[arg(long, env = "DATALAB_MAX_EXPORTS", global = true)]
    pub max_exports: Option<usize>,
    /// Answers of datastore_search and the rows API kept in memory; 0 turns the cache off (default 1024).
    #[arg(long, env = "DATALAB_QUERY_CACHE_ENTRIES", global = true)]
    pub query_cache_entries: Option<usize>,
}

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 1024 * 1024 * 1024;

impl Config {
    pub fn load(arguments: &ConfigArgs, bind: Option<SocketAddr>) -> anyhow::Result<Config> {
        let file = match &arguments.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let log_format = arguments.log_format.clone().or(file.log_format).unwrap_or_else(|| "text".into());
        if !matches!(log_format.as_str(), "text" | "json") {
            anyhow::bail!("log_format must be 'text' or 'json', not {log_format:?}");
        }
        let public_url = arguments.public_url.clone().or(file.public_url).unwrap_or_default();
        let public_url = public_url.trim().trim_end_matches('/').to_string();
        if !public_url.is_empty() {
            let parsed = url::Url::parse(&public_url)
                .map_err(|error| anyhow::anyhow!("public_url {public_url:?} is not a URL: {error}"))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                anyhow::bail!("public_url must be an http or https address, like https://datos.nl.gob.mx");
            }
        }
        let secure_by_default = public_url.starts_with("https://");
        let trusted_proxies = match arguments.trusted_proxies.clone().or(file.trusted_proxies) {
            // Loopback, as the web settings default to.
            None => datalab_web::WebSettings::default().trusted_proxies,
            Some(entries) => entries
                .iter()
                .map(|entry| entry.trim())
                .filter(|entry| !entry.is_empty())
                .map(|entry| {
                    entry
                        .parse::<ipnet::IpNet>()
                        .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                        .map_err(|_| {
                            anyhow::anyhow!("trusted_proxies: {entry:?} is not an address or a network (10.0.0.0/8)")
                        })
                })
                .collect::<anyhow::Result<Vec<_>>>()?,
        };
        Ok(Config {
            data_dir: arguments.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from("datalab-data")),
            bind: bind.or(file.bind).unwrap_or_else(|| DEFAULT_BIND.parse().expect("default address parses")),
            max_upload_bytes: arguments.max_upload_bytes.or(file.max_upload_bytes).unwrap_or(DEFAULT_MAX_UPLOAD_BYTES),
            public_url,
            secure_cookies: arguments.secure_cookies.or(file.secure_cookies).unwrap_or(secure_by_default),
            allowed_hosts: arguments
                .allowed_hosts
                .clone()
                .or(file.allowed_hosts)
                .unwrap_or_default()
                .into_iter()
                .map(|host| host.trim().to_lowercase())
                .filter(|host| !host.is_empty())
                .collect(),
            trusted_proxy_header: arguments
                .trusted_proxy_header
                .clone()
                .or(file.trusted_proxy_header)
                .unwrap_or_default()
                .trim()
                .to_lowercase(),
            trusted_proxies,
            login_attempts: arguments.login_attempts.or(file.login_attempts).unwrap_or(10),
            log_format,
            search_cache_entries: arguments
                .search_cache_entries
                .or(file.search_cache_entries)
                .unwrap_or(datalab_search::DEFAULT_CACHE_ENTRIES),
            query_time_limit_ms: arguments.query_time_limit_ms.or(file.query_time_limit_ms).unwrap_or(5000),
            query_memory_limit_bytes: arguments
                .query_memory_limit_bytes
                .or(file.query_memory_limit_bytes)
                .unwrap_or(256 * 1024 * 1024),
            sql_row_cap: arguments.sql_row_cap.or(file.sql_row_cap).unwrap_or(32_000),
            max_heavy_queries: arguments.max_heavy_queries.or(file.max_heavy_queries).unwrap_or(2),
            max_exports: arguments.max_exports.or(file.max_exports).unwrap_or(2),
            query_cache_entries: arguments.query_cache_entries.or(file.query_cache_entries).unwrap_or(1024),
        })
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("datalab.sqlite")
    }

    pub fn files_dir(&self) -> PathBuf {
        self.data_dir.join("files")
    }

    pub fn search_dir(&self) -> PathBuf {
        self.data_dir.join("search")
    }

    pub fn tables_dir(&self) -> PathBuf {
        self.data_dir.join("tables")
    }

    pub fn query_settings(&self) -> datalab_query::QuerySettings {
        datalab_query::QuerySettings {
            time_limit: std::time::Duration::from_millis(self.query_time_limit_ms.max(1)),
            memory_limit_bytes: self.query_memory_limit_bytes,
            sql_row_cap: self.sql_row_cap.max(1),
            max_heavy_queries: self.max_heavy_queries.max(1),
            max_exports: self.max_exports.max(1),
            threads: 0,
            result_cache_entries: self.query_cache_entries,
            ..datalab_query::QuerySettings::default()
        }
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| anyhow::anyhow!("cannot read configuration file {}: {error}", path.display()))?;
    toml::from_str(&text).map_err(|error| anyhow::anyhow!("configuration file {}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_beats_defaults() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("datalab.toml");
        std::fs::write(&file, "data_dir = \"/srv/datalab\"\nmax_upload_bytes = 1000\nlog_format = \"json\"\n").unwrap();
        let arguments = ConfigArgs { config: Some(file.clone()), max_upload_bytes: Some(5), ..ConfigArgs::default() };
        let config = Config::load(&arguments, None).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/srv/datalab"));
        assert_eq!(config.max_upload_bytes, 5);
        assert_eq!(config.log_format, "json");
        assert_eq!(config.bind.to_string(), DEFAULT_BIND);
        let defaults = Config::load(&ConfigArgs::default(), None).unwrap();
        assert_eq!(defaults.data_dir, PathBuf::from("datalab-data"));
        assert_eq!(defaults.max_upload_bytes, DEFAULT_MAX_UPLOAD_BYTES);
    }

    #[test]
    fn unknown_file_keys_are_errors() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("datalab.toml");
        std::fs::write(&file, "data_dri = \"x\"\n").unwrap();
        let error = Config::load(&ConfigArgs { config: Some(file), ..ConfigArgs::default() }, None).unwrap_err();
        assert!(error.to_string().contains("data_dri"), "{error}");
    }

    #[test]
    fn every_key_is_documented() {
        let documentation = include_str!("../../../docs/configuration.md");
        for key in [
            "data_dir",
            "bind",
            "max_upload_bytes",
            "public_url",
            "secure_cookies",
            "login_attempts",
            "log_format",
            "search_cache_entries",
            "allowed_hosts",
            "trusted_proxy_header",
            "trusted_proxies",
            "max_exports",
            "max_heavy_queries",
        ] {
            assert!(documentation.contains(&format!("`{key}`")), "docs/configuration.md does not document {key}");
            let variable = format!("DATALAB_{}", key.to_uppercase());
            assert!(documentation.contains(&variable), "docs/configuration.md does not document {variable}");
        }
    }
}
