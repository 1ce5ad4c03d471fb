//! Rendering a compiled template with minijinja: the shared environment with Ferry's
//! functions and filters, and the per-render state those functions reach through the context.

mod calc;
mod json;
mod lookup;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use chrono::{DateTime, Utc};
use minijinja::value::{Object, Rest, Value};
use minijinja::{AutoEscape, Environment, State};

use crate::compile::{Program, TagInfo};
use crate::error::{Failure, TemplateError, TemplateErrorKind};
use crate::filters::{self, FilterDefinition, FilterError, FilterInput};
use crate::variables::{Key, Store};
use crate::{Limits, Options};

/// The context name of the per-render state.
const RENDER: &str = "__render";
/// The context name of the program being rendered (a variable's value has its own).
const PROGRAM: &str = "__program";

/// One environment for every render: auto-escaping off, text kept exactly (including a
/// final line break), and the `octo_*` functions and filters registered.
static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut environment = Environment::new();
    environment.set_auto_escape_callback(|_| AutoEscape::None);
    // Building a syntax with the default delimiters cannot fail.
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build();
    if let Ok(syntax) = syntax {
        environment.set_syntax(syntax);
    }
    environment.add_function("octo_lookup", lookup::lookup);
    environment.add_function("octo_items", lookup::items);
    environment.add_function("octo_emit", emit);
    environment.add_function("octo_echo", echo);
    environment.add_function("octo_block", echo_block);
    environment.add_function("octo_truthy", |value: Value| {
        crate::is_truthy(value.as_str().unwrap_or_default())
    });
    environment.add_function("octo_calc_operands", calc::operands);
    environment.add_function("octo_calc_result", calc::result);
    environment.add_function("octo_divide", calc::divide);
    environment.add_function("octo_modulo", calc::modulo);
    for definition in filters::all() {
        environment.add_filter(
            filters::registered_name(definition),
            move |state: &State, value: Value, tag: usize, arguments: Rest<Value>| {
                apply_filter(state, definition, value, tag, &arguments)
            },
        );
    }
    environment
});

/// What every `octo_*` call of one render shares.
#[derive(Debug)]
pub(crate) struct RenderState {
    pub store: Arc<Store>,
    pub lenient: bool,
    pub now: DateTime<Utc>,
    /// The variables whose values are being expanded, outermost first, to catch cycles.
    pub expanding: Mutex<Vec<(Key, String)>>,
    /// Variables' expanded values, computed once per render.
    pub expanded: Mutex<HashMap<Key, String>>,
    pub limits: Limits,
    /// Steps taken so far, against `limits.max_steps`.
    pub steps: AtomicU64,
}

impl RenderState {
    /// Counts `steps` more; over the budget it is an error at `tag`.
    fn charge(&self, scope: &Scope, tag: usize, steps: u64) -> Result<(), minijinja::Error> {
        let taken = self
            .steps
            .fetch_add(steps, Ordering::Relaxed)
            .saturating_add(steps);
        if taken > self.limits.max_steps {
            return Err(scope.fail(
                tag,
                TemplateErrorKind::OverBudget,
                format!(
                    "the template takes more than {} steps to render (values that repeat \
                     other values, or loops inside loops)",
                    self.limits.max_steps
                ),
            ));
        }
        Ok(())
    }

    /// What a text produced now may still have: the output budget, or the steps left if
    /// fewer (each byte produced is a step).
    fn remaining(&self) -> usize {
        let steps_left = self
            .limits
            .max_steps
            .saturating_sub(self.steps.load(Ordering::Relaxed));
        usize::try_from(steps_left)
            .unwrap_or(usize::MAX)
            .min(self.limits.max_output_bytes)
    }

    /// Refuses a text longer than the output budget, at `tag`.
    fn check_size(
        &self,
        scope: &Scope,
        tag: usize,
        bytes: usize,
        what: &str,
    ) -> Result<(), minijinja::Error> {
        if bytes > self.limits.max_output_bytes {
            return Err(scope.fail(
                tag,
                TemplateErrorKind::OverBudget,
                format!(
                    "{what} is longer than the most a render may produce ({} bytes)",
                    self.limits.max_output_bytes
                ),
            ));
        }
        Ok(())
    }
}

impl Object for RenderState {}
impl Object for Program {}

/// The render state and the current program, found through the minijinja context.
pub(crate) struct Scope {
    /// The state as a minijinja value, to hand on to the render of a variable's value.
    render_value: Value,
    render: Arc<RenderState>,
    program: Arc<Program>,
}

