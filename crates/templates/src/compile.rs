//! Turns the parsed template into a minijinja template plus the tables its calls refer to.
//!
//! Text stays text; `#{if}` becomes `{% if %}`, `#{each}` becomes `{% for %}` (whose `loop`
//! supplies `Octopus.Template.Each.*`), filters become `| octo_<name>(…)`, and `#{calc}`
//! becomes minijinja arithmetic. Variable lookups are calls such as `octo_lookup(3, …)`
//! whose number indexes `Program::symbols`, so no user text is ever spliced into the
//! minijinja source except as an escaped string literal.

use crate::filters;
use crate::syntax::ast::{
    CalcExpression, CalcOperator, Condition, ConditionValue, FilterArgument, FilterCall, Node,
    Operand, Position, Step, Substitution, Symbol, Tag,
};

/// A compiled template: the minijinja source and what its numbered calls mean.
#[derive(Debug, Default)]
pub(crate) struct Program {
    pub source: String,
    pub tags: Vec<TagInfo>,
    pub symbols: Vec<SymbolInfo>,
    pub calculations: Vec<CalculationInfo>,
    /// Whole `#{if}` blocks as written, printed (lenient) when a filter in the condition
    /// cannot be applied.
    pub blocks: Vec<String>,
}

#[derive(Debug)]
pub(crate) struct TagInfo {
    pub position: Position,
    /// The `#{…}` as written, which lenient rendering leaves in place of a failed tag.
    pub source: String,
}

#[derive(Debug)]
pub(crate) struct SymbolInfo {
    pub tag: usize,
    /// The path as written, for messages.
    pub text: String,
    pub steps: Vec<StepSpec>,
    /// Each step as written (nested indexes empty), for JSON properties, whose case counts.
    pub written_steps: Vec<String>,
}

/// A path step with names lower-cased; nested indexes arrive as call arguments, in order.
#[derive(Debug)]
pub(crate) enum StepSpec {
    Name(String),
    Index(String),
    NestedIndex,
}

#[derive(Debug)]
pub(crate) struct CalculationInfo {
    pub tag: usize,
    /// Each operand as written (a variable path or a number), for messages.
    pub operands: Vec<String>,
}

/// How a missing variable is treated where it is looked up.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// In `#{Name}`: an error when strict, pass-through when lenient.
    Value,
    /// In `#{if Name}`: an empty string.
    Condition,
    /// Inside an index or collection where a missing value just means "not found".
    Optional,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Value => "value",
            Mode::Condition => "condition",
            Mode::Optional => "optional",
        }
    }
}

pub(crate) fn compile(nodes: &[Node]) -> Program {
    let mut compiler = Compiler::default();
    compiler.nodes(nodes);
    compiler.program
}

#[derive(Default)]
struct Compiler {
    program: Program,
    /// Enclosing `#{each}` loops, innermost last: (lower-cased loop name, minijinja variable).
    loops: Vec<(String, String)>,
    next_variable: usize,
}

impl Compiler {
    fn nodes(&mut self, nodes: &[Node]) {
        for node in nodes {
            self.node(node);
        }
    }

