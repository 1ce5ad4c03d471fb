//! The harness shared by the table-driven case files: a case is a template, its variables,
//! how it runs, and the exact output or the error kind, position and message expected.

// Each case file uses only some of the constructors and constants.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use ferry_templates::{Options, TemplateErrorKind, Variables, check, evaluate_condition, render};

pub type Vars = &'static [(&'static str, &'static str)];

/// How a case runs.
#[derive(Clone, Copy, Debug)]
pub enum Run {
    Strict,
    Lenient,
    /// `check(template)`; an expected output of `""` means "no error".
    Check,
    /// `evaluate_condition(template)`; the expected output is `true` or `false`.
    Condition,
}

pub enum Expect {
    Output(&'static str),
    /// Kind, line, column, and a fragment the message must contain (`""` for any).
    Error(TemplateErrorKind, usize, usize, &'static str),
}

pub struct Case {
    template: &'static str,
    variables: Vars,
    run: Run,
    expect: Expect,
}

pub fn ok(template: &'static str, variables: Vars, output: &'static str) -> Case {
    Case {
        template,
        variables,
        run: Run::Strict,
        expect: Expect::Output(output),
    }
}

pub fn lenient(template: &'static str, variables: Vars, output: &'static str) -> Case {
    Case {
        template,
        variables,
        run: Run::Lenient,
        expect: Expect::Output(output),
    }
}

pub fn fails(
    template: &'static str,
    variables: Vars,
    kind: TemplateErrorKind,
    at: (usize, usize),
    message: &'static str,
) -> Case {
    Case {
        template,
        variables,
        run: Run::Strict,
        expect: Expect::Error(kind, at.0, at.1, message),
    }
}

pub fn fails_lenient(
    template: &'static str,
    variables: Vars,
    kind: TemplateErrorKind,
    at: (usize, usize),
    message: &'static str,
) -> Case {
    Case {
        template,
        variables,
        run: Run::Lenient,
        expect: Expect::Error(kind, at.0, at.1, message),
    }
}

pub fn checks(template: &'static str) -> Case {
    Case {
        template,
        variables: &[],
        run: Run::Check,
        expect: Expect::Output(""),
    }
}

pub fn check_fails(
    template: &'static str,
    kind: TemplateErrorKind,
    at: (usize, usize),
    message: &'static str,
) -> Case {
    Case {
        template,
        variables: &[],
        run: Run::Check,
        expect: Expect::Error(kind, at.0, at.1, message),
    }
}

pub fn condition(template: &'static str, variables: Vars, truth: bool) -> Case {
    let output = if truth { "true" } else { "false" };
    Case {
        template,
        variables,
        run: Run::Condition,
        expect: Expect::Output(output),
    }
}

pub const X1: Vars = &[("X", "1")];
pub const ABC: Vars = &[("Foo", "Abc")];
pub const NGINX: Vars = &[
    (
        "Octopus.Action[Deploy web app to Nginx].Package.PackageId",
        "RandomQuotes.Web",
    ),
    ("Octopus.Environment.Name", "Test"),
    ("Nginx Port", "8080"),
    ("StepName", "Deploy web app to Nginx"),
];
pub const ACTIONS: Vars = &[
    ("Octopus.Action[Package A].Name", "A"),
    ("Octopus.Action[Package A].TargetRoles", "a,b"),
    ("Octopus.Action[Package B].Name", "B"),
    ("Octopus.Action[Package B].TargetRoles", "c"),
    ("Octopus.Action[].Name", "Z"),
    ("Octopus.Action[].TargetRoles", "y"),
];
pub const STEPS: Vars = &[
    ("Octopus.Step[Deploy].Status.Code", "Succeeded"),
    ("Octopus.Step[Smoke test].Status.Code", "Failed"),
    ("Octopus.Step[Smoke test].Status.Error", "exit code 1"),
    ("Octopus.Step[Email].Status.Code", "Running"),
];
pub const EMAIL: &str = "#{each step in Octopus.Step}\nStepName: #{step}\nStatus: #{step.Status.Code}\n#{if step.Status.Error}Error: #{step.Status.Error}#{/if}\n#{/each}\n";
pub const EMAIL_OUTPUT: &str = "\nStepName: Deploy\nStatus: Succeeded\n\n\nStepName: Smoke test\nStatus: Failed\nError: exit code 1\n\nStepName: Email\nStatus: Running\n\n\n";
pub const CALC: Vars = &[
    ("A", "5"),
    ("B", "7"),
    ("Web.Count", "3"),
    ("Text", "abc"),
    ("Chained", "#{A}"),
];
pub const DATE: Vars = &[
    ("Foo", "2030/05/22 09:05:00"),
    ("Format", "HH dd-MMM-yyyy"),
    ("Offset", "2030-05-22T09:05:00+02:00"),
    ("Invalid", "hello World"),
];
pub const COND: Vars = &[
    ("Truthy", "true"),
    ("Falsy", "false"),
    ("Result", "result"),
    ("Octopus", "octopus"),
    ("Compare", "octopus"),
    ("Nginx Port", "80"),
    ("Deferred", "#{Falsy}"),
];

/// Runs every case, then fails once listing every case that did not match.
pub fn run_table(cases: Vec<Case>, at_least: usize) {
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339("2024-03-05T06:07:08.123Z")
        .unwrap()
        .into();
    assert!(
        cases.len() >= at_least,
        "the table has only {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let variables: Variables = case
            .variables
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        let result = match case.run {
            Run::Strict => render(case.template, &variables, &Options::strict(now)),
            Run::Lenient => render(case.template, &variables, &Options::lenient(now)),
            Run::Check => check(case.template).map(|()| String::new()),
            Run::Condition => evaluate_condition(case.template, &variables, &Options::strict(now))
                .map(|truth| truth.to_string()),
        };
        let passed = match (&case.expect, &result) {
            (Expect::Output(expected), Ok(actual)) => expected == actual,
            (Expect::Error(kind, line, column, fragment), Err(error)) => {
                error.kind == *kind
                    && (error.line, error.column) == (*line, *column)
                    && error.to_string().contains(fragment)
            }
            _ => false,
        };
        if !passed {
            failures.push(format!(
                "{:?} {:?}\n    got {result:?}",
                case.run, case.template
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
