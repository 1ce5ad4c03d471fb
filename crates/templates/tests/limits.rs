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
    let filters = "#{A".to_owned() + &" | ToUpper | ToLower".repeat(50) + "}";
    assert_eq!(render(&filters, &variables, &strict()).unwrap(), "x");
}

#[test]
fn a_tag_applies_at_most_100_filters() {
    for template in [
        "#{A".to_owned() + &" | ToUpper".repeat(101) + "}",
        "#{A".to_owned() + &" | ToUpper".repeat(40_000) + "}",
        "#{if A".to_owned() + &" | ToUpper".repeat(101) + "}x#{/if}",
    ] {
        let error = check(&template).unwrap_err();
        assert_eq!(error.kind, TemplateErrorKind::Syntax, "{error}");
        assert!(error.message.contains("at most 100 filters"), "{error}");
    }
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

/// `V1 = #{V2}#{V2}`, `V2 = #{V3}#{V3}`, … down to `V{depth} = x`: `V1` is 2^(depth-1) bytes.
fn doubling(depth: usize) -> Variables {
    let mut variables: Vec<(String, String)> = (1..depth)
        .map(|level| {
            let next = format!("#{{V{}}}", level + 1);
            (format!("V{level}"), format!("{next}{next}"))
        })
        .collect();
    variables.push((format!("V{depth}"), "x".to_owned()));
    variables.into_iter().collect()
}

#[test]
fn values_that_double_at_every_level_are_expanded_once_each() {
    let rendered = render("#{V1}", &doubling(22), &strict()).unwrap();
    assert_eq!(rendered.len(), 1 << 21);
    assert!(rendered.bytes().all(|b| b == b'x'));
}

#[test]
fn a_doubling_bomb_fails_with_a_budget_error_naming_the_variables() {
    let error = render("echo #{V1}", &doubling(31), &strict()).unwrap_err();
    assert_eq!(error.kind, TemplateErrorKind::OverBudget, "{error}");
    assert!(
        error.message.contains("in the value of `V1`"),
        "the error names the variables it went through: {error}"
    );
    assert_eq!((error.line, error.column), (1, 6));
}

#[test]
fn loops_inside_loops_run_out_of_steps() {
    let list = vec!["item"; 1000].join(",");
    let variables: Variables = [("L".to_owned(), list)].into_iter().collect();
    let template = "#{each a in L}#{each b in L}#{each c in L}x#{/each}#{/each}#{/each}";
    let error = render(template, &variables, &strict()).unwrap_err();
    assert_eq!(error.kind, TemplateErrorKind::OverBudget, "{error}");
    assert!(error.message.contains("steps to render"), "{error}");
}

#[test]
fn a_smaller_budget_is_honoured() {
    use ferry_templates::Limits;
    let variables: Variables = [("A".to_owned(), "twenty characters!!!".to_owned())]
        .into_iter()
        .collect();
    let tight = strict().with_limits(Limits {
        max_output_bytes: 10,
        max_steps: 1_000,
    });
    let error = render("#{A}", &variables, &tight).unwrap_err();
    assert_eq!(error.kind, TemplateErrorKind::OverBudget, "{error}");
    let error = render("#{A | ToUpper}", &variables, &tight).unwrap_err();
    assert_eq!(error.kind, TemplateErrorKind::OverBudget, "{error}");
    assert_eq!(
        render("ok", &variables, &tight).unwrap(),
        "ok",
        "within the budget a render works"
    );
}

#[test]
fn rendering_many_values_shares_one_budget() {
    let mut variables = doubling(31);
    variables.insert("Greeting", "hello #{Name}");
    variables.insert("Name", "world");
    let honest = ferry_templates::render_all(&["#{Greeting}", "#{Name}!"], &variables, &strict());
    assert_eq!(honest[0].as_ref().unwrap(), "hello world");
    assert_eq!(honest[1].as_ref().unwrap(), "world!");
    let templates: Vec<String> = (1..=31).map(|level| format!("#{{V{level}}}")).collect();
    let templates: Vec<&str> = templates.iter().map(String::as_str).collect();
    let results = ferry_templates::render_all(&templates, &variables, &strict());
    assert_eq!(results.len(), 31);
    // The first value spends the budget; what comes after it in the same render fails too,
    // instead of spending a budget of its own.
    for result in &results[..24] {
        assert_eq!(
            result.as_ref().unwrap_err().kind,
            TemplateErrorKind::OverBudget
        );
    }
}

#[test]
fn text_repeated_by_loops_is_stopped_as_it_is_produced() {
    use ferry_templates::Limits;
    let list = vec!["a"; 400].join(",");
    let variables: Variables = [("L".to_owned(), list)].into_iter().collect();
    let block = "x".repeat(2048);
    let template = format!("#{{each a in L}}#{{each b in L}}{block}#{{/each}}#{{/each}}");
    // 400 × 400 × 2 KB would be 320 MB; the render stops at the first MiB.
    let options = strict().with_limits(Limits {
        max_output_bytes: 1 << 20,
        ..Limits::default()
    });
    let error = render(&template, &variables, &options).unwrap_err();
    assert_eq!(error.kind, TemplateErrorKind::OverBudget, "{error}");
    assert!(error.message.contains("1048576 bytes"), "{error}");
}

#[test]
fn long_filter_patterns_are_charged() {
    let variables: Variables = [("A".to_owned(), "text".to_owned())].into_iter().collect();
    let pattern = "a".repeat(300_000);
    let template = format!("#{{A | Replace \"{pattern}\" b}}");
    let error = render(&template, &variables, &strict()).unwrap_err();
    assert_eq!(error.kind, TemplateErrorKind::OverBudget, "{error}");
}

#[test]
fn hostile_json_values_are_bounded() {
    // Nesting past the reader's limit is not JSON (so the path is missing), not a stack overflow.
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    let variables: Variables = [("Deep".to_owned(), deep)].into_iter().collect();
    let lenient = Options::lenient(Utc::now());
    assert_eq!(
        render("#{Deep[0]}", &variables, &lenient).unwrap(),
        "#{Deep[0]}"
    );
    // Reading a large JSON value again and again is charged to the budget.
    let large = format!("{{\"A\": \"{}\", \"B\": \"b\"}}", "x".repeat(1_000_000));
    let variables: Variables = [("Large".to_owned(), large)].into_iter().collect();
    let template = "#{Large.B}".repeat(100);
    let error = render(
        &template,
        &variables,
        &strict().with_limits(ferry_templates::Limits {
            max_output_bytes: 1 << 24,
            max_steps: 10_000_000,
        }),
    )
    .unwrap_err();
    assert_eq!(error.kind, TemplateErrorKind::OverBudget, "{error}");
}

#[test]
fn reading_into_a_large_json_loop_item_again_and_again_is_charged() {
    // One item of a few MB, read once per `#{x.Value.a}`: each read parses the item again.
    let big = format!(
        "{{\"Item\": {{\"a\": \"{}\", \"b\": \"y\"}}}}",
        "x".repeat(4_000_000)
    );
    let variables: Variables = [("Big".to_owned(), big)].into_iter().collect();
    let template = format!(
        "#{{each x in Big}}{}#{{/each}}",
        "#{x.Value.b}".repeat(1000)
    );
    let started = std::time::Instant::now();
    let error = render(&template, &variables, &strict()).unwrap_err();
    assert_eq!(error.kind, TemplateErrorKind::OverBudget, "{error}");
    assert!(error.message.contains("steps to render"), "{error}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "the budget stops the reads early ({:?})",
        started.elapsed()
    );
}

/// Tables whose short rows pulldown-cmark fills with empty cells: a few KB of Markdown per
/// table, a quarter of a million cells each.
fn padded_tables(tables: usize) -> String {
    let columns = 362;
    let table = format!(
        "{}|\n{}|\n{}\n",
        "|a".repeat(columns),
        "|-".repeat(columns),
        "a\n".repeat((1 << 18) / columns + 1)
    );
    vec![table; tables].join("\n")
}

#[test]
fn markdown_tables_padded_past_the_budget_fail_fast() {
    let markdown = padded_tables(22);
    assert!(markdown.len() < 70 * 1024, "{}", markdown.len());
    let variables: Variables = [("Notes".to_owned(), markdown)].into_iter().collect();
    let started = std::time::Instant::now();
    let error = render("#{Notes | Markdown}", &variables, &strict()).unwrap_err();
    assert_eq!(error.kind, TemplateErrorKind::OverBudget, "{error}");
    assert!(
        started.elapsed() < std::time::Duration::from_millis(500),
        "the tables are refused before they are built ({:?})",
        started.elapsed()
    );
    // A smaller budget stops one such table too, and an honest table still renders.
    let one: Variables = [("Notes".to_owned(), padded_tables(1))]
        .into_iter()
        .collect();
    let small = strict().with_limits(ferry_templates::Limits {
        max_output_bytes: 1 << 20,
        ..ferry_templates::Limits::default()
    });
    let error = render("#{Notes | Markdown}", &one, &small).unwrap_err();
    assert_eq!(error.kind, TemplateErrorKind::OverBudget, "{error}");
    let honest: Variables = [("Notes".to_owned(), "|a|b|\n|-|-|\n|1|\n".to_owned())]
        .into_iter()
        .collect();
    assert!(
        render("#{Notes | Markdown}", &honest, &small)
            .unwrap()
            .contains("<td>1</td>\n<td></td>")
    );
}

#[test]
fn filters_that_multiply_their_input_are_refused_before_they_build() {
    let variables: Variables = [
        ("Chars".to_owned(), "a".repeat(50_000)),
        ("Lines".to_owned(), "\n".repeat(50_000)),
    ]
    .into_iter()
    .collect();
    let long = "r".repeat(4_000);
    let small = strict().with_limits(ferry_templates::Limits {
        max_output_bytes: 1 << 20,
        ..ferry_templates::Limits::default()
    });
    // Each would be 200 MB before the budget saw it.
    for template in [
        format!("#{{Chars | Replace \"\" \"{long}\"}}"),
        format!("#{{Chars | Replace \"a\" \"{long}$0$0\"}}"),
        format!("#{{Lines | Indent \"{long}\" \"{long}\"}}"),
    ] {
        let started = std::time::Instant::now();
        let error = render(&template, &variables, &small).unwrap_err();
        assert_eq!(error.kind, TemplateErrorKind::OverBudget, "{error}");
        assert!(
            started.elapsed() < std::time::Duration::from_millis(100),
            "{:.40} took {:?}",
            template,
            started.elapsed()
        );
    }
    // Within the budget they still work.
    let variables: Variables = [("A".to_owned(), "ab\ncd".to_owned())]
        .into_iter()
        .collect();
    assert_eq!(
        render("#{A | Replace \"\" -}", &variables, &small).unwrap(),
        "-a-b-\n-c-d-"
    );
    assert_eq!(
        render("#{A | Replace \"(b)\" \"[$1$0]\"}", &variables, &small).unwrap(),
        "a[bb]\ncd"
    );
    assert_eq!(
        render("#{A | Indent 2}", &variables, &small).unwrap(),
        "  ab\n  cd"
    );
}

#[test]
fn a_substring_past_every_number_is_the_documented_error() {
    let variables: Variables = [("A".to_owned(), "abc".to_owned())].into_iter().collect();
    let error = render(
        "#{A | Substring 18446744073709551615 2}",
        &variables,
        &strict(),
    )
    .unwrap_err();
    assert_eq!(error.kind, TemplateErrorKind::FilterArgument, "{error}");
    assert!(
        error.message.contains("cannot take 2 characters"),
        "{error}"
    );
}
