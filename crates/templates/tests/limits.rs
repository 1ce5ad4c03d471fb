//! Hostile or runaway templates fail with an error instead of exhausting the stack: deep
//! nesting, long calculations, long filter chains and long chains of variable values.

#![allow(clippy::unwrap_used)]

use chrono::Utc;
use ferry_templates::{Options, TemplateErrorKind, Variables, check, render};

fn strict() -> Options {
    Options::strict(Utc::now())
}

#[test]
fn deeply_nested_blocks_are_a_syntax_error() {
    for depth in [60, 5000] {
        let template = "#{if A}".repeat(depth) + "x" + &"#{/if}".repeat(depth);
        let error = render(&template, &Variables::new(), &strict()).unwrap_err();
        assert_eq!(error.kind, TemplateErrorKind::Syntax);
        assert!(error.message.contains("nest more than 50 deep"), "{error}");
    }
    let template = "#{if A}".repeat(40) + "x" + &"#{/if}".repeat(40);
    let variables: Variables = [("A".to_owned(), "yes".to_owned())].into_iter().collect();
    assert_eq!(render(&template, &variables, &strict()).unwrap(), "x");
}

#[test]
fn deeply_nested_indexes_and_parentheses_are_a_syntax_error() {
    let indexes = "#{a[".repeat(5000) + &"]}".repeat(5000);
    assert_eq!(check(&indexes).unwrap_err().kind, TemplateErrorKind::Syntax);
    let parentheses = "#{calc ".to_owned() + &"(".repeat(5000) + "1" + &")".repeat(5000) + "}";
    assert_eq!(
        check(&parentheses).unwrap_err().kind,
        TemplateErrorKind::Syntax
    );
    let negations = "#{calc ".to_owned() + &"-".repeat(5000) + "1}";
    assert_eq!(
        check(&negations).unwrap_err().kind,
        TemplateErrorKind::Syntax
    );
}

#[test]
fn long_calculations_and_filter_chains_render() {
    let hundred_terms = "#{calc 1".to_owned() + &" + 1".repeat(99) + "}";
    assert_eq!(
        render(&hundred_terms, &Variables::new(), &strict()).unwrap(),
        "100"
    );
    let too_many = "#{calc 1".to_owned() + &" + 1".repeat(500) + "}";
    let error = render(&too_many, &Variables::new(), &strict()).unwrap_err();
    assert!(error.message.contains("at most 100 operators"), "{error}");

    let variables: Variables = [("A".to_owned(), "x".to_owned())].into_iter().collect();
    let filters = "#{A".to_owned() + &" | ToUpper | ToLower".repeat(2000) + "}";
    assert_eq!(render(&filters, &variables, &strict()).unwrap(), "x");
}

#[test]
fn long_chains_of_values_stop_at_a_limit() {
    let chain = |length: usize| -> Variables {
        let mut variables = Variables::new();
        for level in 0..length {
            variables.insert(format!("V{level}"), format!("#{{V{}}}", level + 1));
        }
        variables.insert(format!("V{length}"), "end");
        variables
    };
    assert_eq!(render("#{V0}", &chain(31), &strict()).unwrap(), "end");
    let error = render("#{V0}", &chain(200), &strict()).unwrap_err();
    assert_eq!(error.kind, TemplateErrorKind::SelfReference);
    assert!(
        error.message.contains("more than 32 levels deep"),
        "{error}"
    );
}
