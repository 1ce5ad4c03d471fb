//! NGINX through the real `ferry-helper` binary and a real, private NGINX (its own prefix,
//! configuration, pid file and loopback port): a deployed site answers over HTTP; a site NGINX
//! refuses fails the deploy with NGINX's message, the previous file comes back byte for byte
//! and the old site keeps answering.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use ferry_contracts::helper::{NginxBinding, NginxLocation, NginxSite};

const NGINX: &str = "/usr/sbin/nginx";

/// A private NGINX, stopped when dropped.
struct PrivateNginx {
    prefix: tempfile::TempDir,
    /// Where the sites the helper writes go (`include sites/*.conf;`).
    sites: PathBuf,
}

impl PrivateNginx {
    fn start() -> Self {
        assert!(
            Path::new(NGINX).exists(),
            "{NGINX} is missing: the NGINX tests need a real NGINX (Debian's nginx-light; the project's infra scripts install it)"
        );
        let prefix = tempfile::tempdir().unwrap();
        let root = prefix.path();
        let sites = root.join("sites");
        fs::create_dir_all(&sites).unwrap();
        fs::create_dir_all(root.join("temp")).unwrap();
        let placeholder_port = free_port();
        let config = format!(
            "worker_processes 1;\npid {root}/nginx.pid;\nerror_log {root}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n\
               client_body_temp_path {root}/temp/body;\n  proxy_temp_path {root}/temp/proxy;\n\
               fastcgi_temp_path {root}/temp/fastcgi;\n  uwsgi_temp_path {root}/temp/uwsgi;\n\
               scgi_temp_path {root}/temp/scgi;\n\
               # Without a server of its own NGINX would listen on port 80.\n\
               server {{ listen 127.0.0.1:{placeholder_port}; return 204; }}\n\
               include {root}/sites/*.conf;\n}}\n",
            root = root.display()
        );
        fs::write(root.join("nginx.conf"), config).unwrap();
        let nginx = PrivateNginx { prefix, sites };
        let status = Command::new(NGINX)
            .args(nginx.arguments())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "the private NGINX did not start: {}",
            nginx.error_log()
        );
        nginx
    }

    /// `-p <prefix> -c <prefix>/nginx.conf -e <prefix>/error.log`.
    fn arguments(&self) -> Vec<String> {
        let root = self.prefix.path().display();
        vec![
            "-p".into(),
            format!("{root}/"),
            "-c".into(),
            format!("{root}/nginx.conf"),
            "-e".into(),
            format!("{root}/error.log"),
        ]
    }

    fn command(&self, first: &str) -> String {
        format!("{NGINX} {first} {}", self.arguments().join(" "))
    }

    fn error_log(&self) -> String {
        fs::read_to_string(self.prefix.path().join("error.log")).unwrap_or_default()
    }

    fn site(
        &self,
        file_name: &str,
        port: u16,
        root: &Path,
        directive: Option<(&str, &str)>,
    ) -> NginxSite {
        let mut directives = vec![
            ("root".to_owned(), root.display().to_string()),
            ("index".to_owned(), "index.html".to_owned()),
        ];
        directives.extend(directive.map(|(name, value)| (name.to_owned(), value.to_owned())));
        NginxSite {
            config_folder: self.sites.display().to_string(),
            validate_command: self.command("-t -q"),
            reload_command: self.command("-s reload"),
            file_name: file_name.into(),
            bindings: vec![NginxBinding {
                protocol: "http".into(),
                address: "127.0.0.1".into(),
                port,
            }],
            server_name: Some("*".into()),
            locations: vec![
                NginxLocation {
                    path: "/".into(),
                    directives,
                    reverse_proxy: None,
                },
                NginxLocation {
                    path: "/api/".into(),
                    directives: vec![("proxy_set_header".into(), "Host api.internal".into())],
                    reverse_proxy: Some(format!("http://127.0.0.1:{}", free_port())),
                },
            ],
        }
    }
}

