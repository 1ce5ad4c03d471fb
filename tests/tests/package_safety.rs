//! Packages that would escape their folder, carry special bits or expand without bound are
//! refused at upload, with the offending entry named, and nothing is stored. The worker
//! extracts with the same rules (`ferry_packages::unpack`), so what is refused here could not
//! be deployed either.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::io::{Cursor, Write};

use ferry_tests::{StackOptions, TestStack};
use reqwest::StatusCode;

fn tar_gz(entries: Vec<(tar::Header, Vec<u8>)>) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut builder = tar::Builder::new(encoder);
    for (header, contents) in entries {
        builder.append(&header, contents.as_slice()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

fn entry(
    path: &str,
    kind: tar::EntryType,
    mode: u32,
    link: Option<&str>,
) -> (tar::Header, Vec<u8>) {
    let contents = if kind == tar::EntryType::Regular {
        b"#!/bin/sh\n".to_vec()
    } else {
        Vec::new()
    };
    let mut header = tar::Header::new_gnu();
    header.set_path(path).unwrap();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(contents.len() as u64);
    if let Some(target) = link {
        header.set_link_name(target).unwrap();
    }
    header.set_cksum();
    (header, contents)
}

fn zip_with(add: impl FnOnce(&mut zip::ZipWriter<Cursor<Vec<u8>>>)) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    add(&mut writer);
    writer.finish().unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_packages_are_refused_at_upload_naming_the_entry() {
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        notifier: false,
        ..StackOptions::default()
    })
    .await;
    let zip_bomb = zip_with(|writer| {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        writer.start_file("zeros.bin", options).unwrap();
        let chunk = vec![0u8; 1024 * 1024];
        for _ in 0..32 {
            writer.write_all(&chunk).unwrap();
        }
    });
    let outward_zip = zip_with(|writer| {
        writer
            .add_symlink(
                "config",
                "../../etc",
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
    });
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "setuid",
            tar_gz(vec![entry(
                "bin/tool",
                tar::EntryType::Regular,
                0o4755,
                None,
            )]),
            "bin/tool",
            "set-user-ID",
        ),
        (
            "absolute link",
            tar_gz(vec![entry(
                "passwd",
                tar::EntryType::Symlink,
                0o777,
                Some("/etc/passwd"),
            )]),
            "passwd",
            "points outside",
        ),
        (
            "hard link",
            tar_gz(vec![entry(
                "host",
                tar::EntryType::Link,
                0o644,
                Some("../../etc/hostname"),
            )]),
            "host",
            "hard links are not accepted",
        ),
        ("outward zip link", outward_zip, "config", "points outside"),
        ("zip bomb", zip_bomb, "zeros.bin", "times its size"),
    ];
    for (case, bytes, entry_name, reason) in cases {
        let (status, body) = stack
            .post_raw(
                "/api/packages/Hostile/1.0.0",
                "application/octet-stream",
                bytes,
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{case}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("entry `{entry_name}` is refused"))
                && message.contains(reason),
            "{case}: {message}"
        );
        assert_eq!(stack.count("packages").await, 0, "{case}: no package row");
        assert_eq!(
            stack.store().list("").await.unwrap_or_default(),
            Vec::<String>::new(),
            "{case}: no S3 object"
        );
    }
    stack.stop().await;
}
