//! The gate's choice of shell scripts for shellcheck, on a scratch tree.
#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::path::Path;

fn write(root: &Path, path: &str, contents: &str) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, contents).unwrap();
}

#[test]
fn shellcheck_gets_the_sh_and_bash_scripts_of_infra_and_ci() {
    let root = tempfile::tempdir().unwrap();
    for (path, contents) in [
        ("infra/dev", "#!/usr/bin/env bash\nset -euo pipefail\n"),
        ("infra/tools/setup", "#!/bin/sh -e\necho hi\n"),
        ("infra/notes.md", "# not a script\n"),
        ("infra/report.py", "#!/usr/bin/env python3\nprint('hi')\n"),
        (".ci/run", "#!/bin/bash\nexec infra/dev test\n"),
        ("scripts/elsewhere", "#!/usr/bin/env bash\n"),
    ] {
        write(root.path(), path, contents);
    }
    assert_eq!(
        xtask::gate::shell_scripts(root.path()).unwrap(),
        vec![".ci/run", "infra/dev", "infra/tools/setup"]
    );
}
