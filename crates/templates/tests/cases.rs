//! The table of Octostache behaviours Ferry's template engine must reproduce: substitution,
//! names and text, values that are templates, strict and lenient unknowns, syntax errors,
//! `#{if}`, `#{each}`, `#{calc}`, `check` and `evaluate_condition`. Filters are in
//! `filter_cases.rs`.

#![allow(clippy::unwrap_used)]

mod support;

use TemplateErrorKind::{Calculation, SelfReference, Syntax, UnknownFilter, UnknownVariable};
use chrono::Utc;
use ferry_templates::{Options, TemplateErrorKind, Variables, is_truthy, render};
use support::*;

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        // Substitution, names and text.
        ok("Hello", &[], "Hello"),
        ok("Hello, #{Location}!", &[("Location", "World")], "Hello, World!"),
        ok("#{location}", &[("Location", "World")], "World"),
        ok("#{LOCATION}", &[("location", "World")], "World"),
        ok("#{ Location }", &[("Location", "World")], "World"),
        ok("#{Octopus.Environment.Name}", NGINX, "Test"),
        ok("#{octopus.environment.NAME}", NGINX, "Test"),
        ok("#{Octopus . Environment . Name}", NGINX, "Test"),
        ok("#{Nginx Port}", NGINX, "8080"),
        ok("#{Octopus.Action[Deploy web app to Nginx].Package.PackageId}", NGINX, "RandomQuotes.Web"),
        ok("#{Octopus.Action[deploy WEB app to nginx].package.packageid}", NGINX, "RandomQuotes.Web"),
        ok("#{Octopus.Action[#{StepName}].Package.PackageId}", NGINX, "RandomQuotes.Web"),
        ok("#{Package[container[0]].Name}", &[("Package[container[0]].Name", "A")], "A"),
        ok("#{Octopus.Action[].Name}", ACTIONS, "Z"),
        ok("#{Octopus.Action[*].Name}", ACTIONS, "A"),
        ok("#{Octopus.Action[Package A].TargetRoles}", ACTIONS, "a,b"),
        ok("a\r\n#{X}\r\n", X1, "a\r\n1\r\n"),
        ok("#{X}\n", X1, "1\n"),
        ok("\n\n#{X}\n\n", X1, "\n\n1\n\n"),
        ok("héllo #{X} wörld", X1, "héllo 1 wörld"),
        ok("{{ not jinja }} {% raw %} {# c #} #{X}", X1, "{{ not jinja }} {% raw %} {# c #} 1"),
        ok("} #{X} }{", X1, "} 1 }{"),
        ok("#{Q}", &[("Q", "a\"b\\c'd{{e}}")], "a\"b\\c'd{{e}}"),
        ok("# ## ###", &[], "# ## ###"),
        ok("###### hello", &[], "###### hello"),
        ok("##{foo}", &[("foo", "Abc")], "#{foo}"),
        ok("###{foo}", &[("foo", "Abc")], "#Abc"),
        ok("#", &[], "#"),
        ok("a#b #c", &[], "a#b #c"),
        ok("##{Not.Replaced} #{X}", X1, "#{Not.Replaced} 1"),
        ok("C#{X}#", X1, "C1#"),
        ok("#{X}#{X}", X1, "11"),
        ok("{\u{7}\"\\#{X}", X1, "{\u{7}\"\\1"),
        // Values that are templates themselves.
        ok("#{Foo}", &[("Foo", "#{Bar}"), ("Bar", "Baz")], "Baz"),
        ok("#{Foo}", &[("Foo", "#{Bar | ToLower}"), ("Bar", "Baz")], "baz"),
        ok("#{Foo|ToUpper}", &[("Foo", "#{Bar | ToLower}"), ("Bar", "Baz")], "BAZ"),
        ok("#{InstallPath}", &[("InstallPath", "C:\\#{Directory}"), ("Directory", "MyDirectory")], "C:\\MyDirectory"),
        ok("#{A}", &[("A", "a#{B}"), ("B", "b#{C}"), ("C", "c")], "abc"),
        ok("#{A}", &[("A", "price #{")], "price #{"),
        ok("#{A}", &[("A", "##{B}"), ("B", "x")], "#{B}"),
        ok("#{A}", &[("A", "#{B | Bogus}")], "#{B | Bogus}"),
        ok("#{A}#{A}", &[("A", "#{B}"), ("B", "1")], "11"),
        fails("#{A}", &[("A", "#{A}")], SelfReference, (1, 1), "variable `A` refers to itself (A → A)"),
        fails("x #{A}", &[("A", "#{B}"), ("B", "#{A}")], SelfReference, (1, 3), "variable `A` refers to itself (A → B → A)"),
        fails("#{A}", &[("A", "#{B}"), ("B", "#{C}"), ("C", "#{B}")], SelfReference, (1, 1), "(B → C → B)"),
        fails_lenient("#{A}", &[("A", "#{A}")], SelfReference, (1, 1), "refers to itself"),
        fails("\n  #{A}", &[("A", "x#{Missing}")], UnknownVariable, (2, 3), "unknown variable `Missing` (in the value of `A`)"),
        fails("#{A}", &[("A", "#{B}"), ("B", "#{C}")], UnknownVariable, (1, 1), "unknown variable `C` (in the value of `B`, in the value of `A`)"),
        lenient("#{A}", &[("A", "x#{Missing}")], "x#{Missing}"),
        // Strict and lenient unknown variables.
        fails("#{Nope}", &[], UnknownVariable, (1, 1), "unknown variable `Nope`"),
        fails("line one\nline two #{Nginx Port}", &[], UnknownVariable, (2, 10), "line 2, column 10: unknown variable `Nginx Port`"),
        fails("héllo #{Nope}", &[], UnknownVariable, (1, 7), ""),
        fails("#{A[#{Nope}]}", &[], UnknownVariable, (1, 1), "unknown variable `Nope`"),
        fails("#{X | Replace #{Nope}}", X1, UnknownVariable, (1, 15), "unknown variable `Nope`"),
        fails("#{Missing | ToUpper}", &[], UnknownVariable, (1, 1), "unknown variable `Missing`"),
        lenient("#{Nope}", &[], "#{Nope}"),
        lenient("#{ Nope | ToUpper }", &[], "#{ Nope | ToUpper }"),
        lenient("#{X}-#{Nope}-#{X}", X1, "1-#{Nope}-1"),
        lenient("#{A[#{Nope}].B}", &[], "#{A[#{Nope}].B}"),
        lenient("#{X | Replace #{Nope}}", X1, "1"),
        // Syntax errors.
        fails("#{", &[], Syntax, (1, 1), "`#{` is never closed by `}`"),
        fails("ab\ncd #{X", &[], Syntax, (2, 4), "never closed"),
        fails("#{X!}", X1, Syntax, (1, 1), "unexpected `!`"),
        fails("#{}", &[], Syntax, (1, 1), "names no variable"),
        fails("a #{/if}", &[], Syntax, (1, 3), "`#{/if}` has no matching `#{if …}`"),
        fails("\n#{if X}a", X1, Syntax, (2, 1), "`#{if` at line 2, column 1 is never closed by `#{/if}`"),
        fails("#{unless X}a#{else}b", X1, Syntax, (1, 1), "never closed by `#{/unless}`"),
        fails("#{each a in X}a", X1, Syntax, (1, 1), "never closed by `#{/each}`"),
        fails("x\n#{if X}\n#{each a in B}#{/if}", X1, Syntax, (3, 15), "does not close the `#{each` at line 3, column 1"),
        fails("#{else}", &[], Syntax, (1, 1), "`#{else}` is not inside"),
        fails("#{each x in Y}#{else}#{/each}", &[], Syntax, (1, 15), "cannot be used inside `#{each`"),
        fails("#{if A}#{else}#{else}#{/if}", &[], Syntax, (1, 15), "a second `#{else}`"),
        fails("#{each item}#{/each}", &[], Syntax, (1, 1), "expected `#{each <name> in <collection>}`"),
        fails("#{X | }", X1, Syntax, (1, 1), "expected a filter name"),
        fails("#{X | Replace \"abc}", X1, Syntax, (1, 1), "never closed by `\"`"),
        fails("#{A.}", &[], Syntax, (1, 1), "expected a name after `.`"),
        fails("#{A[x}", &[], Syntax, (1, 1), "never closed by `]`"),
        fails("#{calc 1 +}", &[], Syntax, (1, 1), "expected a number"),
        fails("#{calc (1 + 2}", &[], Syntax, (1, 1), "expected `)`"),
        fails("#{/foo}", &[], Syntax, (1, 1), "`#{/` must be followed by"),
        fails("#{if A == }#{/if}", &[], Syntax, (1, 1), "expected a quoted string or a variable name"),
        fails_lenient("ok #{", &[], Syntax, (1, 4), ""),
        fails("#{X | ToLowr}", X1, UnknownFilter, (1, 1), "unknown filter `ToLowr`"),
        fails("a\nb\n  #{X | Nope 1}", X1, UnknownFilter, (3, 3), "unknown filter `Nope`"),
        fails_lenient("#{Foo | ToBazooka}", ABC, UnknownFilter, (1, 1), "`ToBazooka`"),
        // Conditionals.
        ok("#{if Truthy}#{Result}#{/if}", COND, "result"),
        ok("#{if Falsy}#{Result}#{/if}", COND, ""),
        ok("#{ if Truthy}#{Result}#{/if}", COND, "result"),
        ok("#{if Truthy  }#{Result}#{/if}", COND, "result"),
        ok("#{IF Truthy}y#{/if}", COND, "y"),
        ok("#{unless Falsy}#{Result}#{/unless}", COND, "result"),
        ok("#{unless Truthy}#{Result}#{/unless}", COND, ""),
        ok("#{if Falsy}y#{else}n#{/if}", COND, "n"),
        ok("#{unless Falsy}y#{else}n#{/unless}", COND, "y"),
        ok("#{if Nope}y#{else}n#{/if}", COND, "n"),
        ok("#{if Octopus == Compare}#{Result}#{/if}", COND, "result"),
        ok("#{if Octopus == \"octopus\"}#{Result}#{/if}", COND, "result"),
        ok("#{if Octopus==\"octopus\"}y#{/if}", COND, "y"),
        ok("#{if Octopus == \"Octopus\"}y#{else}n#{/if}", COND, "n"),
        ok("#{if Missing != \"software\"}#{Result}#{/if}", COND, "result"),
        ok("#{if Octopus != Compare}y#{else}n#{/if}", COND, "n"),
        ok("#{if Octopus == \\\"octopus\\\"}y#{/if}", COND, "y"),
        ok("#{if Octopus == 'octopus'}y#{/if}", COND, "y"),
        ok("#{if Nginx Port == \"80\"}y#{/if}", COND, "y"),
        ok("#{if Deferred}y#{else}n#{/if}", COND, "n"),
        ok("#{if Truthy}#{if Falsy}a#{else}b#{/if}#{/if}", COND, "b"),
        ok("#{if Truthy}\nA\n#{/if}\n", COND, "\nA\n\n"),
        fails("#{if A}y#{/if}", &[("A", "#{Missing}")], UnknownVariable, (1, 1), "(in the value of `A`)"),
        ok("#{if V}y#{else}n#{/if}", &[("V", "0")], "n"),
        ok("#{if V}y#{else}n#{/if}", &[("V", "")], "n"),
        ok("#{if V}y#{else}n#{/if}", &[("V", "No")], "n"),
        ok("#{if V}y#{else}n#{/if}", &[("V", " FALSE ")], "n"),
        ok("#{if V}y#{else}n#{/if}", &[("V", "1")], "y"),
        ok("#{if V}y#{else}n#{/if}", &[("V", "yes")], "y"),
        ok("#{if V}y#{else}n#{/if}", &[("V", " ")], "y"),
        ok("#{if V}y#{else}n#{/if}", &[("V", "0.0")], "y"),
        ok("#{if V}y#{else}n#{/if}", &[("V", "nope")], "y"),
        // Repetition.
        ok("#{each a in Numbers}#{a};#{/each}", &[("Numbers", "A,B,C")], "A;B;C;"),
        ok("#{each a in Numbers}[#{a}]#{/each}", &[("Numbers", "A, B")], "[A][ B]"),
        ok("#{each a in Numbers}[#{a}]#{/each}", &[("Numbers", "")], "[]"),
        ok("Ok#{each nothing in missing}#{nothing}#{/each}", &[], "Ok"),
        ok("#{each a in Numbers}#{a} First:#{Octopus.Template.Each.First} Last:#{Octopus.Template.Each.Last} Index:#{Octopus.Template.Each.Index}, #{/each}", &[("Numbers", "A,B,C")], "A First:True Last:False Index:0, B First:False Last:False Index:1, C First:False Last:True Index:2, "),
        ok("#{each a in Octopus.Action}#{a}|#{/each}", ACTIONS, "Package A|Package B||"),
        ok("#{each a in Octopus.Action}#{a}-#{a.Name}#{/each}", ACTIONS, "Package A-APackage B-B-Z"),
        ok("#{each a in Octopus.Action}#{each tr in a.TargetRoles}#{a.Name}#{tr}#{/each}#{/each}", ACTIONS, "AaAbBcZy"),
        ok("#{each a in Octopus.Action}#{a.Name}#{/each}", &[("PA", "A"), ("PB", "B"), ("Octopus.Action[Package A].Name", "#{PA}"), ("Octopus.Action[Package B].Name", "#{PB}")], "AB"),
        ok("#{each action in Octopus.Action}#{if Octopus.Step[#{action.StepName}].Status != \"Skipped\"}#{Octopus.Step[#{action.StepName}].Details}#{/if}#{/each}", &[("Octopus.Action[Action 1].StepName", "Step 1"), ("Octopus.Action[Action 2].StepName", "Step 2"), ("Octopus.Step[Step 1].Details", "Step 1 Details"), ("Octopus.Step[Step 2].Details", "Step 2 Details"), ("Octopus.Step[Step 1].Status", "Skipped"), ("Octopus.Step[Step 2].Status", "Running")], "Step 2 Details"),
        ok("#{each a in Octopus.Action.Package}#{a}: #{a.Name} #{/each}", &[("Octopus.Action.Package[container[0]].Name", "A"), ("Octopus.Action.Package[container[1]].Name", "B")], "container[0]: A container[1]: B "),
        ok(EMAIL, STEPS, EMAIL_OUTPUT),
        ok("#{each s in Octopus.Step}#{s},#{/each}", &[("Octopus.Step[Zeta].A", "1"), ("Octopus.Step[Alpha].A", "2"), ("Octopus.Step[zeta].B", "3")], "Zeta,Alpha,"),
        ok("#{each s in Octopus.Step}#{s}#{/each}", &[("Octopus.Step[Deploy]", "Deploy to #{Env}"), ("Env", "Test"), ("Octopus.Step[Deploy].Status", "x")], "Deploy to Test"),
        ok("#{step}|#{each step in L}#{step}#{/each}|#{step}", &[("step", "global"), ("L", "1,2")], "global|12|global"),
        ok("#{each a in L}#{a.Extra}#{/each}", &[("L", "1,2"), ("a.Extra", "g")], "gg"),
        fails("#{each a in Octopus.Action}#{a.Nope}#{/each}", ACTIONS, UnknownVariable, (1, 28), "unknown variable `a.Nope`"),
        ok("#{each a in X}#{each b in Y}#{Octopus.Template.Each.Index}#{/each}#{/each}", &[("X", "1,2"), ("Y", "p,q")], "0101"),
        ok("#{each a in X}#{each b in Y}#{a}#{b} #{/each}#{/each}", &[("X", "1,2"), ("Y", "p,q")], "1p 1q 2p 2q "),
        ok("#{EACH a IN X}#{a}#{/each}", &[("X", "1,2")], "12"),
        ok("#{each a in X}\n#{a}\n#{/each}", &[("X", "1,2")], "\n1\n\n2\n"),
        ok("#{each a in X}#{if Octopus.Template.Each.Last}#{a}#{else}#{a}, #{/if}#{/each}", &[("X", "x,y,z")], "x, y, z"),
        ok("#{each a in X}#{a | ToUpper}#{/each}", &[("X", "x,y")], "XY"),
        fails("#{Octopus.Template.Each.Index}", &[], UnknownVariable, (1, 1), "`Octopus.Template.Each.Index`"),
        // Calculations.
        ok("#{calc 3+2}", CALC, "5"),
        ok("#{calc 3-2}", CALC, "1"),
        ok("#{calc 3*2}", CALC, "6"),
        ok("#{calc 3/2}", CALC, "1.5"),
        ok("#{calc 3*2+2*4}", CALC, "14"),
        ok("#{calc 3*(2+2)*4}", CALC, "48"),
        ok("#{calc A+2}", CALC, "7"),
        ok("#{calc A+B}", CALC, "12"),
        ok("#{calc A * (B + 1)}", CALC, "40"),
        ok("#{calc Web.Count * 2}", CALC, "6"),
        ok("#{calc 0.1 + 0.2}", CALC, "0.30000000000000004"),
        ok("#{calc -A + 1}", CALC, "-4"),
        ok("#{calc 7 % 3}", CALC, "1"),
        ok("#{calc Chained * 2}", CALC, "10"),
        ok("#{calc 1000000 * 1000000}", CALC, "1000000000000"),
        ok("#{calc 2 - -A}", CALC, "7"),
        ok("#{calc --A}", CALC, "5"),
        ok("#{calc -(A + 1) * 2}", CALC, "-12"),
        ok("#{calc 10 - (4 - 1)}", CALC, "7"),
        ok("#{calc 100 / 10 / 5}", CALC, "2"),
        ok("#{calc 2 * (3 - 4) * B}", CALC, "-14"),
        fails("#{calc C+2}", CALC, UnknownVariable, (1, 1), "unknown variable `C`"),
        lenient("#{calc C+2}", CALC, "#{calc C+2}"),
        fails("x #{calc A / (B - 7)}", CALC, Calculation, (1, 3), "division by zero"),
        fails("#{calc Text + 1}", CALC, Calculation, (1, 1), "`Text` is not a number (its value is `abc`)"),
        lenient("#{calc Text + 1}", CALC, "#{calc Text + 1}"),
        lenient("#{calc A / 0}", CALC, "#{calc A / 0}"),
        fails("#{calc 7.5 % 2}", CALC, Calculation, (1, 1), "whole numbers"),
        // Save-time checks.
        checks("#{each s in Octopus.Step}#{s | ToUpper}#{if s.Error}#{s.Error}#{/if}#{/each}"),
        checks("#{Unknown.Variable} #{calc Nothing * 2}"),
        check_fails("ok\n  #{X | ToLowr}", UnknownFilter, (2, 3), "unknown filter `ToLowr`"),
        check_fails("#{X | Replace #{Y | Nope}}", UnknownFilter, (1, 15), "unknown filter `Nope`"),
        check_fails("#{if X}", Syntax, (1, 1), "never closed"),
        // Conditions and truthiness.
        condition("#{unless Octopus.Deployment.Error}true#{/unless}", &[], true),
        condition("#{unless Octopus.Deployment.Error}true#{/unless}", &[("Octopus.Deployment.Error", "boom")], false),
        condition("#{if Env == \"Production\"}True#{/if}", &[("Env", "Production")], true),
        condition("#{Enabled}", &[("Enabled", "False")], false),
        condition("#{Enabled}", &[("Enabled", "yes")], true),
        condition("0", &[], false),
    ]
}

