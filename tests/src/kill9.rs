//! The spawn/kill/collect harness the kill -9 suites share (`tests/kill9/`: `kill9.rs`,
//! `kill9_producer.rs`, `pipeline_kill9.rs`; and `server/tests/kill9.rs`): a
//! [`Victim`] is a child process whose stdout is read line by line on a thread
//! and whose stderr is kept; the test waits for a line, SIGKILLs the child,
//! reaps it and collects every complete line it printed. A line cut short by
//! the kill is dropped: the child never finished printing it, so whatever it
//! reports was not yet acknowledged. A `Victim` dropped while its child lives
//! (a failing test) kills and reaps it, so no orphan is left behind.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Linux's signal number for SIGKILL.
const SIGKILL: i32 = 9;

/// A running child process and the threads draining its output.
#[derive(Debug)]
pub struct Victim {
    /// `None` once the child was reaped by [`Victim::kill`] or [`Victim::wait`].
    child: Option<Child>,
    lines: Receiver<String>,
    stdout_reader: Option<JoinHandle<()>>,
    stderr_reader: Option<JoinHandle<String>>,
}

/// How a child ended and what it printed.
#[derive(Debug)]
pub struct Ended {
    pub status: ExitStatus,
    /// Every complete stdout line not yet taken through [`Victim::next_line`]
    /// or [`Victim::wait_for_line`], without its newline.
    pub lines: Vec<String>,
    pub stderr: String,
}

impl Ended {
    /// Whether the child died by a SIGKILL (ours), rather than exiting by itself.
    pub fn killed(&self) -> bool {
        self.status.signal() == Some(SIGKILL)
    }
}

