//! The server's layering rules of design/architecture.md, checked on the
//! source: the service layer (`server/src/server/service/`, and
//! `group_budget.rs` that it uses) never names a wire type, so a second
//! protocol front can call it; and the native front (`handler/`,
//! `listing.rs`, `convert.rs`) never calls the store: every engine call goes
//! through `Service`.

use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// Lines of `files` (comments skipped) that hold any of `needles`.
fn offending(files: &[PathBuf], needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if needles.iter().any(|n| code.contains(n)) {
                found.push(format!("{}:{}: {}", file.display(), number + 1, line.trim()));
            }
        }
    }
    found
}

fn server_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/server")
}

#[test]
fn the_service_layer_names_no_wire_type() {
    let mut files = sources(&server_dir().join("service"));
    files.push(server_dir().join("group_budget.rs"));
    let wire = [
        "crate::messages",
        "crate::error_code",
        "crate::frame",
        "crate::wire",
        "crate::protocol",
        "WireError",
        "ErrorCode",
    ];
    let found = offending(&files, &wire);
    assert!(
        found.is_empty(),
        "wire types in the service layer:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_native_front_calls_the_engine_through_the_service_only() {
    let mut files = sources(&server_dir().join("handler"));
    files.push(server_dir().join("listing.rs"));
    files.push(server_dir().join("convert.rs"));
    let store = [
        "millrace::Store;",
        "millrace::Store,",
        "millrace::Store}",
        "millrace::Store)",
        "service.store.",
        "&service.store,",
        "&service.store)",
        ".store.",
        "&Store)",
        "&Store,",
    ];
    let found = offending(&files, &store);
    assert!(found.is_empty(), "store calls in the front:\n{}", found.join("\n"));
}
