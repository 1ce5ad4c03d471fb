//! Octostache's JSON tests (`JsonFixture`, and the JSON cases of `UsageFixture` and
//! `FiltersFixture`), ported as table cases: indexing into a variable whose value is JSON,
//! iterating its arrays and objects, and what is empty or missing.

#![allow(clippy::unwrap_used)]

mod support;

use TemplateErrorKind::UnknownVariable;
use ferry_templates::TemplateErrorKind;
use support::*;

const EXISTING: Vars = &[
    ("Test.Hello", "Go Away"),
    (
        "Test",
        "{\"Hello\": \"World\", \"Foo\": \"Bar\", \"Donkey\" : {\"Kong\": 12}}",
    ),
    ("Test[Foo]", "Nope"),
    ("Test.Donkey.Kong", "MARIO"),
];
const INNER: Vars = &[
    ("Prop", "Foo"),
    ("Val", "Bar"),
    ("Test", "{#{Prop}: \"#{Val}\"}"),
];
const ITEMS: Vars = &[(
    "Test",
    "{\"Items\": [{\"Name\": \"Toast\"}, {\"Name\": \"Bread\"}]}",
)];

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        // Variables defined by name win over the JSON.
        ok("#{Test.Hello}", EXISTING, "Go Away"),
        ok("#{Test[Foo]}", EXISTING, "Nope"),
        ok("#{Test.Donkey.Kong}", EXISTING, "MARIO"),
        // A JSON value may itself contain templates.
        ok("#{Test[Foo]}", INNER, "Bar"),
        ok("#{Test.Foo}", INNER, "Bar"),
        ok("#{Test[#{Prop}]}", INNER, "Bar"),
        // Indexing, dots, depth, arrays, raw JSON.
        ok("#{Test[Hello]}", &[("Test", "{\"Hello\": \"World\"}")], "World"),
        ok("#{Test.Hello}", &[("Test", "{\"Hello\": \"World\"}")], "World"),
        ok("#{Test[Hello][World][Foo][Bar]}", &[("Test", "{\"Hello\": {\"World\": {\"Foo\": {\"Bar\": 12 }}}}")], "12"),
        ok("#{Test.Items[1].Name}", ITEMS, "Bread"),
        ok("#{Test.Items[0].Name}", ITEMS, "Toast"),
        ok("#{Test.Foo}", &[("Test", "{\"Foo\": {\"Bar\":\"11\"}}")], "{\"Bar\":\"11\"}"),
        ok("#{Test.Name}", &[("Test", "{Name: \"#{Test.Value}\", Desc: \"Monkey\", Value: 12}")], "12"),
        ok("#{Test.@type}", &[("Test", "{\"@type\": \"Widget\"}")], "Widget"),
        ok("#{Test[@type]}", &[("Test", "{\"@type\": \"Widget\"}")], "Widget"),
        // Not JSON: the path is missing (strict: an error; lenient: as written).
        lenient("#{Test.Name}", &[("Test", "{Name: NoComma}")], "#{Test.Name}"),
        fails("#{Test.Name}", &[("Test", "{Name: NoComma}")], UnknownVariable, (1, 1), "unknown variable `Test.Name`"),
        // Iteration.
        ok("#{each number in Test}#{number}#{if Octopus.Template.Each.Last == \"False\"}-#{/if}#{/each}", &[("Test", "[2,3,5,8]")], "2-3-5-8"),
        ok("Before:#{each number in Test.Blah}#{number}#{/each}:After", &[("Test", "{Blah: null}")], "Before::After"),
        // Octostache's outputs, which Ferry gives when lenient; strict, a missing property, an
        // index past the end and a property of a scalar are unknown variables (typos).
        lenient("Alpha#{Test[4]}bet", &[("Test", "[2,3,5,8]")], "Alphabet"),
        fails("Alpha#{Test[4]}bet", &[("Test", "[2,3,5,8]")], UnknownVariable, (1, 6), "unknown variable `Test[4]`"),
        ok("#{each size in Octopus.Sizes}#{size}:#{size.Value},#{/each}", &[("Octopus.Sizes", "{\"Small\": \"11.5\",  Large: 15.21}")], "Small:11.5,Large:15.21,"),
        ok("#{each size in Octopus.Sizes}#{size.Key} - #{size.Value.Error}#{/each}", &[("Octopus.Sizes", "{\"X-Large\": {\"Error\": \"Not Stocked\"}}")], "X-Large - Not Stocked"),
        ok("{\"Bar\":\"#{if Foo == \\\"test text\\\"}Blaa#{/if}\"}", &[("Foo", "test text")], "{\"Bar\":\"Blaa\"}"),
        // Null is empty; a missing property is empty when lenient (an unknown variable when strict).
        ok("Alpha#{Foo.Bar}bet", &[("Foo", "{Bar: null}")], "Alphabet"),
        lenient("Alpha#{Foo.NotBar}bet", &[("Foo", "{Bar: \"ABC\"}")], "Alphabet"),
        fails("Alpha#{Foo.NotBar}bet", &[("Foo", "{Bar: \"ABC\"}")], UnknownVariable, (1, 6), "unknown variable `Foo.NotBar`"),
        // Ferry's own: a scalar answers any property with itself only when lenient.
        lenient("#{Replicas.Typo}", &[("Replicas", "3")], "3"),
        fails("#{Replicas.Typo}", &[("Replicas", "3")], UnknownVariable, (1, 1), "unknown variable `Replicas.Typo`"),
        fails("#{Config.Name.First}", &[("Config", "{\"Name\": \"x\"}")], UnknownVariable, (1, 1), "unknown variable `Config.Name.First`"),
        condition("#{if Foo.NotBar}yes#{/if}", &[("Foo", "{Bar: \"ABC\"}")], false),
        // A value that refers below itself is missing, not a loop.
        lenient("#{Test}", &[("Test", "#{Test.Something}")], "#{Test.Something}"),
        // Further cases read from Newtonsoft's rules, as Octostache applies them.
        ok("#{Config[#{Which}]}", &[("Config", "{\"Blue\": \"#00f\", \"Red\": \"#f00\"}"), ("Which", "Red")], "#f00"),
        // Ferry's own (not Octostache's outputs): names match exactly, so `blue` is missing.
        lenient("#{Config.blue}", &[("Config", "{\"Blue\": \"#00f\"}")], ""),
        fails("#{Config.blue}", &[("Config", "{\"Blue\": \"#00f\"}")], UnknownVariable, (1, 1), "unknown variable `Config.blue`"),
        ok("#{Config.Flag}", &[("Config", "{\"Flag\": true}")], "True"),
        ok("#{Config.List}", &[("Config", "{\"List\": [1, \"two\", null]}")], "[1,\"two\",null]"),
        ok("#{Config.List[1] | ToUpper}", &[("Config", "{\"List\": [1, \"two\", null]}")], "TWO"),
        ok("#{each item in Config.List}[#{item}]#{/each}", &[("Config", "{\"List\": [1, \"two\", null]}")], "[1][two][]"),
        ok("#{each item in Config}#{item.Name};#{/each}", &[("Config", "[{'Name': 'a'}, {'Name': 'b'}]")], "a;b;"),
        lenient("#{Config.List[x]}", &[("Config", "{\"List\": [1]}")], "#{Config.List[x]}"),
        ok("#{each a in L}#{a}|#{/each}", &[("L", "1,2")], "1|2|"),
        // Ferry's own, read from .NET's default double formatting (Newtonsoft reads decimals
        // as doubles): exponent form below 1E-05 and from 1E+15 on.
        ok("#{N.A} #{N.B} #{N.C} #{N.D}", &[("N", "{A: 1e308, B: 1.5e-7, C: -2.5E+20, D: 1e15}")], "1E+308 1.5E-07 -2.5E+20 1E+15"),
        ok("#{N.A} #{N.B} #{N.C} #{N.D}", &[("N", "{A: 1.50, B: 0.0001, C: 123456789012345.0, D: 0.0}")], "1.5 0.0001 123456789012345 0"),
        ok("#{N.A}", &[("N", "{A: 1e400}")], "1e400"),
    ]
}

#[test]
fn json_values_can_be_indexed_and_iterated_as_in_octostache() {
    run_table(cases(), 45);
}