impl Victim {
    /// Spawn `command` with its stdout and stderr piped to this process.
    ///
    /// # Panics
    /// If the process cannot be spawned (a test harness: a panic is the report).
    pub fn spawn(mut command: Command) -> Victim {
        let program = format!("{:?}", command.get_program());
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let (sender, lines) = mpsc::channel();
        let stdout_reader = stdout.map(|stdout| {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    match reader.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => return,
                        // A line cut short by the kill was not fully printed: drop it.
                        Ok(_) if line.last() != Some(&b'\n') => return,
                        Ok(_) => {
                            line.pop();
                            if sender.send(String::from_utf8_lossy(&line).into_owned()).is_err() {
                                return;
                            }
                        }
                    }
                }
            })
        });
        let stderr_reader = stderr.map(|mut stderr| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = stderr.read_to_string(&mut text);
                text
            })
        });
        Victim {
            child: Some(child),
            lines,
            stdout_reader,
            stderr_reader,
        }
    }

    /// The child's process id.
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The next complete stdout line, waiting up to `timeout`.
    pub fn next_line(&self, timeout: Duration) -> Result<String, RecvTimeoutError> {
        self.lines.recv_timeout(timeout)
    }

    /// Wait up to `timeout` for a line `wanted` accepts and return it; the
    /// lines before it go to `before`. `None` if the child printed no such line
    /// in time (or exited first).
    pub fn wait_for_line(
        &self,
        timeout: Duration,
        mut wanted: impl FnMut(&str) -> bool,
        before: &mut Vec<String>,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if wanted(&line) => return Some(line),
                Ok(line) => before.push(line),
                Err(_) => return None,
            }
        }
    }

    /// The complete lines printed so far and not yet taken, without waiting.
    pub fn lines_so_far(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// SIGKILL the child (std's `Child::kill` sends SIGKILL on Unix; a child
    /// that already exited is only reaped), reap it and collect its output.
    pub fn kill(mut self) -> Ended {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
        }
        self.end()
    }

    /// Wait for the child to exit by itself and collect its output.
    pub fn wait(mut self) -> Ended {
        self.end()
    }

    /// Wait up to `timeout` for the child to exit by itself and collect its
    /// output; the victim back, still running, if it did not.
    pub fn wait_timeout(mut self, timeout: Duration) -> Result<Ended, Victim> {
        let deadline = Instant::now() + timeout;
        loop {
            let exited = match self.child.as_mut() {
                Some(child) => !matches!(child.try_wait(), Ok(None)),
                None => true,
            };
            if exited {
                return Ok(self.end());
            }
            if Instant::now() > deadline {
                return Err(self);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn end(&mut self) -> Ended {
        let status = match self.child.take() {
            Some(mut child) => child.wait().unwrap_or_else(|e| panic!("wait for the child: {e}")),
            None => ExitStatus::from_raw(0),
        };
        if let Some(reader) = self.stdout_reader.take() {
            let _ = reader.join();
        }
        let stderr = self
            .stderr_reader
            .take()
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default();
        Ended {
            status,
            lines: self.lines.try_iter().collect(),
            stderr,
        }
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The name libtest knows the test `name` of the module at `module_path` (its
/// `module_path!()`) by, for re-running the current test binary on that one
/// test with `--exact` (a child process that is a test of the same binary):
/// the path without the crate's name.
pub fn test_name(module_path: &str, name: &str) -> String {
    match module_path.split_once("::") {
        Some((_, module)) => format!("{module}::{name}"),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.arg("-c").arg(script);
        command
    }

    #[test]
    fn kill_collects_complete_lines_and_drops_a_torn_one() {
        let victim = Victim::spawn(shell(
            // stderr before READY and "two" with the torn line in one write, so
            // both are in their pipes when the test kills (no race with the kill).
            "echo oops >&2; echo one; echo READY; printf 'two\\ntorn'; exec sleep 30",
        ));
        let mut before = Vec::new();
        let ready = victim.wait_for_line(Duration::from_secs(10), |l| l == "READY", &mut before);
        assert_eq!(ready.as_deref(), Some("READY"));
        assert_eq!(before, ["one"]);
        assert_eq!(victim.next_line(Duration::from_secs(10)).as_deref(), Ok("two"));
        let ended = victim.kill();
        assert!(ended.killed(), "{:?}", ended.status);
        assert!(ended.lines.is_empty(), "the torn line is dropped: {:?}", ended.lines);
        assert_eq!(ended.stderr, "oops\n");
    }

    #[test]
    fn wait_sees_an_exit_and_kill_reaps_an_exited_child() {
        let ended = Victim::spawn(shell("echo DONE; exit 3")).wait();
        assert_eq!((ended.status.code(), ended.killed()), (Some(3), false));
        assert_eq!(ended.lines, ["DONE"]);

        let victim = Victim::spawn(shell("echo DONE"));
        let mut before = Vec::new();
        assert!(victim
            .wait_for_line(Duration::from_secs(10), |l| l == "never", &mut before)
            .is_none());
        assert_eq!(before, ["DONE"]);
        let ended = victim.kill();
        assert!(ended.status.success() && !ended.killed());
    }

    #[test]
    fn wait_timeout_hands_back_a_running_child() {
        let Err(victim) = Victim::spawn(shell("exec sleep 30")).wait_timeout(Duration::from_millis(100)) else {
            panic!("a sleeping child does not exit by itself");
        };
        assert!(victim.kill().killed());
        let Ok(ended) = Victim::spawn(shell("echo DONE")).wait_timeout(Duration::from_secs(10)) else {
            panic!("the child exits at once");
        };
        assert!(ended.status.success());
        assert_eq!(ended.lines, ["DONE"]);
    }

    #[test]
    fn test_names_drop_the_crate() {
        assert_eq!(test_name("it::hostile", "child"), "hostile::child");
        assert_eq!(test_name("kill9", "child_server"), "child_server");
    }

    #[test]
    fn a_dropped_victim_leaves_no_process() {
        let victim = Victim::spawn(shell("echo READY; exec sleep 30"));
        assert_eq!(victim.next_line(Duration::from_secs(10)).as_deref(), Ok("READY"));
        let pid = victim.id().expect("running");
        drop(victim);
        // Reaped: the pid no longer names our child.
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        assert!(!status.contains("sleep"), "child {pid} still there: {status}");
    }
}
