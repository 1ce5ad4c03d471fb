//! What a health check learns about a target over its connection: the operating system and
//! architecture (which helper binary it needs), the user the target logs in as, and the free
//! space where deployments go. One command, so a check costs one round trip after login.

use crate::{Connection, Output, SshError};

/// The facts of one target, as its shell reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetFacts {
    /// `uname -s`: `Linux`, `Darwin`, …
    pub os: String,
    /// `uname -m`: `x86_64`, `aarch64`, …
    pub architecture: String,
    /// `id -un`.
    pub user: String,
    /// The login's home folder, where `~/.ferry` goes.
    pub home: String,
    /// Free bytes in the home folder's file system (`df -Pk`).
    pub free_bytes: u64,
}

/// The command a check runs: each fact on a line of its own, prefixed so that whatever the
/// login shell prints first (a banner, a profile's output) is ignored.
const FACTS_COMMAND: &str = "printf 'ferry-os=%s\\n' \"$(uname -s)\"; \
     printf 'ferry-arch=%s\\n' \"$(uname -m)\"; \
     printf 'ferry-user=%s\\n' \"$(id -un)\"; \
     printf 'ferry-home=%s\\n' \"$HOME\"; \
     printf 'ferry-free-kib=%s\\n' \"$(df -Pk \"$HOME\" | awk 'NR==2 {print $4}')\"";

/// The most output a facts command may print (a hostile or broken shell could print for
/// ever): far more than the facts take.
const MOST_OUTPUT: usize = 64 * 1024;

/// Asks the target for its facts. A target without the tools (`uname`, `id`, `df`, `awk`)
/// answers with a reason, which the health check reports.
pub async fn facts(connection: &Connection) -> Result<Result<TargetFacts, String>, SshError> {
    let mut output = Vec::new();
    let status = connection
        .run(FACTS_COMMAND, b"", |piece| {
            if let Output::Stdout(bytes) = piece
                && output.len() < MOST_OUTPUT
            {
                let room = MOST_OUTPUT - output.len();
                output.extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
        })
        .await?;
    if status != 0 {
        return Ok(Err(format!(
            "the facts command exited with status {status} (the target needs bash and coreutils)"
        )));
    }
    Ok(parse_facts(&String::from_utf8_lossy(&output)))
}

fn parse_facts(output: &str) -> Result<TargetFacts, String> {
    let fact = |name: &str| {
        output
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix(&format!("ferry-{name}=")))
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| format!("the target did not report its {name}"))
    };
    let free_kib = fact("free-kib")?;
    Ok(TargetFacts {
        os: fact("os")?,
        architecture: fact("arch")?,
        user: fact("user")?,
        home: fact("home")?,
        free_bytes: free_kib
            .parse::<u64>()
            .map_err(|_| format!("the target reported free space `{free_kib}`, not a number"))?
            .saturating_mul(1024),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_are_read_past_whatever_the_shell_printed_first() {
        let output = "Welcome to web-01\nferry-os=banner lies\nferry-os=Linux\nferry-arch=x86_64\n\
                      ferry-user=deploy\nferry-home=/home/deploy\nferry-free-kib=2048\n";
        assert_eq!(
            parse_facts(output),
            Ok(TargetFacts {
                os: "Linux".into(),
                architecture: "x86_64".into(),
                user: "deploy".into(),
                home: "/home/deploy".into(),
                free_bytes: 2048 * 1024,
            })
        );
        assert_eq!(
            parse_facts("ferry-os=Linux\n"),
            Err("the target did not report its free-kib".into())
        );
        assert!(parse_facts(&output.replace("2048", "lots")).is_err());
    }
}