    fn node(&mut self, node: &Node) {
        match node {
            Node::Text(text) if text.contains('{') => {
                let literal = string_literal(text);
                self.push(&format!("{{{{ {literal} }}}}"));
            }
            Node::Text(text) => self.push(text),
            Node::Substitution(substitution) => {
                let expression = self.substitution(substitution);
                self.push(&format!("{{{{ {expression} }}}}"));
            }
            Node::Conditional(conditional) => {
                let tag = self.tag(&conditional.tag);
                let (sides, test) = self.condition(&conditional.condition, tag);
                let test = if conditional.unless {
                    format!("not ({test})")
                } else {
                    test
                };
                match sides {
                    // Filters in the condition: a side without a value (lenient) prints the
                    // block as written, as Octostache does.
                    Some((variable, assignment)) => {
                        let block = self.program.blocks.len();
                        self.program.blocks.push(conditional.source.clone());
                        self.push(&format!(
                            "{{% set {variable} = {assignment} %}}\
                             {{% if none in {variable} %}}{{{{ octo_block({block}) }}}}\
                             {{% elif {test} %}}"
                        ));
                    }
                    None => self.push(&format!("{{% if {test} %}}")),
                }
                self.nodes(&conditional.body);
                if !conditional.otherwise.is_empty() {
                    self.push("{% else %}");
                    self.nodes(&conditional.otherwise);
                }
                self.push("{% endif %}");
            }
            Node::Repetition(repetition) => {
                let tag = self.tag(&repetition.tag);
                let (symbol, nested, scopes) =
                    self.symbol_call_parts(&repetition.collection, tag, Mode::Optional);
                let variable = self.fresh_variable("__loop");
                self.push(&format!(
                    "{{% for {variable} in octo_items({symbol}, {nested}, {scopes}) %}}"
                ));
                self.loops
                    .push((repetition.enumerator.to_lowercase(), variable));
                self.nodes(&repetition.body);
                self.loops.pop();
                self.push("{% endfor %}");
            }
            Node::Calculation(calculation) => {
                let tag = self.tag(&calculation.tag);
                let mut operands = Vec::new();
                let mut operand_texts = Vec::new();
                let variable = self.fresh_variable("__calc");
                let (arithmetic, _) = self.calc(
                    &calculation.expression,
                    tag,
                    &variable,
                    &mut operands,
                    &mut operand_texts,
                );
                let index = self.program.calculations.len();
                self.program.calculations.push(CalculationInfo {
                    tag,
                    operands: operand_texts,
                });
                self.push(&format!(
                    "{{% set {variable} = octo_calc_operands({index}, [{}]) %}}\
                     {{% if {variable} is none %}}{{{{ octo_echo({tag}) }}}}\
                     {{% else %}}{{{{ octo_calc_result({tag}, {arithmetic}) }}}}{{% endif %}}",
                    operands.join(", ")
                ));
            }
        }
    }

    fn push(&mut self, text: &str) {
        self.program.source.push_str(text);
    }

    fn tag(&mut self, tag: &Tag) -> usize {
        self.program.tags.push(TagInfo {
            position: tag.position,
            source: tag.source.clone(),
        });
        self.program.tags.len() - 1
    }

    fn fresh_variable(&mut self, stem: &str) -> String {
        self.next_variable += 1;
        format!("{stem}{}", self.next_variable)
    }

    /// `octo_emit(tag, value | octo_filter(tag, args…) | …)`.
    fn substitution(&mut self, substitution: &Substitution) -> String {
        let tag = self.tag(&substitution.tag);
        let start = match &substitution.symbol {
            Some(symbol) => self.lookup(symbol, tag, Mode::Value),
            None => "none".to_owned(),
        };
        let expression = self.filtered(start, &substitution.filters, tag);
        format!("octo_emit({tag}, {expression})")
    }

    /// `value | octo_filter(tag, args…) | …`.
    fn filtered(&mut self, mut expression: String, filters: &[FilterCall], tag: usize) -> String {
        for call in filters {
            let mut arguments = vec![tag.to_string()];
            for argument in &call.arguments {
                arguments.push(match argument {
                    FilterArgument::Text(text) => string_literal(text),
                    FilterArgument::Substitution(nested) => self.substitution(nested),
                });
            }
            // The parser has already rejected unknown filters.
            let name = filters::find(&call.name)
                .map(filters::registered_name)
                .unwrap_or_default();
            expression = format!("{expression} | {name}({})", arguments.join(", "));
        }
        expression
    }