impl Scope {
    fn of(state: &State) -> Result<Scope, minijinja::Error> {
        let missing = || {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                "render state is missing",
            )
        };
        let render_value = state.lookup(RENDER).ok_or_else(missing)?;
        let render = render_value
            .downcast_object::<RenderState>()
            .ok_or_else(missing)?;
        let program = state
            .lookup(PROGRAM)
            .and_then(|program| program.downcast_object::<Program>())
            .ok_or_else(missing)?;
        Ok(Scope {
            render_value,
            render,
            program,
        })
    }

    fn render(&self) -> &RenderState {
        &self.render
    }

    fn program(&self) -> &Program {
        &self.program
    }

    fn tag(&self, tag: usize) -> Result<&TagInfo, minijinja::Error> {
        self.program().tags.get(tag).ok_or_else(|| {
            minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, "unknown tag")
        })
    }

    /// A failure at a tag's position, ready to return from a minijinja call.
    fn fail(&self, tag: usize, kind: TemplateErrorKind, message: String) -> minijinja::Error {
        let position = self
            .tag(tag)
            .map(|info| (info.position.line, info.position.column))
            .unwrap_or((1, 1));
        Failure::new(kind, message, position).into_minijinja()
    }
}

/// Renders a program against a render state; used for templates and for variable values.
/// The output is written into a buffer that refuses to grow past the output budget, so text
/// repeated by loops is stopped as it is produced, not after.
pub(crate) fn render_program(program: Program, render: Value) -> Result<String, Failure> {
    let limit = render
        .downcast_object_ref::<RenderState>()
        .map_or(Limits::DEFAULT_MAX_OUTPUT_BYTES, |state| {
            state.limits.max_output_bytes
        });
    let source = program.source.clone();
    let context = minijinja::context! {
        __render => render,
        __program => Value::from_object(program),
    };
    let failed = |error: minijinja::Error| {
        Failure::from_minijinja(&error).unwrap_or_else(|| {
            Failure::new(
                TemplateErrorKind::Syntax,
                format!("the template could not be rendered: {error}"),
                (1, 1),
            )
        })
    };
    let template = ENVIRONMENT.template_from_str(&source).map_err(failed)?;
    let mut output = BoundedOutput {
        bytes: Vec::new(),
        limit,
        over: false,
    };
    if let Err(error) = template.render_captured_to(context, &mut output) {
        if output.over {
            return Err(Failure::new(
                TemplateErrorKind::OverBudget,
                format!(
                    "the rendered text is longer than the most a render may produce ({limit} bytes)"
                ),
                (1, 1),
            ));
        }
        return Err(failed(error));
    }
    String::from_utf8(output.bytes).map_err(|_| {
        Failure::new(
            TemplateErrorKind::Syntax,
            "the template rendered text that is not UTF-8".to_owned(),
            (1, 1),
        )
    })
}

/// A render's output, refusing to grow past `limit` bytes.
struct BoundedOutput {
    bytes: Vec<u8>,
    limit: usize,
    over: bool,
}

