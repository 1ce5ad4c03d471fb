//! Octostache syntax: the template parser, its AST, and the positions errors point at.

pub(crate) mod ast;
mod calc;
mod cursor;
mod parser;
mod symbol;
mod tag;

pub(crate) use parser::parse;
pub(crate) use symbol::parse_variable_name;
