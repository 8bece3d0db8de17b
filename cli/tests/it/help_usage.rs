//! Issue 23, first contact: usage errors exit 2 with a message, whatever
//! the command (a list of bad invocations).

use crate::common;

use common::{millrace, store_with_topic};

#[test]
fn usage_errors_exit_2_with_a_message() {
    let (_tmp, data) = store_with_topic("t", 1);
    millrace(&data).args(["topic", "create", "u"]).assert().success();
    let bad: &[&[&str]] = &[
        &["replay", "t", "u", "--from-offset", "10", "--to-offset", "5"],
        &["replay", "t", "u", "--from-offset", "5", "--to-offset", "5"],
        &[
            "replay",
            "t",
            "u",
            "--from-time",
            "2026-01-02T00:00:00Z",
            "--to-time",
            "2026-01-01T00:00:00Z",
        ],
        &["replay", "t", "t"],
        &["replay", "t", "u", "--rate", "0"],
        &["consume", "t", "--offset", "10", "--to-offset", "5"],
        &["consume", "t", "--tail", "1", "--from-earliest"],
        &["consume", "t", "--to-offset", "1", "--to-time", "5"],
        &["consume", "t", "--format", "xml"],
        &["consume", "t", "--tail", "-1"],
        &["consume", "t", "--since", "soon"],
        &["produce", "t", "--format", "json", "--value-encoding", "hex"],
        &["produce", "t", "--value-encoding", "rot13"],
        &["produce", "t", "-D", ""],
        &["dlq", "purge", "t", "--up-to", "1"],
        &["dlq", "list", "t", "--since", "soon"],
        &["dlq", "fail", "t", "--group", "g", "--partition", "0", "--offset", "0"],
        &["offsets", "reset", "--group", "g", "--topic", "t"],
        &["topic", "create"],
        &["consume"],
        &["no-such-command"],
        &["consume", "t", "--no-such-flag"],
    ];
    for args in bad {
        let output = millrace(&data).args(*args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert_eq!(output.status.code(), Some(2), "millrace {args:?}: {output:?}");
        assert!(stderr.contains("error"), "millrace {args:?}: no message: {stderr}");
        assert!(output.stdout.is_empty(), "millrace {args:?} printed {output:?}");
    }
    let output = millrace(&data)
        .args(["replay", "t", "u", "--from-offset", "10", "--to-offset", "5"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        stderr.contains("empty range") && stderr.contains("half-open"),
        "{stderr}"
    );
}

/// `millrace [PATH...] --help`, its stdout.
fn help_of(path: &[String]) -> String {
    let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("millrace"))
        .args(path)
        .arg("--help")
        .env_remove("MILLRACE_SERVER")
        .output()
        .unwrap();
    assert!(output.status.success(), "millrace {path:?} --help: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// A line of clap's help that starts an argument: `  -f, --flag <V>`,
/// `      --flag`, `  <ARG>` or `  [ARG]` (help lines are indented further).
fn is_argument_line(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("  ") else {
        return false;
    };
    let long_only = rest.strip_prefix("    ").is_some_and(|r| r.starts_with("--"));
    let short = rest.starts_with('-') && !rest.starts_with("--");
    let positional = rest.starts_with('<') || rest.starts_with('[');
    long_only || short || positional
}

/// Each argument or subcommand in `help` that has no help text, and the
/// subcommands to walk next.
fn lacking_help(help: &str) -> (Vec<String>, Vec<String>) {
    let lines: Vec<&str> = help.lines().collect();
    let (mut lacking, mut subcommands) = (Vec::new(), Vec::new());
    let mut section = "";
    for (i, line) in lines.iter().enumerate() {
        if !line.starts_with(' ') && !line.is_empty() {
            section = line;
            continue;
        }
        let has_text_after = |spec_line: &str| {
            spec_line
                .trim()
                .split_once("  ")
                .is_some_and(|(_, text)| !text.trim().is_empty())
        };
        // The long layout puts the help on the next lines, indented by 10.
        let next_is_help = lines
            .get(i + 1)
            .is_some_and(|next| next.starts_with("        ") && !next.trim().is_empty() && !is_argument_line(next));
        match section {
            "Commands:" if line.starts_with("  ") && !line.starts_with("   ") => {
                let name = line.split_whitespace().next().unwrap().to_string();
                if !has_text_after(line) && !next_is_help {
                    lacking.push(format!("command {name}"));
                }
                if name != "help" {
                    subcommands.push(name);
                }
            }
            "Options:" | "Arguments:" | "Global options:"
                if is_argument_line(line) && !has_text_after(line) && !next_is_help =>
            {
                lacking.push(line.trim().to_string());
            }
            _ => {}
        }
    }
    (lacking, subcommands)
}

/// Issue 23, first contact: every flag, argument and subcommand of every
/// command has help text. Walks `millrace --help` and each listed
/// subcommand's `--help` (recursively) and collects what has none.
#[test]
fn every_flag_argument_and_command_has_help_text() {
    let mut missing = Vec::new();
    let mut walked = Vec::new();
    let mut queue: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(path) = queue.pop() {
        assert!(walked.len() < 500, "too many subcommands: a loop?");
        let help = help_of(&path);
        let (lacking, subcommands) = lacking_help(&help);
        missing.extend(
            lacking
                .into_iter()
                .map(|what| format!("millrace {}: {what}", path.join(" "))),
        );
        for sub in subcommands {
            let mut next = path.clone();
            next.push(sub);
            queue.push(next);
        }
        walked.push(path.join(" "));
    }
    // The walk reached the leaves (the reset targets are in `offsets reset`).
    for leaf in [
        "offsets reset",
        "schema delete",
        "mirror drop-unmirrored",
        "dlq redrive",
        "topic alter",
    ] {
        assert!(walked.iter().any(|w| w == leaf), "{leaf} not walked: {walked:?}");
    }
    assert!(
        missing.is_empty(),
        "arguments without help text:\n{}",
        missing.join("\n")
    );
    // The parser itself: a flag without help is found.
    let (lacking, _) = lacking_help("Options:\n      --bare          \n  -x, --with <V>  Has text\n");
    assert_eq!(lacking, vec!["--bare".to_string()]);
    let reset = help_of(&["offsets".into(), "reset".into()]);
    for target in [
        "--to-earliest",
        "--to-latest",
        "--to-offset",
        "--shift-by",
        "--to-datetime",
        "--by-duration",
    ] {
        let line = reset.lines().find(|l| l.trim_start().starts_with(target)).unwrap();
        assert!(line.contains("Target:"), "{target}: {line}");
    }
}

/// Issue 23, first contact: ranges of offsets print half-open, `from..to`
/// with `to` excluded, as the flags take them (`dump` used `..=`).
#[test]
fn ranges_are_half_open_in_help_and_output() {
    for path in [["consume"], ["replay"]] {
        let help = help_of(&path.map(String::from));
        assert!(help.contains("half-open"), "millrace {path:?} --help: {help}");
    }
    let (_tmp, data) = store_with_topic("t", 1);
    millrace(&data)
        .args(["produce", "t"])
        .write_stdin("a\nb\nc\n")
        .assert()
        .success();
    let segment = std::fs::read_dir(data.join("topics/t/00000"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .unwrap();
    let text = common::stdout_of(millrace(&data).arg("dump").arg(&segment));
    assert!(!text.contains("..="), "{text}");
    assert!(text.contains("offsets 0..3"), "{text}");
}

/// The lines of the `heading:` section of a clap help text: up to the next
/// line that is not indented (the next heading or the text after).
fn section<'a>(help: &'a str, heading: &str) -> Vec<&'a str> {
    help.lines()
        .skip_while(|line| *line != heading)
        .skip(1)
        .take_while(|line| line.is_empty() || line.starts_with(' '))
        .collect()
}

/// Every command's help lists the options every command takes under their
/// own "Global options:" heading, apart from the command's own "Options:".
#[test]
fn global_options_are_grouped_apart_from_each_commands_own() {
    for path in [
        &["consume"][..],
        &["offsets", "reset"],
        &["topic", "alter"],
        &["status"],
    ] {
        let help = help_of(&path.iter().map(|p| p.to_string()).collect::<Vec<_>>());
        let global = section(&help, "Global options:");
        let own = section(&help, "Options:");
        for flag in ["--data <DIR>", "--server <ADDR>", "--token", "--json"] {
            let names = |line: &&str| line.trim_start().starts_with(flag);
            assert!(
                global.iter().any(names),
                "millrace {path:?} --help: {flag} not under Global options:\n{help}"
            );
            assert!(
                !own.iter().any(names),
                "millrace {path:?} --help: {flag} under the command's own Options:\n{help}"
            );
        }
        assert!(
            !own.is_empty(),
            "millrace {path:?} --help has no Options: section\n{help}"
        );
    }
}
