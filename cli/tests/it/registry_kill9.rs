//! Proves that the schema registry, the contract audit log and contract-routed
//! appends survive kill -9. A seeded test runs `millrace serve` as a child and,
//! while a second thread SIGKILLs it at a random moment, registers schemas
//! over REST (Avro and JSON Schema subjects, new versions, the same schema
//! under another subject, soft and hard deletes) and produces records of
//! which the contract of `orders` sends some to its DLQ (`millrace produce
//! --server`, one request per invocation). Between two servers it applies
//! new versions of that contract with `millrace contract apply`, killing
//! some of those processes too. After every restart it checks against a
//! model of what was acknowledged:
//! - every acknowledged registration is there with the same id and version
//!   (live, or soft-deleted if that was acknowledged; gone only after an
//!   acknowledged or attempted hard delete); an unacknowledged one is there
//!   whole or not at all, and once seen it stays;
//! - an id always names the same schema (never reused), a subject's new
//!   version is above every version it ever had (never reused either);
//! - the audit log holds versions 1, 2, ... of the contract, every
//!   acknowledged apply exactly once at its acknowledged version, nothing
//!   twice, and what it held before is still its beginning;
//! - every acknowledged produce request has its valid records in `orders`
//!   and its invalid ones in `__dlq.orders`, exactly once; an unacknowledged
//!   one is there whole (both sides) or not at all.
//!
//! `MILLRACE_REGISTRY_KILL_CYCLES` (default 20) sets the cycles,
//! `MILLRACE_REGISTRY_KILL_SEED` replays a run (the seed is printed).

use crate::common::registry::{free_addr, try_http, wait_for};
use crate::common::{millrace, Server};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SUBJECTS: [(&str, bool); 3] = [("alpha-value", true), ("beta-value", true), ("gamma-value", false)];
const TOPIC: &str = "orders";
const OPS_MAX: usize = 400;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|e| panic!("{name}={v:?} is not a number: {e}"))
    })
}

/// splitmix64.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn below(rng: &mut u64, n: u64) -> u64 {
    next(rng) % n.max(1)
}

/// The schema text of `tag` (unique per tag): Avro records are named by it,
/// JSON Schemas titled by it.
fn schema_text(tag: u64, avro: bool) -> String {
    if avro {
        format!(r#"{{"type":"record","name":"R{tag}","fields":[{{"name":"f","type":"string"}}]}}"#)
    } else {
        format!(r#"{{"type":"object","title":"S{tag}","properties":{{"f":{{"type":"string"}}}}}}"#)
    }
}

/// The tag a schema text as the registry answers it names.
fn tag_of(text: &str) -> u64 {
    let value: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("schema {text:?}: {e}"));
    let name = value["name"].as_str().or(value["title"].as_str()).unwrap();
    name[1..].parse().unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Live,
    Soft,
    Gone,
}

#[derive(Debug, Clone)]
struct Version {
    id: u64,
    tag: u64,
    state: State,
}

/// An operation whose answer the kill cut off: it happened whole or not at all.
#[derive(Debug, Clone)]
enum Uncertain {
    Register { subject: String, tag: u64 },
    Soft { subject: String, version: u64 },
    Hard { subject: String, version: u64 },
}

/// One `millrace produce` invocation: its keys, valid and invalid.
#[derive(Debug)]
struct Request {
    valid: Vec<String>,
    invalid: Vec<String>,
    acknowledged: bool,
    /// Seen whole after a restart: it must stay.
    landed: bool,
}

#[derive(Debug, Default)]
struct Model {
    subjects: BTreeMap<String, BTreeMap<u64, Version>>,
    /// id -> tag, and tag -> id, of every registration seen.
    ids: BTreeMap<u64, u64>,
    tags: BTreeMap<u64, u64>,
    uncertain: Vec<Uncertain>,
    requests: Vec<Request>,
    /// The audit log's (version, text) entries as last read.
    audit: Vec<(u64, String)>,
    /// Acknowledged applies: text -> version; unacknowledged: texts.
    applied: BTreeMap<String, u64>,
    applying: BTreeSet<String>,
    next_tag: u64,
}

impl Model {
    fn note_id(&mut self, id: u64, tag: u64, what: &str) {
        if let Some(old) = self.ids.insert(id, tag) {
            assert_eq!(
                old, tag,
                "{what}: id {id} named schema {old} and now names {tag}: an id was reused"
            );
        }
        if let Some(old) = self.tags.insert(tag, id) {
            assert_eq!(old, id, "{what}: schema {tag} had id {old} and now has {id}");
        }
    }

    fn version_max(&self, subject: &str) -> u64 {
        self.subjects
            .get(subject)
            .and_then(|versions| versions.keys().next_back().copied())
            .unwrap_or(0)
    }
}

fn get_json(registry: &str, path: &str) -> (u16, Value) {
    let (status, body) = try_http(registry, "GET", path, None, "").unwrap_or_else(|e| panic!("GET {path}: {e}"));
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {body:?}: {e}")),
    )
}