impl std::io::Write for BoundedOutput {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len().saturating_add(buffer.len()) > self.limit {
            self.over = true;
            return Err(std::io::Error::other("over the output budget"));
        }
        self.bytes.extend_from_slice(buffer);
        Ok(buffer.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The state of one render (one budget, one set of expanded values).
fn render_state(store: Arc<Store>, options: &Options) -> Value {
    Value::from_object(RenderState {
        store,
        lenient: options.lenient,
        now: options.now,
        expanding: Mutex::new(Vec::new()),
        expanded: Mutex::new(HashMap::new()),
        limits: options.limits,
        steps: AtomicU64::new(0),
    })
}

/// Renders a top-level template.
pub(crate) fn render(
    program: Program,
    store: Arc<Store>,
    options: &Options,
) -> Result<String, TemplateError> {
    finish(program, render_state(store, options), options.limits)
}

/// Renders templates one after another in one render state.
pub(crate) fn render_all(
    templates: &[&str],
    store: Arc<Store>,
    options: &Options,
) -> Vec<Result<String, TemplateError>> {
    let render = render_state(store, options);
    templates
        .iter()
        .map(|template| {
            // As `lookup::expand` reads a value: strictly, and as written when it does not parse.
            let Ok(nodes) = crate::syntax::parse(template) else {
                return Ok((*template).to_owned());
            };
            finish(
                crate::compile::compile(&nodes),
                render.clone(),
                options.limits,
            )
        })
        .collect()
}

/// Renders `program` in `render` and checks the size of the result.
fn finish(program: Program, render: Value, limits: Limits) -> Result<String, TemplateError> {
    let output = render_program(program, render).map_err(Failure::into_template_error)?;
    if output.len() > limits.max_output_bytes {
        return Err(TemplateError {
            kind: TemplateErrorKind::OverBudget,
            message: format!(
                "the rendered text is longer than the most a render may produce ({} bytes)",
                limits.max_output_bytes
            ),
            line: 1,
            column: 1,
        });
    }
    Ok(output)
}

/// Checks that the compiled source is valid minijinja, without rendering it.
pub(crate) fn validate(program: &Program) -> Result<(), TemplateError> {
    let environment = Environment::new();
    environment
        .template_from_str(&program.source)
        .map(|_| ())
        .map_err(|error| TemplateError {
            kind: TemplateErrorKind::Syntax,
            message: format!("the template could not be compiled: {error}"),
            line: 1,
            column: 1,
        })
}

/// `{{ octo_emit(tag, value) }}`: the value, or (lenient) the tag as written when it has none.
fn emit(state: &State, tag: usize, value: Value) -> Result<Value, minijinja::Error> {
    if value.is_none() || value.is_undefined() {
        return echo(state, tag);
    }
    Ok(value)
}

/// The tag as written, for lenient pass-through.
fn echo(state: &State, tag: usize) -> Result<Value, minijinja::Error> {
    let scope = Scope::of(state)?;
    Ok(Value::from(scope.tag(tag)?.source.clone()))
}

/// An `#{if}` block as written, for lenient pass-through.
fn echo_block(state: &State, block: usize) -> Result<Value, minijinja::Error> {
    let scope = Scope::of(state)?;
    let source = scope
        .program()
        .blocks
        .get(block)
        .cloned()
        .unwrap_or_default();
    Ok(Value::from(source))
}

fn apply_filter(
    state: &State,
    definition: &FilterDefinition,
    value: Value,
    tag: usize,
    arguments: &[Value],
) -> Result<Value, minijinja::Error> {
    let scope = Scope::of(state)?;
    let render = scope.render();
    if (value.is_none() || value.is_undefined()) && definition.needs_value {
        // Strict rendering fails before a value goes missing, so here there was no variable
        // at all, as in `#{ | ToUpper}`.
        if render.lenient {
            return Ok(Value::from(()));
        }
        return Err(scope.fail(
            tag,
            TemplateErrorKind::FilterArgument,
            format!("filter `{}` has no value to work on", definition.name),
        ));
    }
    let text = value.as_str().map(str::to_owned).unwrap_or_default();
    let arguments: Vec<String> = arguments.iter().map(text_of).collect();
    // A filter's arguments may be patterns (`Replace`, `Match`) whose compiling costs far more
    // than their length: they are charged heavily.
    let argument_bytes: usize = arguments.iter().map(String::len).sum();
    render.charge(
        &scope,
        tag,
        1 + text.len() as u64 + 64 * argument_bytes as u64,
    )?;
    let input = FilterInput {
        value: &text,
        arguments: &arguments,
        now: render.now,
        lenient: render.lenient,
        output_limit: render.remaining(),
    };
    match (definition.apply)(&input) {
        Ok(result) => {
            render.charge(&scope, tag, result.len() as u64)?;
            render.check_size(
                &scope,
                tag,
                result.len(),
                &format!("the result of filter `{}`", definition.name),
            )?;
            Ok(Value::from(result))
        }
        Err(FilterError::OverBudget) => Err(scope.fail(
            tag,
            TemplateErrorKind::OverBudget,
            format!(
                "the result of filter `{}` would be longer than what is left of the render's \
                 budget ({} bytes or steps)",
                definition.name,
                render.remaining()
            ),
        )),
        Err(_) if render.lenient => Ok(Value::from(())),
        Err(FilterError::Unusable(reason)) => Err(scope.fail(
            tag,
            TemplateErrorKind::FilterArgument,
            format!("filter `{}` {reason}", definition.name),
        )),
    }
}

/// A value as text: strings as they are, anything else as minijinja prints it.
pub(crate) fn text_of(value: &Value) -> String {
    match value.as_str() {
        Some(text) => text.to_owned(),
        None => value.to_string(),
    }
}
