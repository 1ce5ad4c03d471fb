//! The parsed form of an Octostache template: plain data, each tag with its position and text.

/// Where a `#{` starts: 1-based line, and 1-based column counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub line: usize,
    pub column: usize,
}

/// A `#{…}` as written, kept for error positions and for lenient pass-through.
#[derive(Debug, Clone)]
pub(crate) struct Tag {
    pub position: Position,
    /// The exact text from `#{` to its `}`.
    pub source: String,
}

#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Substitution(Substitution),
    Conditional(Conditional),
    Repetition(Repetition),
    Calculation(Calculation),
}

/// `#{Name | Filter arg …}`.
#[derive(Debug, Clone)]
pub(crate) struct Substitution {
    pub tag: Tag,
    /// Absent for `#{ | NowDate}`, which starts from no value.
    pub symbol: Option<Symbol>,
    pub filters: Vec<FilterCall>,
}

#[derive(Debug, Clone)]
pub(crate) struct FilterCall {
    /// The name as written; its case does not matter.
    pub name: String,
    pub arguments: Vec<FilterArgument>,
}

#[derive(Debug, Clone)]
pub(crate) enum FilterArgument {
    /// A bare word or a quoted string, without its quotes.
    Text(String),
    /// A nested `#{…}`, evaluated before the filter runs.
    Substitution(Box<Substitution>),
}

/// A variable path: `Octopus.Action[Deploy web app].Package.PackageId`.
#[derive(Debug, Clone)]
pub(crate) struct Symbol {
    pub steps: Vec<Step>,
    /// The path as written (trimmed), for messages.
    pub text: String,
}

#[derive(Debug, Clone)]
pub(crate) enum Step {
    Name(String),
    Index(String),
    /// `Name[#{Other}]`: the index is the value of another variable.
    NestedIndex(Box<Symbol>),
}

impl Symbol {
    /// The first name of the path, which is what a loop variable can shadow.
    pub fn first_name(&self) -> Option<&str> {
        match self.steps.first() {
            Some(Step::Name(name)) => Some(name),
            _ => None,
        }
    }
}

/// `#{if …}…#{else}…#{/if}` and `#{unless …}…#{/unless}`.
#[derive(Debug, Clone)]
pub(crate) struct Conditional {
    pub tag: Tag,
    /// `unless`: the first body renders when the condition is false.
    pub unless: bool,
    pub condition: Condition,
    pub body: Vec<Node>,
    /// The part after `#{else}` (or the `#{if}` an `#{elseif}` stands for), empty when there
    /// is none.
    pub otherwise: Vec<Node>,
    /// The whole block as written, which lenient rendering prints when a filter in its
    /// condition cannot be applied (as Octostache prints the block).
    pub source: String,
}

#[derive(Debug, Clone)]
pub(crate) enum Condition {
    Truthy(ConditionValue),
    Compare {
        left: Operand,
        equal: bool,
        right: Operand,
    },
}

/// One side of a condition: `Name` or `Name | Filter arg …`.
#[derive(Debug, Clone)]
pub(crate) struct ConditionValue {
    pub symbol: Symbol,
    pub filters: Vec<FilterCall>,
}

#[derive(Debug, Clone)]
pub(crate) enum Operand {
    Text(String),
    Value(ConditionValue),
}

/// `#{each item in Collection}…#{/each}`.
#[derive(Debug, Clone)]
pub(crate) struct Repetition {
    pub tag: Tag,
    pub enumerator: String,
    pub collection: Symbol,
    pub body: Vec<Node>,
}

/// `#{calc A * (B + 1)}`.
#[derive(Debug, Clone)]
pub(crate) struct Calculation {
    pub tag: Tag,
    pub expression: CalcExpression,
}

#[derive(Debug, Clone)]
pub(crate) enum CalcExpression {
    Number(String),
    Variable(Symbol),
    Negate(Box<CalcExpression>),
    Binary(Box<CalcExpression>, CalcOperator, Box<CalcExpression>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CalcOperator {
    Add,
    Subtract,
    Multiply,
    Divide,
    Modulo,
}
