//! `UriPart`: one part of a URI, named as .NET's `System.Uri` names its properties
//! (`Scheme`, `Host`, `Port`, `Path`, `Query`, `Fragment`, `UserInfo`, `Authority`, …), with
//! Octostache's bracketed messages for a missing or unknown part and for relative URIs.

use super::{FilterError, FilterInput, FilterResult};

/// An absolute URI split into what .NET reports.
struct AbsoluteUri<'a> {
    /// Lower-cased, as `Uri.Scheme` returns it.
    scheme: String,
    user_info: &'a str,
    /// Lower-cased, with brackets for IPv6.
    host: String,
    /// The port written after the host, if any.
    explicit_port: Option<u16>,
    /// The path as written, `/` when there is none and the URI has a host.
    path: &'a str,
    /// With its `?`, or empty.
    query: &'a str,
    /// With its `#`, or empty.
    fragment: &'a str,
}

/// `UriPart PART`. Octostache answers problems in the output rather than failing; lenient
/// rendering does too (`[UriPart error: no argument given]`,
/// `[UriPart Foo error: argument 'Foo' not supported]`, and .NET's message for a relative URI),
/// strict rendering reports them as errors.
pub(super) fn uri_part(input: &FilterInput<'_>) -> FilterResult {
    let problem = |part: &str, message: String| -> FilterResult {
        if input.lenient {
            let part = if part.is_empty() {
                String::new()
            } else {
                format!(" {part}")
            };
            Ok(format!("[UriPart{part} error: {message}]"))
        } else {
            Err(FilterError::Unusable(message))
        }
    };
    let Some(part) = input.arguments.first() else {
        return problem("", "no argument given".to_owned());
    };
    let wanted = part.to_lowercase();
    let unsupported = || problem(part, format!("argument '{part}' not supported"));
    if !KNOWN_PARTS.contains(&wanted.as_str()) {
        return unsupported();
    }
    let Some(uri) = parse_absolute(input.value) else {
        if wanted == "isabsoluteuri" {
            return Ok("false".to_owned());
        }
        return problem(
            part,
            "This operation is not supported for a relative URI.".to_owned(),
        );
    };
    let port = uri
        .explicit_port
        .map(i32::from)
        .unwrap_or_else(|| default_port(&uri.scheme));
    let is_default_port = uri
        .explicit_port
        .is_none_or(|explicit| i32::from(explicit) == default_port(&uri.scheme));
    let authority = if is_default_port || port < 0 {
        uri.host.clone()
    } else {
        format!("{}:{port}", uri.host)
    };
    let boolean = |value: bool| if value { "true" } else { "false" }.to_owned();
    Ok(match wanted.as_str() {
        "absolutepath" => uri.path.to_owned(),
        "absoluteuri" => format!(
            "{}://{}{authority}{}{}{}",
            uri.scheme,
            user_info_prefix(uri.user_info),
            uri.path,
            uri.query,
            uri.fragment
        ),
        "authority" => authority,
        "dnssafehost" => uri
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        "fragment" => uri.fragment.to_owned(),
        "host" => uri.host.clone(),
        "hostandport" if port >= 0 => format!("{}:{port}", uri.host),
        "hostandport" => uri.host.clone(),
        "hostnametype" => host_name_type(&uri.host).to_owned(),
        "isabsoluteuri" => boolean(true),
        "isdefaultport" => boolean(is_default_port),
        "isfile" => boolean(uri.scheme == "file"),
        "isloopback" => boolean(is_loopback(&uri.host)),
        "isunc" => boolean(uri.scheme == "file" && !uri.host.is_empty()),
        "path" => percent_decode(uri.path),
        "pathandquery" => format!("{}{}", uri.path, uri.query),
        "port" => port.to_string(),
        "query" => uri.query.to_owned(),
        "scheme" => uri.scheme.clone(),
        "schemeandserver" => format!("{}://{authority}", uri.scheme),
        "userinfo" => uri.user_info.to_owned(),
        _ => return unsupported(),
    })
}

const KNOWN_PARTS: &[&str] = &[
    "absolutepath",
    "absoluteuri",
    "authority",
    "dnssafehost",
    "fragment",
    "host",
    "hostandport",
    "hostnametype",
    "isabsoluteuri",
    "isdefaultport",
    "isfile",
    "isloopback",
    "isunc",
    "path",
    "pathandquery",
    "port",
    "query",
    "scheme",
    "schemeandserver",
    "userinfo",
];

fn user_info_prefix(user_info: &str) -> String {
    if user_info.is_empty() {
        String::new()
    } else {
        format!("{user_info}@")
    }
}

/// Reads `scheme://[user@]host[:port][/path][?query][#fragment]`; anything else is relative.
fn parse_absolute(text: &str) -> Option<AbsoluteUri<'_>> {
    let text = text.trim();
    let (scheme, rest) = text.split_once("://")?;
    let scheme_is_valid = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_is_valid {
        return None;
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, after_authority) = rest.split_at(authority_end);
    let (user_info, host_and_port) = match authority.rsplit_once('@') {
        Some((user_info, host_and_port)) => (user_info, host_and_port),
        None => ("", authority),
    };
    let (host, explicit_port) = split_port(host_and_port)?;
    if host.is_empty() && scheme != "file" {
        return None;
    }
    let fragment_start = after_authority.find('#').unwrap_or(after_authority.len());
    let (before_fragment, fragment) = after_authority.split_at(fragment_start);
    let query_start = before_fragment.find('?').unwrap_or(before_fragment.len());
    let (path, query) = before_fragment.split_at(query_start);
    Some(AbsoluteUri {
        scheme: scheme.to_lowercase(),
        user_info,
        host: host.to_lowercase(),
        explicit_port,
        path: if path.is_empty() { "/" } else { path },
        query,
        fragment,
    })
}

/// `host:port`, `[::1]:port` or a host alone; `None` when the port is not a number.
fn split_port(host_and_port: &str) -> Option<(&str, Option<u16>)> {
    let port_separator = if host_and_port.starts_with('[') {
        host_and_port
            .find(']')
            .and_then(|close| host_and_port[close..].find(':').map(|colon| close + colon))
    } else {
        host_and_port.rfind(':')
    };
    match port_separator {
        Some(colon) => {
            let port = &host_and_port[colon + 1..];
            if port.is_empty() {
                return Some((&host_and_port[..colon], None));
            }
            Some((&host_and_port[..colon], Some(port.parse().ok()?)))
        }
        None => Some((host_and_port, None)),
    }
}

/// The ports .NET knows for its registered schemes; -1 for any other scheme.
fn default_port(scheme: &str) -> i32 {
    match scheme {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        "ftp" => 21,
        "gopher" => 70,
        "nntp" | "news" => 119,
        "telnet" => 23,
        "ldap" => 389,
        "mailto" => 25,
        "net.tcp" => 808,
        _ => -1,
    }
}

fn host_name_type(host: &str) -> &'static str {
    if host.starts_with('[') {
        "IPv6"
    } else if host.parse::<std::net::Ipv4Addr>().is_ok() {
        "IPv4"
    } else if !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
    {
        "Dns"
    } else {
        "Basic"
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|address| address.is_loopback())
}

/// `%XX` sequences decoded as UTF-8 (invalid sequences are kept as written).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut position = 0;
    while position < bytes.len() {
        let hex = bytes
            .get(position + 1..position + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[position], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                position += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                position += 1;
            }
        }
    }
    String::from_utf8(decoded).unwrap_or_else(|_| text.to_owned())
}
