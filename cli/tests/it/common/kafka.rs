//! Real Kafka clients nobody here wrote, against `millrace serve`'s Kafka
//! front: kcat (Debian's package) and the Python clients confluent-kafka,
//! kafka-python and aiokafka (a virtual environment), installed by
//! `make kafka-clients` (which `.ci/run` runs). Their scripts are in
//! `tests/kafka/` at the repository's root.
//!
//! Without the clients a test prints why and passes, unless
//! `MILLRACE_KAFKA_CLIENTS=require` (set by `make ci`), where their absence
//! fails it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use super::Server;

/// Where the clients are.
#[derive(Debug, Clone)]
pub struct KafkaClients {
    /// The `kcat` binary.
    pub kcat: PathBuf,
    /// The virtual environment's `python` (with the three clients).
    pub python: PathBuf,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The clients, or `None` (with a note on stderr) when they are not
/// installed and not required.
pub fn clients() -> Option<KafkaClients> {
    let venv =
        std::env::var_os("MILLRACE_KAFKA_VENV").map_or_else(|| repo_root().join("target/kafka-venv"), PathBuf::from);
    let python = venv.join("bin/python");
    let kcat = which("kcat");
    let required = std::env::var("MILLRACE_KAFKA_CLIENTS").is_ok_and(|v| v == "require");
    match kcat {
        Some(kcat) if python.exists() => Some(KafkaClients { kcat, python }),
        _ => {
            assert!(
                !required,
                "MILLRACE_KAFKA_CLIENTS=require but kcat or {} is missing: run `make kafka-clients`",
                python.display()
            );
            eprintln!("skipped: Kafka clients not installed (run `make kafka-clients`)");
            None
        }
    }
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A loopback port free at the time of the call.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `millrace serve` with its Kafka front on a free loopback port; returns
/// the server and the Kafka bootstrap address (`127.0.0.1:PORT`).
pub fn start_server(data: &Path, extra: &[&str]) -> (Server, String) {
    start_server_with_stderr(data, extra, std::process::Stdio::null())
}

/// [`start_server`] with the server's log (its stderr) going to `stderr`.
pub fn start_server_with_stderr(data: &Path, extra: &[&str], stderr: std::process::Stdio) -> (Server, String) {
    let kafka = format!("127.0.0.1:{}", free_port());
    let mut args = vec!["--kafka-listen", kafka.as_str()];
    args.extend_from_slice(extra);
    let server = Server::start_with_stderr(data, &args, stderr);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&kafka).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "Kafka front did not start on {kafka}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, kafka)
}

impl KafkaClients {
    /// `kcat -b BOOTSTRAP ARGS...` with `stdin` as its input.
    pub fn kcat(&self, bootstrap: &str, args: &[&str], stdin: &[u8]) -> Output {
        run(Command::new(&self.kcat).arg("-b").arg(bootstrap).args(args), stdin)
    }

    /// `python tests/kafka/SCRIPT BOOTSTRAP ARGS...`.
    pub fn python(&self, script: &str, bootstrap: &str, args: &[&str]) -> Output {
        run(
            Command::new(&self.python)
                .arg(repo_root().join("tests/kafka").join(script))
                .arg(bootstrap)
                .args(args),
            b"",
        )
    }
}

/// Runs `command` with `stdin`, killed after two minutes (a client that
/// hangs fails the test instead of the CI run).
fn run(command: &mut Command, stdin: &[u8]) -> Output {
    use std::io::{Read, Write};
    // `cargo test` puts the build's own library directories on
    // LD_LIBRARY_PATH, among them the librdkafka the mirror feature builds
    // (without OpenSSL): Debian's kcat must load its own.
    let mut child = command
        .env_remove("LD_LIBRARY_PATH")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = out.read_to_end(&mut bytes);
        bytes
    });
    let stderr = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = err.read_to_end(&mut bytes);
        bytes
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = writer.join();
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Panics with the client's stderr unless it exited successfully.
pub fn success(output: &Output) -> String {
    assert!(
        output.status.success(),
        "client failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
