//! What a script sees of the step's variables: environment variables (each name verbatim and
//! `UPPER_SNAKE`), and the bash prelude sourced through `BASH_ENV` that defines
//! `get_octopusvariable NAME` and `set_octopusvariable NAME VALUE`, whose file of outputs is
//! read back here.

use crate::config::INHERITED;

/// The environment-variable spelling of a variable name: letters and digits kept and
/// upper-cased, everything else `_` (`Nginx Port` → `NGINX_PORT`), as the worker spells it.
pub fn environment_name(variable: &str) -> String {
    variable
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Names a variable may not set: what the shell and the helper depend on.
fn is_protected(name: &str) -> bool {
    INHERITED.contains(&name)
        || name.starts_with("LC_")
        || name.starts_with("BASH")
        || [
            "SHELLOPTS",
            "IFS",
            "ENV",
            "PS4",
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
        ]
        .contains(&name)
}

/// Every variable as environment variables, in order (a later one wins), under both
/// spellings; names that cannot be environment variables (empty, with `=` or NUL) and values
/// with a NUL are left out, and so are protected names (they stay readable through
/// `get_octopusvariable`).
pub fn environment(variables: &[(String, String)]) -> Vec<(String, String)> {
    let mut environment = Vec::new();
    for (name, value) in variables {
        if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
            continue;
        }
        for spelling in [name.clone(), environment_name(name)] {
            if !is_protected(&spelling) {
                environment.push((spelling, value.clone()));
            }
        }
    }
    environment
}

/// `value` as one bash word in single quotes.
pub fn single_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

/// The file bash sources before each script (through `BASH_ENV`, so a script's line numbers
/// stay true): the variables in an associative array keyed by lower-cased name,
/// `get_octopusvariable NAME` (prints the value; empty when unknown) and
/// `set_octopusvariable NAME VALUE`, which appends the pair, hex-encoded with coreutils' `od`
/// (no other tool is needed on a target), to `outputs_file`.
pub fn bash_prelude(variables: &[(String, String)], outputs_file: &str) -> String {
    let mut prelude = String::from(
        "# Written by ferry-helper for one run; removed when the run ends.\n\
         declare -A __ferry_variables=(\n",
    );
    for (name, value) in variables {
        if name.contains('\0') || value.contains('\0') {
            continue;
        }
        prelude.push_str(&format!(
            "  [{}]={}\n",
            single_quoted(&name.to_lowercase()),
            single_quoted(value)
        ));
    }
    prelude.push_str(")\n");
    prelude.push_str(
        "get_octopusvariable() { printf '%s' \"${__ferry_variables[${1,,}]-}\"; }\n\
         get_ferryvariable() { get_octopusvariable \"$@\"; }\n\
         __ferry_hex() { printf '%s' \"$1\" | od -An -v -tx1 | tr -d ' \\n'; }\n",
    );
    prelude.push_str(&format!(
        "set_octopusvariable() {{ printf '%s %s\\n' \"$(__ferry_hex \"$1\")\" \"$(__ferry_hex \"$2\")\" >> {}; }}\n\
         set_ferryvariable() {{ set_octopusvariable \"$@\"; }}\n",
        single_quoted(outputs_file)
    ));
    prelude
}

/// The output variables in the order they were set (a name set twice appears twice: the
/// last wins). Lines that do not decode are ignored.
pub fn read_outputs(contents: &str) -> Vec<(String, String)> {
    contents
        .lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(' ')?;
            let name = String::from_utf8(hex::decode(name.trim()).ok()?).ok()?;
            let value = String::from_utf8(hex::decode(value.trim()).ok()?).ok()?;
            (!name.trim().is_empty()).then_some((name, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_both_spellings_and_the_shell_is_protected() {
        let environment = environment(&[
            ("Nginx Port".to_owned(), "8080".to_owned()),
            ("Path".to_owned(), "/evil".to_owned()),
            ("a=b".to_owned(), "x".to_owned()),
        ]);
        assert!(environment.contains(&("Nginx Port".to_owned(), "8080".to_owned())));
        assert!(environment.contains(&("NGINX_PORT".to_owned(), "8080".to_owned())));
        assert!(environment.iter().all(|(name, _)| name != "PATH"));
        assert!(environment.iter().all(|(name, _)| !name.contains('=')));
    }

    #[test]
    fn outputs_are_read_back_and_junk_is_ignored() {
        let contents = format!(
            "{} {}\nnot hex at all\n{} \n",
            hex::encode("Greeting"),
            hex::encode("hello\nworld"),
            hex::encode("Empty")
        );
        assert_eq!(
            read_outputs(&contents),
            vec![
                ("Greeting".to_owned(), "hello\nworld".to_owned()),
                ("Empty".to_owned(), String::new())
            ]
        );
    }
}
