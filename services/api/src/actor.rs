//! Who is making a request, as the audit log and interruptions record it.
//!
//! Until users and teams exist, every caller holds the one API key; the actor's name is the
//! user name of HTTP Basic authentication when one is given (browsers, `ferry` with
//! `FERRY_USER`), else `api-key`. It is a label for people reading the record, not a
//! permission.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    /// The longest name kept; longer ones are cut.
    const MAX_CHARS: usize = 100;

    pub fn from_user_name(user: Option<&str>) -> Self {
        match user.map(str::trim).filter(|user| !user.is_empty()) {
            Some(user) => Actor(
                user.chars()
                    .filter(|c| !c.is_control())
                    .take(Self::MAX_CHARS)
                    .collect(),
            ),
            None => Actor("api-key".to_owned()),
        }
    }

    pub fn name(&self) -> &str {
        &self.0
    }
}
