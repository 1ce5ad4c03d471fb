//! The server's settings: `ferry-dev-s3 <host:port> <root folder>` on the command line, the
//! keys from the environment only (`FERRY_DEV_S3_ACCESS_KEY`, `FERRY_DEV_S3_SECRET_KEY`).

use std::path::PathBuf;

pub struct Config {
    pub address: String,
    pub root: PathBuf,
    pub access_key: String,
    pub secret_key: String,
}

/// What the command line asked for.
pub enum Command {
    Version,
    Serve(Config),
}

impl Command {
    pub fn from_args_and_env() -> Result<Command, String> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.first().map(String::as_str) == Some("--version") {
            return Ok(Command::Version);
        }
        let [address, root] = args.as_slice() else {
            return Err("usage: ferry-dev-s3 <host:port> <root folder> (keys in \
                        FERRY_DEV_S3_ACCESS_KEY and FERRY_DEV_S3_SECRET_KEY)"
                .to_owned());
        };
        let key = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.is_empty())
                .ok_or_else(|| format!("{name} is not set"))
        };
        Ok(Command::Serve(Config {
            address: address.clone(),
            root: PathBuf::from(root),
            access_key: key("FERRY_DEV_S3_ACCESS_KEY")?,
            secret_key: key("FERRY_DEV_S3_SECRET_KEY")?,
        }))
    }
}
