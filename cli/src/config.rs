//! The CLI's settings: where the API is, the key, and who you are, from the command line or
//! the `FERRY_SERVER`, `FERRY_API_KEY` and `FERRY_USER` environment variables (read by clap
//! here, the CLI's one configuration module).

use clap::Args;

#[derive(Args, Clone)]
pub struct Server {
    /// The Ferry API's address.
    #[arg(long, env = "FERRY_SERVER", default_value = "http://127.0.0.1:58080")]
    pub server: String,
    /// The API key (better given as FERRY_API_KEY than on the command line).
    #[arg(long, env = "FERRY_API_KEY", hide_env_values = true)]
    pub api_key: String,
    /// Who you are, for the audit log and interventions (sent as the HTTP Basic user name).
    #[arg(long, env = "FERRY_USER")]
    pub user: Option<String>,
}
