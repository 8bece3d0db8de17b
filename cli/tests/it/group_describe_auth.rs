//! A group's state, Kafka members, committed offsets and lag are shown to a
//! token only for groups its `groups` patterns cover, and only those are
//! listed, on both fronts (issue 23; one rule, `service::may_describe_group`,
//! as Kafka's Describe on a group): `millrace offsets show --server` with a
//! limited token is refused one group (its offsets and lag, with or without
//! `--topic`) and does not see it in the all-groups view; confluent-kafka
//! over SASL/PLAIN (AdminClient's list, describe and offsets, a consumer's
//! `committed()`) is answered GROUP_AUTHORIZATION_FAILED for it and does not
//! see it listed; an admin token sees every group on both.

use predicates::prelude::*;

use crate::common::{self, kafka, Server};

const ADMIN: &str = "admin-token-0123456789";
const READER: &str = "reader-token-0123456789";

/// Tokens: `admin`, and `reader` (consume) whose patterns cover `app-*`
/// and `zoo`.
fn tokens(dir: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("tokens.toml");
    common::write_private(
        &config,
        &format!(
            "[[tokens]]\nname = \"admin\"\ntoken = \"{ADMIN}\"\npermissions = [\"admin\"]\n\n\
             [[tokens]]\nname = \"reader\"\ntoken = \"{READER}\"\npermissions = [\"consume\"]\n\
             groups = [\"app-*\", \"zoo\"]\n"
        ),
    );
    config
}

/// Topic `t` with two records, read to the end by groups `app-1`,
/// `payroll` (outside the reader's patterns, listed between the others)
/// and `zoo`, committed by the admin.
fn three_groups(server: &Server) {
    let as_admin = || {
        let mut cmd = server.millrace();
        cmd.env("MILLRACE_TOKEN", ADMIN);
        cmd
    };
    as_admin().args(["topic", "create", "t"]).assert().success();
    as_admin()
        .args(["produce", "t"])
        .write_stdin("a\nb\n")
        .assert()
        .success();
    for group in ["app-1", "payroll", "zoo"] {
        as_admin()
            .args(["consume", "t", "-g", group, "--format", "value"])
            .assert()
            .success();
    }
}

#[test]
fn offsets_show_over_the_server_describes_only_the_tokens_groups() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = tokens(tmp.path());
    let server = Server::start(&data, &["--config", config.to_str().unwrap()]);
    three_groups(&server);
    let show = |token: &str| {
        let mut cmd = server.millrace();
        cmd.env("MILLRACE_TOKEN", token).args(["offsets", "show"]);
        cmd
    };
    // One group outside the patterns: its offsets and lag refused, naming
    // it (FetchOffsetsPage and LagPage, of every topic or of one).
    for topic in [None, Some("t")] {
        let mut cmd = show(READER);
        cmd.args(["--group", "payroll"]);
        if let Some(topic) = topic {
            cmd.args(["--topic", topic]);
        }
        cmd.assert().code(1).stderr(
            predicate::str::contains("may not describe group \"payroll\"")
                .and(predicate::str::contains("in the token's `groups`"))
                .and(predicate::str::contains("use a token configured for it")),
        );
    }
    let mine = common::json_of(show(READER).args(["--group", "app-1", "--json"]));
    assert_eq!(mine["state"], "active", "{mine}");
    assert_eq!(mine["lag"], 0, "{mine}");
    // Every group: the hidden one (in the middle of the listing) left out
    // by the server's listing itself, which says nothing of it.
    let all = common::json_of(show(READER).arg("--json"));
    let names: Vec<&str> = all["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app-1", "zoo"], "{all}");
    assert_eq!(all["hidden_groups"], 0, "{all}");
    show(READER).assert().success().stdout(
        predicate::str::contains("app-1")
            .and(predicate::str::contains("zoo"))
            .and(predicate::str::contains("payroll").not()),
    );
    // Admin sees all three, and the one the reader may not.
    let all = common::json_of(show(ADMIN).arg("--json"));
    assert_eq!(all["groups"].as_array().unwrap().len(), 3, "{all}");
    assert_eq!(all["hidden_groups"], 0, "{all}");
    let payroll = common::json_of(show(ADMIN).args(["--group", "payroll", "--json"]));
    assert_eq!(payroll["state"], "active", "{payroll}");
    assert_eq!(payroll["partitions"][0]["committed"], 2, "{payroll}");
    assert!(server.stop(), "the server stops cleanly");
}

#[test]
fn kafka_admin_clients_describe_and_list_only_the_tokens_groups() {
    let Some(clients) = kafka::clients() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = tokens(tmp.path());
    let (server, bootstrap) = kafka::start_server(&data, &["--config", config.to_str().unwrap()]);
    three_groups(&server);
    let run = |user: &str, password: &str| -> serde_json::Value {
        let args = [
            "--user",
            user,
            "--password",
            password,
            "--topic",
            "t",
            "app-1",
            "payroll",
            "zoo",
        ];
        let output = kafka::success(&clients.python("group_describe_auth.py", &bootstrap, &args));
        serde_json::from_str(output.trim()).unwrap()
    };
    let reader = run("reader", READER);
    assert_eq!(reader["listed"], serde_json::json!(["app-1", "zoo"]), "{reader}");
    assert_eq!(reader["described"]["app-1"]["state"], "EMPTY", "{reader}");
    assert_eq!(reader["described"]["zoo"]["state"], "EMPTY", "{reader}");
    assert_eq!(
        reader["described"]["payroll"]["error"], "GROUP_AUTHORIZATION_FAILED",
        "{reader}"
    );
    // Committed offsets (OffsetFetch): the reader's groups, not payroll's.
    assert_eq!(reader["offsets"]["app-1"], serde_json::json!({"0": 2}), "{reader}");
    assert_eq!(reader["committed"]["zoo"], serde_json::json!({"offset": 2}), "{reader}");
    for kind in ["offsets", "committed"] {
        assert_eq!(
            reader[kind]["payroll"],
            serde_json::json!({"error": "GROUP_AUTHORIZATION_FAILED"}),
            "{kind}: {reader}"
        );
    }
    let admin = run("admin", ADMIN);
    assert_eq!(
        admin["listed"],
        serde_json::json!(["app-1", "payroll", "zoo"]),
        "{admin}"
    );
    assert_eq!(admin["described"]["payroll"]["state"], "EMPTY", "{admin}");
    assert_eq!(admin["offsets"]["payroll"], serde_json::json!({"0": 2}), "{admin}");
    assert_eq!(
        admin["committed"]["payroll"],
        serde_json::json!({"offset": 2}),
        "{admin}"
    );
    assert!(server.stop(), "the server stops cleanly");
}
