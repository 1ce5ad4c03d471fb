//! `ferry template render` run as a process on temporary files: success, a strict failure
//! with the template's line and column, and Octopus-style lenient pass-through.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Files {
    folder: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        Files {
            folder: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.folder.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

fn ferry_template_render(variables: &Path, template: &Path, lenient: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferry"));
    command.args(["template", "render", "--variables"]);
    command.arg(variables);
    if lenient {
        command.arg("--lenient");
    }
    command
        .arg(template)
        .env_remove("FERRY_API_KEY")
        .env_remove("FERRY_SERVER")
        .output()
        .unwrap()
}

#[test]
fn renders_the_template_exactly_without_a_server() {
    let files = Files::new();
    let variables = files.write(
        "variables.json",
        r#"{
            "Octopus.Action[Deploy web app to Nginx].Package.PackageId": "RandomQuotes.Web",
            "Octopus.Environment.Name": "Test",
            "Octopus.Step[Deploy].Status.Code": "Succeeded",
            "Octopus.Step[Email].Status.Code": "Running",
            "Nginx Port": 8080
        }"#,
    );
    let template = files.write(
        "site.conf",
        "name #{Octopus.Action[Deploy web app to Nginx].Package.PackageId | Replace \"[^a-zA-Z0-9]\" -}-#{Octopus.Environment.Name}\n\
         listen #{Nginx Port}\n\
         #{each step in Octopus.Step}#{step}=#{step.Status.Code};#{/each}\n",
    );

    let output = ferry_template_render(&variables, &template, false);

    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "name RandomQuotes-Web-Test\nlisten 8080\nDeploy=Succeeded;Email=Running;\n"
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_strict_unknown_variable_fails_with_its_line_and_column() {
    let files = Files::new();
    let variables = files.write("variables.json", r#"{"Known": "yes"}"#);
    let template = files.write("site.conf", "#{Known}\n  port #{Nginx Port}\n");

    let output = ferry_template_render(&variables, &template, false);

    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr,
        format!(
            "ferry: {}:2:8: unknown variable `Nginx Port`\n",
            template.display()
        )
    );
}

#[test]
fn lenient_rendering_leaves_unknown_variables_as_written() {
    let files = Files::new();
    let variables = files.write("variables.json", r#"{"Known": "yes"}"#);
    let template = files.write("site.conf", "#{Known} #{ Nginx Port | ToUpper }");

    let output = ferry_template_render(&variables, &template, true);

    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "yes #{ Nginx Port | ToUpper }"
    );
}

#[test]
fn nested_json_values_are_rejected_naming_the_key() {
    let files = Files::new();
    let variables = files.write("variables.json", r#"{"Good": "1", "Nested": {"A": "b"}}"#);
    let template = files.write("site.conf", "#{Good}");

    let output = ferry_template_render(&variables, &template, false);

    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("`Nested`"), "stderr: {stderr}");
}