fn version_list(registry: &str, subject: &str, deleted: bool) -> BTreeSet<u64> {
    let query = if deleted { "?deleted=true" } else { "" };
    let (status, body) = get_json(registry, &format!("/subjects/{subject}/versions{query}"));
    match status {
        200 => body.as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect(),
        404 => BTreeSet::new(),
        _ => panic!("versions of {subject}: {status} {body}"),
    }
}

/// Compare the running server's registry with the model; adopt what an
/// uncertain operation left.
fn check_registry(registry: &str, model: &mut Model, cycle: u32) {
    let uncertain = std::mem::take(&mut model.uncertain);
    let (status, config) = get_json(registry, "/config");
    assert_eq!(
        (status, &config["compatibilityLevel"]),
        (200, &json!("NONE")),
        "cycle {cycle}"
    );
    for (subject, _) in SUBJECTS {
        let live = version_list(registry, subject, false);
        let all = version_list(registry, subject, true);
        assert!(
            live.is_subset(&all),
            "cycle {cycle}: {subject}: live {live:?} all {all:?}"
        );
        let max_before = model.version_max(subject);
        let versions = model.subjects.entry(subject.to_string()).or_default();
        for (v, version) in versions.iter_mut() {
            let soft_tried = uncertain
                .iter()
                .any(|u| matches!(u, Uncertain::Soft { subject: s, version: x } if s == subject && x == v));
            let hard_tried = uncertain
                .iter()
                .any(|u| matches!(u, Uncertain::Hard { subject: s, version: x } if s == subject && x == v));
            let observed = match (live.contains(v), all.contains(v)) {
                (true, _) => State::Live,
                (false, true) => State::Soft,
                (false, false) => State::Gone,
            };
            let allowed = match version.state {
                State::Live => observed == State::Live || (soft_tried && observed == State::Soft),
                State::Soft => observed == State::Soft || (hard_tried && observed == State::Gone),
                State::Gone => observed == State::Gone,
            };
            assert!(
                allowed,
                "cycle {cycle}: {subject} version {v} (id {}) was {:?}, is {observed:?}",
                version.id, version.state
            );
            version.state = observed;
        }
        let mut adopted = Vec::new();
        for v in all.difference(&versions.keys().copied().collect()) {
            // Only an unacknowledged registration of this subject can have made it.
            let (status, found) = get_json(registry, &format!("/subjects/{subject}/versions/{v}"));
            assert_eq!(status, 200, "cycle {cycle}: {subject} version {v}: {found}");
            let tag = tag_of(found["schema"].as_str().unwrap());
            let pending = uncertain
                .iter()
                .any(|u| matches!(u, Uncertain::Register { subject: s, tag: t } if s == subject && *t == tag));
            assert!(
                pending,
                "cycle {cycle}: {subject} version {v} (schema {tag}) appeared from nowhere"
            );
            assert!(
                *v > max_before,
                "cycle {cycle}: {subject} version {v} given out again (had up to {max_before})"
            );
            let id = found["id"].as_u64().unwrap();
            adopted.push((
                *v,
                Version {
                    id,
                    tag,
                    state: State::Live,
                },
            ));
        }
        for (v, version) in adopted {
            model.note_id(
                version.id,
                version.tag,
                &format!("cycle {cycle}: adopted {subject} v{v}"),
            );
            model
                .subjects
                .entry(subject.to_string())
                .or_default()
                .insert(v, version);
        }
        // Every live version still names its id and schema.
        let versions = model.subjects.get(subject).cloned().unwrap_or_default();
        for (v, version) in versions.iter().filter(|(_, x)| x.state == State::Live) {
            let (status, found) = get_json(registry, &format!("/subjects/{subject}/versions/{v}"));
            assert_eq!(status, 200, "cycle {cycle}: {subject} version {v}: {found}");
            assert_eq!(
                (found["id"].as_u64(), tag_of(found["schema"].as_str().unwrap())),
                (Some(version.id), version.tag),
                "cycle {cycle}: {subject} version {v} changed"
            );
        }
        // And a schema some version still names is readable by its id.
        for version in versions.values().filter(|x| x.state != State::Gone) {
            let (status, found) = get_json(registry, &format!("/schemas/ids/{}", version.id));
            assert_eq!(status, 200, "cycle {cycle}: schema id {}: {found}", version.id);
            assert_eq!(
                tag_of(found["schema"].as_str().unwrap()),
                version.tag,
                "cycle {cycle}: id {}",
                version.id
            );
        }
    }
}

