//! Octostache syntax: the template parser, its AST, and the positions errors point at.

pub(crate) mod ast;
mod calc;
mod condition;
mod cursor;
mod parser;
mod symbol;
mod tag;

pub(crate) use parser::{parse, parse_lenient};
pub(crate) use symbol::parse_variable_name;
