//! The table of Octostache filters Ferry reproduces: text, escaping, encoding, `Format` for
//! numbers and dates, and `NowDate`.

#![allow(clippy::unwrap_used)]

mod support;

use TemplateErrorKind::FilterArgument;
use ferry_templates::TemplateErrorKind;
use support::*;

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        // Filters.
        ok("#{Foo | ToLower}", ABC, "abc"),
        fails("#{ | ToUpper}", &[], FilterArgument, (1, 1), "filter `ToUpper` has no value to work on"),
        lenient("#{ | ToUpper}", &[], "#{ | ToUpper}"),
        ok("#{Foo | ToUpper}", ABC, "ABC"),
        ok("#{Foo | toupper}", ABC, "ABC"),
        ok("#{Foo|ToUpper|ToLower}", ABC, "abc"),
        ok("#{S | Trim}", &[("S", "  a b  ")], "a b"),
        ok("#{S | Trim start}", &[("S", "  a b  ")], "a b  "),
        ok("#{S | Trim End}", &[("S", "  a b  ")], "  a b"),
        ok("#{S | Truncate 3}", &[("S", "abcdef")], "abc..."),
        ok("#{S | Truncate 10}", &[("S", "abc")], "abc"),
        ok("#{S | Truncate 3}", &[("S", "abc")], "abc"),
        fails("#{S | Truncate x}", &[("S", "abc")], FilterArgument, (1, 1), "filter `Truncate` needs a length"),
        ok("#{S | Substring 3}", &[("S", "abcdef")], "abc"),
        ok("#{S | Substring 2 3}", &[("S", "abcdef")], "cde"),
        fails("#{S | Substring 2 10}", &[("S", "abcdef")], FilterArgument, (1, 1), "filter `Substring` cannot take 10 characters"),
        lenient("#{S | Substring 2 10}", &[("S", "abcdef")], "#{S | Substring 2 10}"),
        ok("#{foo | Replace abc def}", &[("foo", "abc")], "def"),
        ok("#{foo | Replace a}", &[("foo", "abc")], "bc"),
        ok("#{foo | Replace abc def}", &[("foo", "ABC")], "ABC"),
        ok("#{foo | Replace \"ab c\" \"d ef\"}", &[("foo", "ab c")], "d ef"),
        ok("#{foo | Replace #{regex}#{replacement}}", &[("foo", "abc"), ("regex", "b"), ("replacement", "x")], "axc"),
        ok("#{foo | Replace \"[a-z]+\" 1}", &[("foo", "a'b")], "1'1"),
        ok("#{foo | Replace \"a\\(b\" \"d(e\"}", &[("foo", "a(b")], "d(e"),
        ok("#{foo | Replace \"o(.+)o([a-z]*)s\" \"o$2o$1s\"}", &[("foo", "opuocts")], "octopus"),
        ok("#{foo | Replace \"^a\" x}", &[("foo", "ababa")], "xbaba"),
        ok("#{foo | Replace \"a$\" x}", &[("foo", "ababa")], "ababx"),
        ok("#{foo | Replace '\\s+' _}", &[("foo", "a b  c")], "a_b_c"),
        fails("#{foo | Replace}", &[("foo", "abc")], FilterArgument, (1, 1), "needs a pattern"),
        fails("#{foo | Replace \"(\"}", &[("foo", "abc")], FilterArgument, (1, 1), "cannot use the pattern `(`"),
        ok("#{Octopus.Action[Deploy web app to Nginx].Package.PackageId | Replace \"[^a-zA-Z0-9]\" -}-#{Octopus.Environment.Name}", NGINX, "RandomQuotes-Web-Test"),
        ok("#{Foo | HtmlEscape}", &[("Foo", "A&'bc")], "A&amp;&apos;bc"),
        ok("#{Foo | Html}", &[("Foo", "<a href=\"/x\">")], "&lt;a href=&quot;&#x2F;x&quot;&gt;"),
        ok("#{Foo | XmlEscape}", &[("Foo", "A&'b</x>")], "A&amp;&apos;b&lt;/x&gt;"),
        ok("#{Foo | JsonEscape}", &[("Foo", "T\"e\\s\tt\r\n")], "T\\\"e\\\\s\\tt\\r\\n"),
        ok("#{Foo | Json}", &[("Foo", "A&\"bc")], "A&\\\"bc"),
        ok("#{Foo | UriEscape}", &[("Foo", "a b/c?d=é&e")], "a%20b/c?d=%C3%A9&e"),
        ok("#{Foo | Uri}", &[("Foo", "50% <off>")], "50%25%20%3Coff%3E"),
        ok("#{Foo | UriDataEscape}", &[("Foo", "a b/c?d=é")], "a%20b%2Fc%3Fd%3D%C3%A9"),
        ok("#{String | tobase64}", &[("String", "Foo Bar")], "Rm9vIEJhcg=="),
        ok("#{String | Base64}", &[("String", "Foo Bar")], "Rm9vIEJhcg=="),
        ok("#{String | ToBase64 unicode}", &[("String", "ab")], "YQBiAA=="),
        ok("#{String | FromBase64}", &[("String", "Rm9vIEJhcg==")], "Foo Bar"),
        fails("#{String | FromBase64}", &[("String", "!!!")], FilterArgument, (1, 1), "cannot decode"),
        ok("#{Foo | Markdown}", &[("Foo", "_yeah!_")], "<p><em>yeah!</em></p>\n\n"),
        ok("#{Foo | MarkdownToHtml}", &[("Foo", "  # Title\n\n~~old~~  ")], "<h1>Title</h1>\n<p><del>old</del></p>\n\n"),
        ok("#{Foo | StartsWith Ab}", ABC, "true"),
        ok("#{Foo | StartsWith ab}", ABC, "false"),
        ok("#{Foo | EndsWith bc}", ABC, "true"),
        ok("#{Foo | Contains \" b(\"}", &[("Foo", "a b(c")], "true"),
        ok("#{Foo | Contains x}", ABC, "false"),
        ok("#{Foo | Match \"ab[0-9]+\"}", &[("Foo", "xab12")], "true"),
        ok("#{Foo | Match \"^ab[0-9]+$\"}", &[("Foo", "xab12")], "false"),
        fails("#{Foo | ToUpper x}", ABC, FilterArgument, (1, 1), "filter `ToUpper` takes no arguments, but was given 1 (`x`)"),
        ok("#{Foo | Append \"-\" x | Prepend y}", ABC, "yAbc-x"),
        ok("#{Foo | Indent}", &[("Foo", "a\nb")], "    a\n    b"),
        ok("#{Foo | Indent 2/4}", &[("Foo", "a\nb")], "  a\n    b"),
        ok("#{Foo | Sha256}", &[("Foo", "abc")], "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ok("#{Foo | Sha256 4}", &[("Foo", "abc")], "ba7816bf"),
        ok("#{Foo | YamlSingleQuoteEscape}", &[("Foo", "it's\na")], "it''s\n\na"),
        ok("#{Foo | YamlDoubleQuoteEscape}", &[("Foo", "a\"b\né")], "a\\\"b\\n\\u00e9"),
        ok("#{Foo | PropertiesKeyEscape}", &[("Foo", "a b:c=d")], "a\\ b\\:c\\=d"),
        ok("#{Foo | PropertiesValueEscape}", &[("Foo", " a b")], "\\ a b"),
        // Format.
        ok("#{N | Format N0}", &[("N", "1234567.891")], "1,234,568"),
        ok("#{N | Format N2}", &[("N", "1234.5")], "1,234.50"),
        ok("#{N | Format N0}", &[("N", "-1234.5")], "-1,235"),
        ok("#{N | Format F2}", &[("N", "23.456")], "23.46"),
        ok("#{N | Format Double F1}", &[("N", "23.46")], "23.5"),
        ok("#{N | Format C}", &[("N", "23.4")], "¤23.40"),
        ok("#{N | Format Int32 D5}", &[("N", "42")], "00042"),
        ok("#{N | Format Int32 X}", &[("N", "255")], "FF"),
        ok("#{N | Format P1}", &[("N", "0.1234")], "12.3 %"),
        ok("#{N | Format \"0.00\"}", &[("N", "3.14159")], "3.14"),
        ok("#{N | Format \"#,##0.00\"}", &[("N", "1234567.8")], "1,234,567.80"),
        ok("#{N | Format \"000\"}", &[("N", "7")], "007"),
        ok("#{N | Format \"0.0 kg\"}", &[("N", "2.25")], "2.3 kg"),
        fails("#{N | Format \"0;(0)\"}", &[("N", "1")], FilterArgument, (1, 1), "does not support the number format `0;(0)`"),
        fails("#{N | Format Int32 N0}", &[("N", "1.5")], FilterArgument, (1, 1), "as a whole number"),
        ok("#{Foo | Format Date \"HH dd-MMM-yyy\"}", DATE, "09 22-May-2030"),
        ok("#{Foo | Format Date #{Format}}", DATE, "09 22-May-2030"),
        ok("#{ Foo | Format yyyy}", DATE, "2030"),
        ok("#{Foo | Format DateTime \"yyyy-MM-dd HH:mm\" }", DATE, "2030-05-22 09:05"),
        ok("#{Foo | Format \"dddd, dd MMMM yyyy h:mm tt\"}", DATE, "Wednesday, 22 May 2030 9:05 AM"),
        ok("#{Offset | Format DateTimeOffset \"HH:mm zzz\"}", DATE, "09:05 +02:00"),
        ok("#{Offset | Format Date \"u\"}", DATE, "2030-05-22 07:05:00Z"),
        fails("#{Invalid | Format yyyy}", DATE, FilterArgument, (1, 1), "cannot format `hello World`: it is neither a number nor a date"),
        lenient("#{Invalid | Format yyyy}", DATE, "#{Invalid | Format yyyy}"),
        ok("#{ | NowDate}", &[], "2024-03-05T06:07:08.1230000"),
        ok("#{ | NowDate \"yyyy-MM-dd\"}", &[], "2024-03-05"),
        ok("#{ | NowDate yyyy}", &[], "2024"),
        ok("#{|NowDate HH:mm:ss.fff}", &[], "06:07:08.123"),
        ok("#{ | NowDateUtc}", &[], "2024-03-05T06:07:08.1230000Z"),
        ok("#{ | NowDate | Format Date MMM}", &[], "Mar"),
        ok("#{X | NowDate yyyy}", X1, "2024"),
    ]
}

#[test]
fn every_filter_case_renders_as_octostache_would() {
    run_table(cases(), 90);
}

#[test]
fn error_messages_quote_at_most_64_characters_of_a_value() {
    let long = "y".repeat(100_000);
    let variables: ferry_templates::Variables =
        [("Long".to_owned(), long.clone())].into_iter().collect();
    let pattern_template = format!("#{{Long | Replace \"({long}\"}}");
    let trim_template = format!("#{{Long | Trim {long}}}");
    let templates = [
        trim_template.as_str(),
        "#{calc Long + 1}",
        "#{Long | AddDays 1}",
        "#{Long | Format N2}",
        "#{Long | Format Int32 N2}",
        "#{Long | Format Date yyyy}",
        pattern_template.as_str(),
    ];
    let now = chrono::Utc::now();
    for template in templates {
        let error =
            ferry_templates::render(template, &variables, &ferry_templates::Options::strict(now))
                .unwrap_err();
        assert!(error.message.contains("yyy…"), "{error}");
        assert!(
            error.message.len() < 400,
            "{template:.40}: {:.400}",
            error.message
        );
    }
}
