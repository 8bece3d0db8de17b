//! Helpers shared by the CLI end-to-end tests.

pub mod kafka;
pub mod registry;
use assert_cmd::Command;
use std::path::{Path, PathBuf};

/// `millrace --data <dir> <args...>`.
pub fn millrace(data: &Path) -> Command {
    let mut cmd = Command::cargo_bin("millrace").unwrap();
    cmd.arg("--data")
        .arg(data)
        .env_remove("MILLRACE_DATA")
        .env_remove("MILLRACE_TOKEN");
    cmd
}

pub fn stdout_of(cmd: &mut Command) -> String {
    let output = cmd.output().unwrap();
    assert!(
        output.status.success(),
        "command failed: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

pub fn json_of(cmd: &mut Command) -> serde_json::Value {
    serde_json::from_str(&stdout_of(cmd)).unwrap()
}

/// Write a server configuration (it holds tokens) readable by its owner only,
/// as `millrace serve --config` requires.
pub fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A data directory with topic `name` of `partitions` partitions.
pub fn store_with_topic(name: &str, partitions: u32) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    millrace(&data)
        .args(["topic", "create", name, "--partitions", &partitions.to_string()])
        .assert()
        .success();
    (tmp, data)
}

/// Copy a checked-in fixture directory into `to`.
pub fn copy_fixture(name: &str, to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    copy_dir(&from, to);
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A `millrace serve` child process on a free loopback port; stopped with
/// SIGTERM on drop.
pub struct Server {
    pub child: std::process::Child,
    pub addr: String,
}

impl Server {
    pub fn start(data: &Path, extra: &[&str]) -> Server {
        Server::start_with_stderr(data, extra, std::process::Stdio::null())
    }

    /// [`Server::start`] with the server's log (its stderr) going to `stderr`.
    pub fn start_with_stderr(data: &Path, extra: &[&str], stderr: std::process::Stdio) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("millrace"))
            .arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--listen", &addr])
            .args(if extra.contains(&"--metrics-listen") {
                &[][..]
            } else {
                &["--no-metrics"][..]
            })
            // Not the Kafka front's default port: tests run side by side.
            .args(if extra.contains(&"--kafka-listen") {
                &[][..]
            } else {
                &["--kafka-listen", "off"][..]
            })
            .args(if extra.contains(&"--registry-listen") {
                &[][..]
            } else {
                &["--registry-listen", "off"][..]
            })
            .args(extra)
            .env_remove("MILLRACE_SERVER")
            .env_remove("MILLRACE_TOKEN")
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(std::time::Instant::now() < deadline, "server did not start on {addr}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Server { child, addr }
    }

    /// `millrace --server <addr> <args...>`.
    pub fn millrace(&self) -> Command {
        let mut cmd = Command::cargo_bin("millrace").unwrap();
        cmd.arg("--server")
            .arg(&self.addr)
            .env_remove("MILLRACE_DATA")
            .env_remove("MILLRACE_TOKEN");
        cmd
    }

    /// SIGTERM and wait; returns whether it exited successfully.
    pub fn stop(mut self) -> bool {
        self.terminate()
    }

    fn terminate(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

/// Every directory and file under `dir` with its bytes (None for a directory).
pub fn snapshot(dir: &Path) -> std::collections::BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.insert(path.clone(), None);
                stack.push(path);
            } else {
                out.insert(path.clone(), Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}