    /// The test of a condition. With filters on either side, the sides are first computed into
    /// a list (returned with its variable name), which the test then reads.
    fn condition(
        &mut self,
        condition: &Condition,
        tag: usize,
    ) -> (Option<(String, String)>, String) {
        let filtered = match condition {
            Condition::Truthy(value) => !value.filters.is_empty(),
            Condition::Compare { left, right, .. } => [left, right]
                .iter()
                .any(|side| matches!(side, Operand::Value(value) if !value.filters.is_empty())),
        };
        let mut sides = Vec::new();
        match condition {
            Condition::Truthy(value) => sides.push(self.condition_value(value, tag)),
            Condition::Compare { left, right, .. } => {
                for side in [left, right] {
                    sides.push(match side {
                        Operand::Text(text) => string_literal(text),
                        Operand::Value(value) => self.condition_value(value, tag),
                    });
                }
            }
        }
        let (names, computed) = if filtered {
            let variable = self.fresh_variable("__sides");
            let names = (0..sides.len())
                .map(|index| format!("{variable}[{index}]"))
                .collect();
            let assignment = format!("[{}]", sides.join(", "));
            (names, Some((variable, assignment)))
        } else {
            (sides, None)
        };
        let test = match condition {
            Condition::Truthy(_) => format!("octo_truthy({})", names[0]),
            Condition::Compare { equal, .. } => {
                let operator = if *equal { "==" } else { "!=" };
                format!("{} {operator} {}", names[0], names[1])
            }
        };
        (computed, test)
    }

    /// A side of a condition: a plain name is empty when missing; a filtered one is looked up
    /// as in `#{Name | Filter}` (strict: an unknown name is an error).
    fn condition_value(&mut self, value: &ConditionValue, tag: usize) -> String {
        if value.filters.is_empty() {
            return self.lookup(&value.symbol, tag, Mode::Condition);
        }
        let start = self.lookup(&value.symbol, tag, Mode::Value);
        self.filtered(start, &value.filters, tag)
    }

    /// An expression for a variable's value: a loop's special variable, or `octo_lookup`.
    fn lookup(&mut self, symbol: &Symbol, tag: usize, mode: Mode) -> String {
        if let Some(special) = self.each_special(symbol) {
            return special;
        }
        let (index, nested, scopes) = self.symbol_call_parts(symbol, tag, mode);
        format!(
            "octo_lookup({index}, \"{}\", {nested}, {scopes})",
            mode.name()
        )
    }

    /// `Octopus.Template.Each.Index`, `.First` and `.Last` inside a loop come from its `loop`.
    fn each_special(&self, symbol: &Symbol) -> Option<String> {
        if self.loops.is_empty() || symbol.steps.len() != 4 {
            return None;
        }
        let names: Vec<String> = symbol
            .steps
            .iter()
            .filter_map(|step| match step {
                Step::Name(name) => Some(name.to_lowercase()),
                _ => None,
            })
            .collect();
        if names.len() != 4 || names[..3] != ["octopus", "template", "each"] {
            return None;
        }
        match names[3].as_str() {
            "index" => Some("(loop.index0 ~ \"\")".to_owned()),
            "first" => Some("(\"True\" if loop.first else \"False\")".to_owned()),
            "last" => Some("(\"True\" if loop.last else \"False\")".to_owned()),
            _ => None,
        }
    }

    /// Registers a symbol and returns its number, its nested index values, and the loop
    /// variables that can answer it (innermost first).
    fn symbol_call_parts(
        &mut self,
        symbol: &Symbol,
        tag: usize,
        mode: Mode,
    ) -> (usize, String, String) {
        let nested_mode = match mode {
            Mode::Value => Mode::Value,
            Mode::Condition | Mode::Optional => Mode::Optional,
        };
        let mut steps = Vec::with_capacity(symbol.steps.len());
        let mut written_steps = Vec::with_capacity(symbol.steps.len());
        let mut nested = Vec::new();
        for step in &symbol.steps {
            written_steps.push(match step {
                Step::Name(text) | Step::Index(text) => text.clone(),
                Step::NestedIndex(_) => String::new(),
            });
            steps.push(match step {
                Step::Name(name) => StepSpec::Name(name.to_lowercase()),
                Step::Index(index) => StepSpec::Index(index.to_lowercase()),
                Step::NestedIndex(inner) => {
                    nested.push(self.lookup(inner, tag, nested_mode));
                    StepSpec::NestedIndex
                }
            });
        }
        let first = symbol.first_name().map(str::to_lowercase);
        let scopes: Vec<&str> = self
            .loops
            .iter()
            .rev()
            .filter(|(name, _)| Some(name) == first.as_ref())
            .map(|(_, variable)| variable.as_str())
            .collect();
        self.program.symbols.push(SymbolInfo {
            tag,
            text: symbol.text.clone(),
            steps,
            written_steps,
        });
        (
            self.program.symbols.len() - 1,
            format!("[{}]", nested.join(", ")),
            format!("[{}]", scopes.join(", ")),
        )
    }