#[test]
fn every_case_renders_as_octostache_would() {
    run_table(cases(), 150);
}

#[test]
fn truthiness_follows_octostache() {
    for falsy in [
        "", "0", "no", "No", "NO", "false", "False", " false ", "\tno\n",
    ] {
        assert!(!is_truthy(falsy), "{falsy:?} should be falsy");
    }
    for truthy in [" ", "1", "true", "yes", "0.0", " 0", "nope", "False!"] {
        assert!(is_truthy(truthy), "{truthy:?} should be truthy");
    }
}

#[test]
fn variables_ignore_case_and_keep_first_insertion_names() {
    let mut variables = Variables::new();
    variables.insert("Octopus.Action[Deploy].Name", "first");
    variables.insert("Other", "x");
    variables.insert("octopus.action[DEPLOY].name", "second");
    assert_eq!(variables.get("OCTOPUS.ACTION[deploy].NAME"), Some("second"));
    assert_eq!(variables.get("missing"), None);
    let names: Vec<(&str, &str)> = variables.iter().collect();
    assert_eq!(
        names,
        vec![("Octopus.Action[Deploy].Name", "second"), ("Other", "x")]
    );
}

#[test]
fn errors_display_their_position() {
    let error = render(
        "a\n  #{Nope}",
        &Variables::new(),
        &Options::strict(Utc::now()),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "line 2, column 3: unknown variable `Nope`"
    );
}

#[test]
fn a_value_that_does_not_parse_is_used_exactly_as_written_in_both_paths() {
    let now = chrono::Utc::now();
    let raw = "a##{b#{c";
    let variables: Variables = [("Pw".to_owned(), raw.to_owned())].into_iter().collect();
    for options in [Options::strict(now), Options::lenient(now)] {
        // Expanding a variable set's values (the worker's environment) …
        let expanded = ferry_templates::render_all(&[raw], &variables, &options);
        assert_eq!(expanded[0].as_ref().unwrap(), raw, "{options:?}");
        // … and reading the variable in a template give the same text.
        assert_eq!(render("#{Pw}", &variables, &options).unwrap(), raw);
    }
}

#[test]
fn a_lenient_check_accepts_what_lenient_rendering_echoes() {
    assert!(ferry_templates::check("echo #{Foo").is_err());
    assert_eq!(ferry_templates::check_lenient("echo #{Foo bar"), Ok(()));
    assert!(ferry_templates::check_lenient("#{Foo | NoSuchFilter}").is_err());
}
