//! The text of an NGINX site: `server { listen …; server_name …; location … { … } }`, with
//! every name, value and path checked so that nothing in the request can close a block or
//! start another one.

use ferry_contracts::helper::{NginxLocation, NginxSite};

/// Octopus's headers for a reverse-proxied location, each added unless a directive sets it.
const DEFAULT_PROXY_DIRECTIVES: &[(&str, &str)] = &[
    ("proxy_http_version", "1.1"),
    ("proxy_set_header", "Upgrade $http_upgrade"),
    ("proxy_set_header", "Connection \"keep-alive\""),
    ("proxy_set_header", "Host $host"),
    (
        "proxy_set_header",
        "X-Forwarded-For $proxy_add_x_forwarded_for",
    ),
    ("proxy_set_header", "X-Forwarded-Proto $scheme"),
    ("proxy_cache_bypass", "$http_upgrade"),
];

/// The site's file name, `<file_name>.conf`, checked to be one plain name.
pub fn file_name(site: &NginxSite) -> Result<String, String> {
    let name = site.file_name.as_str();
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\0', '\n', '\r'])
        || name.starts_with('.')
    {
        return Err(format!(
            "the NGINX file name `{name}` is not a plain file name"
        ));
    }
    Ok(format!("{name}.conf"))
}

pub fn render(site: &NginxSite) -> Result<String, String> {
    let mut text = format!(
        "# Written by ferry-helper for {}; replaced by the next deployment.\nserver {{\n",
        file_name(site)?
    );
    if site.bindings.is_empty() {
        return Err("the NGINX site has no binding to listen on".to_owned());
    }
    for binding in &site.bindings {
        if !binding.protocol.eq_ignore_ascii_case("http") {
            return Err(format!(
                "the NGINX binding on port {} uses `{}`: only `http` bindings are supported",
                binding.port, binding.protocol
            ));
        }
        let address = binding.address.trim();
        if address.is_empty() || address == "*" {
            text.push_str(&format!("    listen {};\n", binding.port));
        } else {
            check_word("binding address", address)?;
            let address = if address.contains(':') && !address.starts_with('[') {
                format!("[{address}]")
            } else {
                address.to_owned()
            };
            text.push_str(&format!("    listen {address}:{};\n", binding.port));
        }
    }
    if let Some(server_name) = site.server_name.as_deref().map(str::trim)
        && !server_name.is_empty()
        && server_name != "*"
    {
        check_value("server name", server_name)?;
        text.push_str(&format!("    server_name {server_name};\n"));
    }
    if !site.locations.iter().any(is_root) {
        return Err(
            "the NGINX site has no root location (`/` or `= /`); NGINX needs one".to_owned(),
        );
    }
    for location in &site.locations {
        render_location(location, &mut text)?;
    }
    text.push_str("}\n");
    Ok(text)
}

fn is_root(location: &NginxLocation) -> bool {
    let path: Vec<&str> = location.path.split_whitespace().collect();
    path == ["/"] || path == ["=", "/"]
}

fn render_location(location: &NginxLocation, text: &mut String) -> Result<(), String> {
    let path = location.path.trim();
    if path.is_empty() {
        return Err("an NGINX location has an empty path".to_owned());
    }
    check_value("location path", path)?;
    if path.contains(';') {
        return Err(format!("the NGINX location path `{path}` contains `;`"));
    }
    text.push_str(&format!("\n    location {path} {{\n"));
    if let Some(url) = location.reverse_proxy.as_deref() {
        check_word(
            &format!("reverse proxy URL of location `{path}`"),
            url.trim(),
        )?;
        text.push_str(&format!("        proxy_pass {};\n", url.trim()));
    }
    for (name, value) in &location.directives {
        check_name(name)?;
        check_value(&format!("value of the directive `{name}`"), value)?;
        let value = value.trim();
        if value.is_empty() {
            text.push_str(&format!("        {name};\n"));
        } else {
            text.push_str(&format!("        {name} {value};\n"));
        }
    }
    if location.reverse_proxy.is_some() {
        for (name, value) in DEFAULT_PROXY_DIRECTIVES {
            if !is_set(location, name, value) {
                text.push_str(&format!("        {name} {value};\n"));
            }
        }
    }
    text.push_str("    }\n");
    Ok(())
}