/// One registry operation over REST; `Err` if the kill cut it off.
fn registry_op(registry: &str, model: &mut Model, rng: &mut u64) -> Result<(), Uncertain> {
    let (subject, avro) = SUBJECTS[below(rng, SUBJECTS.len() as u64) as usize];
    let versions = model.subjects.entry(subject.to_string()).or_default().clone();
    let pick = |rng: &mut u64, state: State| {
        let candidates: Vec<u64> = versions
            .iter()
            .filter(|(_, x)| x.state == state)
            .map(|(v, _)| *v)
            .collect();
        (!candidates.is_empty()).then(|| candidates[below(rng, candidates.len() as u64) as usize])
    };
    let roll = below(rng, 100);
    if roll < 15 {
        if let Some(v) = pick(rng, State::Live) {
            let path = format!("/subjects/{subject}/versions/{v}");
            let uncertain = Uncertain::Soft {
                subject: subject.to_string(),
                version: v,
            };
            let (status, body) = try_http(registry, "DELETE", &path, None, "").map_err(|_| uncertain)?;
            assert_eq!((status, body.as_str()), (200, v.to_string().as_str()), "DELETE {path}");
            model.subjects.get_mut(subject).unwrap().get_mut(&v).unwrap().state = State::Soft;
            return Ok(());
        }
    } else if roll < 25 {
        if let Some(v) = pick(rng, State::Soft) {
            let path = format!("/subjects/{subject}/versions/{v}?permanent=true");
            let uncertain = Uncertain::Hard {
                subject: subject.to_string(),
                version: v,
            };
            let (status, body) = try_http(registry, "DELETE", &path, None, "").map_err(|_| uncertain)?;
            assert_eq!((status, body.as_str()), (200, v.to_string().as_str()), "DELETE {path}");
            model.subjects.get_mut(subject).unwrap().get_mut(&v).unwrap().state = State::Gone;
            return Ok(());
        }
    }
    // Register: usually a new schema, sometimes one another subject of the
    // same type holds live (it keeps its id).
    let held: BTreeSet<u64> = versions
        .values()
        .filter(|x| x.state != State::Gone)
        .map(|x| x.tag)
        .collect();
    let elsewhere: Vec<u64> = model
        .subjects
        .iter()
        .filter(|(s, _)| s.as_str() != subject && SUBJECTS.iter().any(|(n, a)| n == s && *a == avro))
        .flat_map(|(_, vs)| vs.values().filter(|x| x.state == State::Live).map(|x| x.tag))
        .filter(|t| !held.contains(t))
        .collect();
    let tag = if roll >= 90 && !elsewhere.is_empty() {
        elsewhere[below(rng, elsewhere.len() as u64) as usize]
    } else {
        model.next_tag += 1;
        model.next_tag
    };
    let mut request = json!({"schema": schema_text(tag, avro)});
    if !avro {
        request["schemaType"] = json!("JSON");
    }
    let path = format!("/subjects/{subject}/versions");
    let uncertain = Uncertain::Register {
        subject: subject.to_string(),
        tag,
    };
    let (status, body) = try_http(registry, "POST", &path, None, &request.to_string()).map_err(|_| uncertain)?;
    assert_eq!(status, 200, "POST {path}: {body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let (id, version) = (answer["id"].as_u64().unwrap(), answer["version"].as_u64().unwrap());
    let max_before = model.version_max(subject);
    assert!(
        version > max_before,
        "{subject}: version {version} given out again (had up to {max_before})"
    );
    model.note_id(id, tag, &format!("register {subject} v{version}"));
    model.subjects.get_mut(subject).unwrap().insert(
        version,
        Version {
            id,
            tag,
            state: State::Live,
        },
    );
    Ok(())
}

/// One `millrace produce --server` request of 1..=6 records, some of which
/// break the contract (`n` not an integer: action dlq). `Err` if it failed.
fn produce_op(server: &Server, model: &mut Model, rng: &mut u64) -> Result<(), ()> {
    let number = model.requests.len();
    let mut request = Request {
        valid: Vec::new(),
        invalid: Vec::new(),
        acknowledged: false,
        landed: false,
    };
    let mut input = String::new();
    for i in 0..=below(rng, 6) {
        let key = format!("q{number}r{i}");
        if below(rng, 3) == 0 {
            input.push_str(&format!("{key}:{{\"n\": \"x{i}\"}}\n"));
            request.invalid.push(key);
        } else {
            input.push_str(&format!("{key}:{{\"n\": {i}}}\n"));
            request.valid.push(key);
        }
    }
    let output = server
        .millrace()
        .args(["produce", TOPIC, "-K", ":", "--batch-records", "100"])
        .write_stdin(input)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    request.acknowledged = output.status.success();
    model.requests.push(request);
    if output.status.success() {
        Ok(())
    } else {
        Err(())
    }
}

/// The keys of `topic` on the data directory (no server: `__dlq.*` is
/// internal to it, and it refuses reads of it).
fn keys_of(data: &Path, topic: &str) -> Vec<String> {
    let output = millrace(data)
        .args(["consume", topic, "--from-earliest", "--until-now", "--format", "%k\n"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() && stderr.contains("does not exist") && topic.starts_with("__dlq.") {
        return Vec::new(); // No record was dead-lettered yet.
    }
    assert!(output.status.success(), "consume {topic}: {stderr}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Every record of `orders` and its DLQ, against the produce requests.
fn check_records(data: &Path, model: &mut Model, cycle: u32) {
    let mut seen: BTreeMap<String, bool> = BTreeMap::new();
    for (topic, valid) in [(TOPIC.to_string(), true), (format!("__dlq.{TOPIC}"), false)] {
        for key in keys_of(data, &topic) {
            assert!(
                seen.insert(key.clone(), valid).is_none(),
                "cycle {cycle}: record {key} twice"
            );
        }
    }
    let mut known = 0;
    for (number, request) in model.requests.iter_mut().enumerate() {
        let valid = request.valid.iter().map(|k| seen.get(k) == Some(&true));
        let invalid = request.invalid.iter().map(|k| seen.get(k) == Some(&false));
        let present: Vec<bool> = valid.chain(invalid).collect();
        let whole = present.iter().all(|p| *p);
        let none = request
            .valid
            .iter()
            .chain(&request.invalid)
            .all(|k| !seen.contains_key(k));
        assert!(
            whole || (none && !request.acknowledged && !request.landed),
            "cycle {cycle}: request {number} {request:?} (acknowledged {}) is there in part or lost: {present:?}",
            request.acknowledged
        );
        request.landed = whole;
        if whole {
            known += present.len();
        }
    }
    assert_eq!(known, seen.len(), "cycle {cycle}: records no request sent");
}

fn contract_text(change: usize) -> String {
    format!(
        "apiVersion: v3.0.0\nkind: DataContract\nid: urn:orders\nversion: 1.0.{change}\nstatus: active\nowner: payments\n\
         topic: {TOPIC}\ndescription: change {change}\nproperties:\n  - name: n\n    required: true\n    \
         logicalType: integer\n    action: dlq\n"
    )
}

/// The audit log as the CLI reads it (live, while the server runs).
fn check_audit(data: &Path, model: &mut Model, cycle: u32) {
    let output = millrace(data)
        .args(["contract", "history", TOPIC, "--json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "history: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let entries: Value = serde_json::from_slice(&output.stdout).unwrap();
    let audit: Vec<(u64, String)> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["version"].as_u64().unwrap(), e["text"].as_str().unwrap().to_string()))
        .collect();
    assert!(
        audit.starts_with(&model.audit),
        "cycle {cycle}: the audit log lost or changed entries"
    );
    let versions: Vec<u64> = audit.iter().map(|(v, _)| *v).collect();
    let expected: Vec<u64> = (1..=audit.len() as u64).collect();
    assert_eq!(versions, expected, "cycle {cycle}: contract versions");
    let texts: BTreeSet<&String> = audit.iter().map(|(_, t)| t).collect();
    assert_eq!(texts.len(), audit.len(), "cycle {cycle}: an apply recorded twice");
    for (text, version) in &model.applied {
        assert!(
            audit.contains(&(*version, text.clone())),
            "cycle {cycle}: acknowledged version {version} is not in the audit log"
        );
    }
    for (_, text) in &audit {
        assert!(
            model.applied.contains_key(text) || model.applying.contains(text),
            "cycle {cycle}: an apply nobody made"
        );
    }
    model.audit = audit;
}

/// With no server: `millrace contract apply` of a new version, SIGKILLed
/// after a random delay (when `may_kill`) or left to finish.
fn apply_contract(dir: &Path, data: &Path, model: &mut Model, rng: &mut u64, may_kill: bool) {
    let change = model.applied.len() + model.applying.len() + 1;
    let text = contract_text(change);
    let file = dir.join(format!("contract-{change}.yaml"));
    std::fs::write(&file, &text).unwrap();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("millrace"))
        .arg("--data")
        .arg(data)
        .args(["contract", "apply", "--json"])
        .arg(&file)
        .env_remove("MILLRACE_DATA")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if may_kill && below(rng, 2) == 0 {
        std::thread::sleep(Duration::from_millis(below(rng, 150)));
        let _ = child.kill();
    }
    let output = child.wait_with_output().unwrap();
    if output.status.success() {
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["applied"], json!(true), "{report}");
        model.applied.insert(text, report["version"].as_u64().unwrap());
    } else {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            output.status.signal(),
            Some(9),
            "contract apply failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        model.applying.insert(text);
    }
}

/// SIGKILL `pid` after `delay` unless told to stop first; sets `killed` just before.
fn killer(pid: u32, delay: Duration, killed: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        killed.store(true, Ordering::SeqCst);
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    })
}

#[test]
fn registry_contracts_and_routed_appends_survive_kill9() {
    let cycles = env_u64("MILLRACE_REGISTRY_KILL_CYCLES").unwrap_or(20) as u32;
    let seed = env_u64("MILLRACE_REGISTRY_KILL_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    println!("registry_kill9 seed {seed} cycles {cycles}");
    let mut rng = seed;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    millrace(&data).args(["topic", "create", TOPIC]).assert().success();
    let mut model = Model::default();
    apply_contract(tmp.path(), &data, &mut model, &mut rng, false);
    assert_eq!(
        model.applied.values().copied().collect::<Vec<_>>(),
        [1],
        "the first contract is applied"
    );
    let mut registered = 0;
    for cycle in 0..=cycles {
        check_records(&data, &mut model, cycle);
        let registry = free_addr();
        let mut server = Server::start(&data, &["--registry-listen", &registry]);
        wait_for(&registry);
        if cycle == 0 {
            let (status, body) = try_http(&registry, "PUT", "/config", None, r#"{"compatibility": "NONE"}"#).unwrap();
            assert_eq!(status, 200, "{body}");
        }
        check_registry(&registry, &mut model, cycle);
        check_audit(&data, &mut model, cycle);
        if cycle == cycles {
            break;
        }
        let killed = Arc::new(AtomicBool::new(false));
        let delay = Duration::from_millis(100 + below(&mut rng, 1500));
        let kill = killer(server.child.id(), delay, Arc::clone(&killed));
        for _ in 0..OPS_MAX {
            let failed = if below(&mut rng, 4) == 0 {
                produce_op(&server, &mut model, &mut rng).is_err()
            } else {
                match registry_op(&registry, &mut model, &mut rng) {
                    Ok(()) => {
                        registered += 1;
                        false
                    }
                    Err(uncertain) => {
                        model.uncertain.push(uncertain);
                        true
                    }
                }
            };
            if failed {
                assert!(
                    killed.load(Ordering::SeqCst),
                    "cycle {cycle}: an operation failed before the kill"
                );
                break;
            }
        }
        kill.join().unwrap();
        let status = server.child.wait().unwrap();
        assert!(!status.success(), "cycle {cycle}: the server was killed");
        for _ in 0..=below(&mut rng, 2) {
            apply_contract(tmp.path(), &data, &mut model, &mut rng, true);
        }
    }
    let _ = std::io::stdout().flush();
    let landed = model.requests.iter().filter(|r| r.landed).count();
    println!(
        "registry_kill9: {registered} acknowledged registry operations, {} schemas, {landed}/{} produce requests landed, {} contract versions ({} acknowledged)",
        model.ids.len(),
        model.requests.len(),
        model.audit.len(),
        model.applied.len()
    );
    assert!(registered > cycles as usize, "the registry was exercised");
    assert!(model.audit.len() > 1, "contracts were applied");
    assert!(
        model.requests.iter().any(|r| r.acknowledged && !r.invalid.is_empty()),
        "some acknowledged request was routed"
    );
}