    /// The arithmetic over `operands_variable[i]`, collecting the operands' expressions, and
    /// the precedence of its outermost operator. Parentheses are added only where needed, so
    /// a long `1 + 2 + 3 …` stays flat for minijinja's parser.
    fn calc(
        &mut self,
        expression: &CalcExpression,
        tag: usize,
        operands_variable: &str,
        operands: &mut Vec<String>,
        operand_texts: &mut Vec<String>,
    ) -> (String, u8) {
        const SUM: u8 = 1;
        const PRODUCT: u8 = 2;
        const NEGATION: u8 = 3;
        const ATOM: u8 = 4;
        let wrap = |(text, precedence): (String, u8), at_least: u8| {
            if precedence < at_least {
                format!("({text})")
            } else {
                text
            }
        };
        let mut operand = |value: String, text: String| {
            operands.push(value);
            operand_texts.push(text);
            (format!("{operands_variable}[{}]", operands.len() - 1), ATOM)
        };
        match expression {
            CalcExpression::Number(number) => operand(string_literal(number), number.clone()),
            CalcExpression::Variable(symbol) => {
                let value = self.lookup(symbol, tag, Mode::Value);
                operand(value, symbol.text.clone())
            }
            CalcExpression::Negate(inner) => {
                let inner = self.calc(inner, tag, operands_variable, operands, operand_texts);
                (format!("-{}", wrap(inner, NEGATION)), NEGATION)
            }
            CalcExpression::Binary(left, operator, right) => {
                let left = self.calc(left, tag, operands_variable, operands, operand_texts);
                let right = self.calc(right, tag, operands_variable, operands, operand_texts);
                match operator {
                    CalcOperator::Add | CalcOperator::Subtract => {
                        let sign = if *operator == CalcOperator::Add {
                            "+"
                        } else {
                            "-"
                        };
                        let text = format!("{} {sign} {}", wrap(left, SUM), wrap(right, PRODUCT));
                        (text, SUM)
                    }
                    CalcOperator::Multiply => {
                        let text = format!("{} * {}", wrap(left, PRODUCT), wrap(right, NEGATION));
                        (text, PRODUCT)
                    }
                    CalcOperator::Divide | CalcOperator::Modulo => {
                        let function = if *operator == CalcOperator::Divide {
                            "octo_divide"
                        } else {
                            "octo_modulo"
                        };
                        let text = format!("{function}({tag}, {}, {})", left.0, right.0);
                        (text, ATOM)
                    }
                }
            }
        }
    }
}

/// A minijinja string literal for any text.
fn string_literal(text: &str) -> String {
    let mut literal = String::with_capacity(text.len() + 2);
    literal.push('"');
    for character in text.chars() {
        match character {
            '\\' => literal.push_str("\\\\"),
            '"' => literal.push_str("\\\""),
            '\n' => literal.push_str("\\n"),
            '\r' => literal.push_str("\\r"),
            '\t' => literal.push_str("\\t"),
            control if control.is_control() && u32::from(control) < 0x10000 => {
                literal.push_str(&format!("\\u{:04x}", u32::from(control)));
            }
            other => literal.push(other),
        }
    }
    literal.push('"');
    literal
}