impl Drop for PrivateNginx {
    fn drop(&mut self) {
        let _ = Command::new(NGINX)
            .arg("-s")
            .arg("stop")
            .args(self.arguments())
            .status();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The body of `GET /` on the port, once it answers with `expected` (NGINX reloads in the
/// background), or what it answered last.
fn body_once(port: u16, expected: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = TcpStream::connect(("127.0.0.1", port)).and_then(|mut stream| {
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            stream.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
            let mut response = String::new();
            stream.read_to_string(&mut response)?;
            Ok(response)
        });
        let body = match &answer {
            Ok(response) => response
                .split_once("\r\n\r\n")
                .map_or("", |(_, body)| body)
                .to_owned(),
            Err(error) => format!("no answer: {error}"),
        };
        if body == expected || Instant::now() > deadline {
            return body;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn nginx_deploy(target: &Target, version: &str, site: NginxSite) -> Run {
    let bytes = tar_gz(&[("index.html", &format!("shop {version}\n"), 0o644)]);
    let mut request = deploy_request(described("Shop", version, &bytes, "tar.gz"));
    deploy_of(&mut request).nginx = Some(site);
    target.run(&request, Some(&bytes))
}

#[test]
fn a_site_is_served_and_a_refused_one_leaves_the_previous_file_and_site() {
    let nginx = PrivateNginx::start();
    let target = Target::new();
    let port = free_port();
    let current = target.package_folder("Shop").join("current");
    let run = nginx_deploy(
        &target,
        "1.0.0",
        nginx.site("shop-test", port, &current, None),
    );
    run.assert_succeeded();
    let file = nginx.sites.join("shop-test.conf");
    assert!(
        run.log()
            .contains(&format!("Wrote the NGINX site {}", file.display())),
        "{}",
        run.log()
    );
    assert!(
        run.log().contains("NGINX accepted the new site"),
        "{}",
        run.log()
    );
    assert_eq!(
        body_once(port, "shop 1.0.0\n"),
        "shop 1.0.0\n",
        "{}",
        nginx.error_log()
    );
    let written = fs::read(&file).unwrap();
    let text = String::from_utf8(written.clone()).unwrap();
    assert!(
        text.contains("proxy_set_header Host api.internal;"),
        "{text}"
    );
    assert!(
        text.contains("proxy_set_header X-Forwarded-Proto $scheme;"),
        "{text}"
    );
    assert!(!text.contains("Host $host"), "{text}");

    let refused = nginx.site(
        "shop-test",
        port,
        &current,
        Some(("no_such_directive", "on")),
    );
    let run = nginx_deploy(&target, "1.0.1", refused);
    assert!(!run.result.succeeded);
    assert!(
        run.reason().contains("NGINX refused the new site")
            && run
                .reason()
                .contains("unknown directive \"no_such_directive\"")
            && run.reason().contains("the previous file was restored"),
        "{}",
        run.reason()
    );
    assert!(
        run.log()
            .contains("unknown directive \"no_such_directive\""),
        "{}",
        run.log()
    );
    assert_eq!(
        fs::read(&file).unwrap(),
        written,
        "the previous file is back byte for byte"
    );
    assert_eq!(current_of(&target.package_folder("Shop")), "1.0.0");
    assert_eq!(body_once(port, "shop 1.0.0\n"), "shop 1.0.0\n");

    // A refused site that had no previous file leaves no file behind.
    let fresh = nginx.site(
        "other-test",
        free_port(),
        &current,
        Some(("no_such_directive", "on")),
    );
    let run = nginx_deploy(&target, "1.0.2", fresh);
    assert!(!run.result.succeeded);
    assert!(
        run.reason().contains("the new file was removed"),
        "{}",
        run.reason()
    );
    assert!(!nginx.sites.join("other-test.conf").exists());
    assert_eq!(body_once(port, "shop 1.0.0\n"), "shop 1.0.0\n");
}