/// Whether a location's directives already set a default (a `proxy_set_header` counts per
/// header name).
fn is_set(location: &NginxLocation, name: &str, value: &str) -> bool {
    location.directives.iter().any(|(given, given_value)| {
        given.eq_ignore_ascii_case(name)
            && (name != "proxy_set_header"
                || first_word(given_value).eq_ignore_ascii_case(first_word(value)))
    })
}

fn first_word(text: &str) -> &str {
    text.split_whitespace().next().unwrap_or("")
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || ";{}#".contains(c))
    {
        return Err(format!(
            "the NGINX directive name `{}` is refused: a name has no whitespace, `;`, `{{`, `}}` or `#`",
            name.escape_debug()
        ));
    }
    Ok(())
}

/// Values may not hold a line break, a NUL, `{` or `}`: any of those could end the block.
fn check_value(what: &str, value: &str) -> Result<(), String> {
    if value.contains(['\n', '\r', '\0', '{', '}']) {
        return Err(format!(
            "the NGINX {what} `{}` is refused: it contains a line break, `{{` or `}}`",
            value.escape_debug()
        ));
    }
    Ok(())
}

/// One word: a value without whitespace or `;`.
fn check_word(what: &str, value: &str) -> Result<(), String> {
    check_value(what, value)?;
    if value.is_empty() || value.contains(|c: char| c.is_whitespace() || c == ';') {
        return Err(format!(
            "the NGINX {what} `{}` is refused: it must be one word without `;`",
            value.escape_debug()
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ferry_contracts::helper::NginxBinding;

    fn site(locations: Vec<NginxLocation>) -> NginxSite {
        NginxSite {
            config_folder: "/etc/nginx/conf.d".into(),
            validate_command: "nginx -t".into(),
            reload_command: "nginx -s reload".into(),
            file_name: "shop-production".into(),
            bindings: vec![
                NginxBinding {
                    protocol: "http".into(),
                    address: "*".into(),
                    port: 80,
                },
                NginxBinding {
                    protocol: "http".into(),
                    address: "127.0.0.1".into(),
                    port: 8080,
                },
            ],
            server_name: Some("shop.example".into()),
            locations,
        }
    }

    fn location(path: &str, directives: &[(&str, &str)], proxy: Option<&str>) -> NginxLocation {
        NginxLocation {
            path: path.into(),
            directives: directives
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
            reverse_proxy: proxy.map(str::to_owned),
        }
    }

    #[test]
    fn a_reverse_proxy_gets_the_defaults_not_set_by_directives() {
        let text = render(&site(vec![location(
            "= /",
            &[
                ("proxy_set_header", "Host example.org"),
                ("add_header", "X-A 1"),
                ("add_header", "X-B 2"),
            ],
            Some("http://127.0.0.1:5000"),
        )]))
        .unwrap();
        let body = text.split_once("server {\n").unwrap().1;
        assert_eq!(
            body,
            "    listen 80;\n    listen 127.0.0.1:8080;\n    server_name shop.example;\n\n    location = / {\n        proxy_pass http://127.0.0.1:5000;\n        proxy_set_header Host example.org;\n        add_header X-A 1;\n        add_header X-B 2;\n        proxy_http_version 1.1;\n        proxy_set_header Upgrade $http_upgrade;\n        proxy_set_header Connection \"keep-alive\";\n        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n        proxy_set_header X-Forwarded-Proto $scheme;\n        proxy_cache_bypass $http_upgrade;\n    }\n}\n"
        );
    }

    #[test]
    fn a_root_location_is_required_and_injection_is_refused() {
        let error = render(&site(vec![location("/api", &[], None)])).unwrap_err();
        assert!(error.contains("root location"), "{error}");
        let error = render(&site(vec![location(
            "/",
            &[("root", "/x; } server {")],
            None,
        )]))
        .unwrap_err();
        assert!(error.contains("directive `root`"), "{error}");
        let error = render(&site(vec![location("/", &[("a b", "x")], None)])).unwrap_err();
        assert!(error.contains("`a b`"), "{error}");
        let mut https = site(vec![location("/", &[], None)]);
        https.bindings[0].protocol = "https".into();
        assert!(render(&https).unwrap_err().contains("only `http`"));
    }
}
