//! The registry's paths (the Confluent Schema Registry subset of
//! design/contracts.md): each parses its path, query and body, calls the
//! registry through the service, and answers in the registry's JSON.

use hyper::{Method, StatusCode};
use millrace::schema::{Compatibility, SchemaRegistry, SchemaType, SubjectVersion};
use serde_json::{json, Value};

use super::http::{body_answer, json_answer, Answer, Refusal};
use crate::auth::Principal;
use crate::server::service::{RegistryAccess, Service};

/// One request, as the router sees it.
pub(super) struct Call<'a> {
    pub(super) method: &'a Method,
    pub(super) path: &'a str,
    pub(super) query: &'a str,
    pub(super) body: &'a [u8],
    pub(super) principal: &'a Principal,
    pub(super) service: &'a Service,
}

impl Call<'_> {
    async fn registry<T: Send + 'static>(
        &self,
        access: RegistryAccess,
        call: impl FnOnce(SchemaRegistry) -> millrace::Result<T> + Send + 'static,
    ) -> Result<T, Refusal> {
        Ok(self.service.registry(self.principal, access, call).await?)
    }

    /// Whether query flag `name` is `true`.
    fn flag(&self, name: &str) -> bool {
        self.query.split('&').any(|pair| {
            pair.split_once('=')
                .is_some_and(|(key, value)| key == name && value.eq_ignore_ascii_case("true"))
        })
    }

    /// The query parameter `name`'s value, percent-decoded (the first, if
    /// it is given more than once).
    fn param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key == name)
                .then(|| percent_decode(&value.replace('+', " ")))
                .flatten()
        })
    }

    /// `offset` and `limit` of a listing (Confluent's paging: `limit` below
    /// 1 or absent is no limit).
    fn page<T>(&self, items: Vec<T>) -> Vec<T> {
        let number = |name: &str| self.param(name).and_then(|v| v.parse::<i64>().ok());
        let offset = usize::try_from(number("offset").unwrap_or(0)).unwrap_or(0);
        let limit = number("limit")
            .and_then(|l| usize::try_from(l).ok())
            .filter(|l| *l > 0)
            .unwrap_or(usize::MAX);
        items.into_iter().skip(offset).take(limit).collect()
    }

    /// The body as a JSON object.
    fn json(&self) -> Result<serde_json::Map<String, Value>, Refusal> {
        match serde_json::from_slice::<Value>(self.body) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(Refusal::bad_request("the request body must be a JSON object")),
            Err(e) => Err(Refusal::bad_request(format!("the request body is not JSON: {e}"))),
        }
    }

    /// The schema of a registration, lookup or compatibility body:
    /// `schema` (text), `schemaType` (default AVRO), no references.
    fn schema(&self) -> Result<(SchemaType, String), Refusal> {
        let body = self.json()?;
        let invalid = |message: String| Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, 42201, message);
        let schema = match body.get("schema") {
            Some(Value::String(text)) => text.clone(),
            _ => {
                return Err(invalid(
                    "the body needs \"schema\": the schema's text as a string".into(),
                ))
            }
        };
        let schema_type = match body.get("schemaType") {
            None | Some(Value::Null) => SchemaType::Avro,
            Some(Value::String(name)) => match SchemaType::from_name(name) {
                Some(t) => t,
                None => return Err(invalid(format!("invalid schema type {name:?}: AVRO, JSON or PROTOBUF"))),
            },
            Some(other) => return Err(invalid(format!("invalid schemaType {other}"))),
        };
        if body
            .get("references")
            .and_then(Value::as_array)
            .is_some_and(|r| !r.is_empty())
        {
            return Err(invalid("schema references are not supported by this registry".into()));
        }
        for key in ["metadata", "ruleSet"] {
            if body.get(key).is_some_and(|v| !v.is_null()) {
                return Err(invalid(format!("{key:?} is not supported by this registry")));
            }
        }
        Ok((schema_type, schema))
    }
}

/// `%XX` escapes decoded; `None` if malformed or not UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A version in a path: a number from 1, or `latest` / `-1` (`None`).
fn version(text: &str) -> Result<Option<u32>, Refusal> {
    if text == "latest" || text == "-1" {
        return Ok(None);
    }
    match text.parse::<u32>() {
        Ok(v) if (1..=i32::MAX as u32).contains(&v) => Ok(Some(v)),
        _ => Err(Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42202,
            format!("the version {text:?} is not a valid version: 1 to 2^31-1, or \"latest\""),
        )),
    }
}

fn schema_id(text: &str) -> Result<u32, Refusal> {
    text.parse::<u32>()
        .ok()
        .filter(|id| *id <= i32::MAX as u32)
        .ok_or_else(|| Refusal::new(StatusCode::NOT_FOUND, 40403, format!("schema {text} not found")))
}

fn ok(value: &Value) -> Answer {
    json_answer(StatusCode::OK, value)
}

/// A version as Confluent's registry answers it; a soft-deleted one (listed
/// only when asked with `deleted=true`) carries `"deleted": true`.
fn version_json(v: &SubjectVersion) -> Value {
    let mut out = json!({
        "subject": v.subject,
        "version": v.version,
        "id": v.id,
        "schemaType": v.schema_type.name(),
        "schema": v.schema,
    });
    if let (true, Some(fields)) = (v.deleted, out.as_object_mut()) {
        fields.insert("deleted".into(), Value::Bool(true));
    }
    out
}

fn level_json(key: &str, level: Compatibility) -> Value {
    json!({ key: level.name() })
}

/// Route `call` to its handler.
pub(super) async fn route(call: Call<'_>) -> Result<Answer, Refusal> {
    let segments: Vec<String> = call
        .path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s).ok_or_else(|| Refusal::bad_request(format!("malformed path segment {s:?}"))))
        .collect::<Result<_, _>>()?;
    let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = call.method.clone();
    match (method, parts.as_slice()) {
        (Method::GET, []) => Ok(ok(&json!({}))),
        (Method::GET, ["schemas", "types"]) => Ok(ok(&json!(["AVRO", "JSON"]))),
        (Method::GET, ["schemas", "ids", id, rest @ ..]) => schemas_by_id(&call, schema_id(id)?, rest).await,
        (Method::GET, ["subjects"]) => list_subjects(&call).await,
        (Method::GET, ["schemas"]) => all_schemas(&call).await,
        (Method::GET, ["contexts"]) => Ok(ok(&json!(["."]))),
        (Method::GET, ["subjects", subject, "metadata"]) => latest_with_metadata(&call, subject).await,
        (Method::GET, ["subjects", subject, "versions"]) => subject_versions(&call, subject).await,
        (Method::GET, ["subjects", subject, "versions", v, rest @ ..]) => {
            let found = subject_version(&call, subject, version(v)?, call.flag("deleted")).await?;
            match rest {
                [] => Ok(ok(&version_json(&found))),
                ["schema"] => Ok(body_answer(StatusCode::OK, found.schema)),
                // Schema references are refused at registration: none refers to it.
                ["referencedby"] => Ok(ok(&json!([]))),
                _ => Err(Refusal::not_found()),
            }
        }
        (Method::POST, ["subjects", subject, "versions"]) => {
            let (schema_type, schema) = call.schema()?;
            let subject = subject.to_string();
            let registered = call
                .registry(RegistryAccess::Register, move |r| {
                    r.register(&subject, schema_type, &schema)
                })
                .await?;
            Ok(ok(&version_json(&registered)))
        }
        (Method::POST, ["subjects", subject]) => lookup(&call, subject).await,
        (Method::DELETE, ["subjects", subject]) => {
            let (subject, permanent) = (subject.to_string(), call.flag("permanent"));
            let deleted = call
                .registry(RegistryAccess::Admin, move |r| r.delete_subject(&subject, permanent))
                .await
                .map_err(|refusal| not_soft_deleted_as(refusal, 40405))?;
            Ok(ok(&json!(deleted)))
        }
        (Method::DELETE, ["subjects", subject, "versions", v]) => {
            let (subject, permanent, v) = (subject.to_string(), call.flag("permanent"), version(v)?);
            let deleted = call
                .registry(RegistryAccess::Admin, move |r| r.delete_version(&subject, v, permanent))
                .await?;
            Ok(ok(&json!(deleted)))
        }
        (Method::POST, ["compatibility", "subjects", subject, "versions", rest @ ..]) => {
            let against = match rest {
                [] => None,
                [v] => Some(version(v)?),
                _ => return Err(Refusal::not_found()),
            };
            compatibility_check(&call, subject, against).await
        }
        (Method::GET, ["config", rest @ ..]) => get_config(&call, rest.first().copied()).await,
        (Method::PUT, ["config", rest @ ..]) if rest.len() <= 1 => put_config(&call, rest.first().copied()).await,
        (Method::DELETE, ["config", rest @ ..]) if rest.len() <= 1 => {
            let subject = rest.first().map(|s| s.to_string());
            let before = call
                .registry(RegistryAccess::Admin, move |r| {
                    r.clear_compatibility(subject.as_deref())
                })
                .await?;
            Ok(ok(&level_json("compatibilityLevel", before)))
        }
        (Method::GET, ["mode", ..]) => Ok(ok(&json!({"mode": "READWRITE"}))),
        (Method::PUT, ["mode", ..]) => {
            let body = call.json()?;
            match body.get("mode").and_then(Value::as_str) {
                Some("READWRITE") => Ok(ok(&json!({"mode": "READWRITE"}))),
                other => Err(Refusal::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    42204,
                    format!(
                        "mode {} is not supported: this registry is always READWRITE",
                        other.map_or_else(|| "(none given)".to_string(), |m| format!("{m:?}"))
                    ),
                )),
            }
        }
        _ => Err(Refusal::not_found()),
    }
}

/// A refusal for a version not soft-deleted first, under `code` (40405 for
/// a subject, 40407 for a version).
fn not_soft_deleted_as(refusal: Refusal, code: u32) -> Refusal {
    if refusal.code == 40407 {
        return Refusal { code, ..refusal };
    }
    refusal
}

async fn schemas_by_id(call: &Call<'_>, id: u32, rest: &[&str]) -> Result<Answer, Refusal> {
    let (schema, subjects) = call
        .registry(RegistryAccess::Read, move |r| Ok((r.by_id(id)?, r.subjects_of(id)?)))
        .await?;
    let Some(schema) = schema else {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            40403,
            format!("schema {id} not found"),
        ));
    };
    match rest {
        [] => Ok(ok(
            &json!({"schema": schema.schema, "schemaType": schema.schema_type.name()}),
        )),
        ["schema"] => Ok(body_answer(StatusCode::OK, schema.schema)),
        ["subjects"] => {
            let mut names: Vec<&String> = subjects.iter().map(|(s, _)| s).collect();
            names.dedup();
            Ok(ok(&json!(names)))
        }
        ["versions"] => Ok(ok(&Value::Array(
            subjects
                .iter()
                .map(|(subject, version)| json!({"subject": subject, "version": version}))
                .collect(),
        ))),
        _ => Err(Refusal::not_found()),
    }
}

/// `GET /subjects`: the names, sorted (`deleted`, `deletedOnly` or the
/// Python client's `deleted_only`, `subjectPrefix`, `offset`, `limit`).
async fn list_subjects(call: &Call<'_>) -> Result<Answer, Refusal> {
    let deleted_only = call.flag("deletedOnly") || call.flag("deleted_only");
    let deleted = call.flag("deleted") || deleted_only;
    let prefix = call.param("subjectPrefix").unwrap_or_default();
    let subjects = call
        .registry(RegistryAccess::Read, move |r| {
            let live = if deleted_only { r.subjects(false)? } else { Vec::new() };
            let mut all = r.subjects(deleted)?;
            all.retain(|s| s.starts_with(&prefix) && !live.contains(s));
            Ok(all)
        })
        .await?;
    Ok(ok(&json!(call.page(subjects))))
}

/// `GET /subjects/{s}/metadata`: no version carries metadata (registering
/// some is refused), so asking for any key finds none; asking for none is
/// the latest version.
async fn latest_with_metadata(call: &Call<'_>, subject: &str) -> Result<Answer, Refusal> {
    if call.param("key").is_some() {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            40403,
            "no version of this subject carries that metadata (this registry keeps none)",
        ));
    }
    Ok(ok(&version_json(&subject_version(call, subject, None, false).await?)))
}

/// `GET /subjects/{s}/versions`: the version numbers, ascending (`deleted`:
/// the soft-deleted ones too; `deletedOnly` or the Python client's
/// `deleted_only`: only those).
async fn subject_versions(call: &Call<'_>, subject: &str) -> Result<Answer, Refusal> {
    let deleted_only = call.flag("deletedOnly") || call.flag("deleted_only");
    let (subject, deleted) = (subject.to_string(), call.flag("deleted") || deleted_only);
    let versions = call
        .registry(RegistryAccess::Read, move |r| {
            let all = r.versions(&subject, deleted)?;
            if !deleted_only {
                return Ok(all);
            }
            let live = r.versions(&subject, false).unwrap_or_default();
            Ok(all.into_iter().filter(|v| !live.contains(v)).collect::<Vec<u32>>())
        })
        .await?;
    Ok(ok(&json!(versions)))
}

/// `GET /schemas`: every live version of every subject (`subjectPrefix`,
/// `latestOnly`, `offset`, `limit`; `deleted=true` adds the soft-deleted
/// versions, marked `"deleted": true`, as Confluent's registry does), each as
/// `{"subject", "version", "id", "schemaType", "schema"}`, by subject then version.
async fn all_schemas(call: &Call<'_>) -> Result<Answer, Refusal> {
    let latest_only = call.flag("latestOnly");
    let deleted = call.flag("deleted");
    let prefix = call.param("subjectPrefix").unwrap_or_default();
    let found = call
        .registry(RegistryAccess::Read, move |r| {
            let mut out = Vec::new();
            for subject in r.subjects(deleted)? {
                if !subject.starts_with(&prefix) {
                    continue;
                }
                let mut versions = r.versions(&subject, deleted)?;
                if latest_only {
                    versions = versions.last().copied().into_iter().collect();
                }
                for v in versions {
                    if let Some(found) = r.version_including_deleted(&subject, Some(v))? {
                        out.push(found);
                    }
                }
            }
            Ok(out)
        })
        .await?;
    let listed: Vec<Value> = call.page(found).iter().map(version_json).collect();
    Ok(ok(&Value::Array(listed)))
}

/// Version `v` (`None`: the latest) of `subject`: 40401 when the subject
/// has no version, 40402 when it lacks this one.
async fn subject_version(
    call: &Call<'_>,
    subject: &str,
    v: Option<u32>,
    deleted: bool,
) -> Result<SubjectVersion, Refusal> {
    let subject = subject.to_string();
    call.registry(RegistryAccess::Read, move |r| {
        r.versions(&subject, deleted)?;
        let found = if deleted {
            r.version_including_deleted(&subject, v)?
        } else {
            r.version(&subject, v)?
        };
        found.ok_or(millrace::Error::VersionNotFound {
            subject,
            version: v.unwrap_or_default(),
            not_soft_deleted: false,
        })
    })
    .await
}

async fn lookup(call: &Call<'_>, subject: &str) -> Result<Answer, Refusal> {
    let (schema_type, schema) = call.schema()?;
    let subject = subject.to_string();
    let found = call
        .registry(RegistryAccess::Read, move |r| {
            r.versions(&subject, false)?;
            r.lookup(&subject, schema_type, &schema)
        })
        .await?;
    match found {
        Some(v) => Ok(ok(&version_json(&v))),
        None => Err(Refusal::new(
            StatusCode::NOT_FOUND,
            40403,
            "schema not found under this subject",
        )),
    }
}

async fn compatibility_check(call: &Call<'_>, subject: &str, against: Option<Option<u32>>) -> Result<Answer, Refusal> {
    let (schema_type, schema) = call.schema()?;
    let subject = subject.to_string();
    let report = call
        .registry(RegistryAccess::Read, move |r| {
            let version = match against {
                None => None,
                Some(v) => {
                    r.versions(&subject, false)?;
                    match r.version(&subject, v)? {
                        Some(found) => Some(found.version),
                        None => {
                            return Err(millrace::Error::VersionNotFound {
                                subject,
                                version: v.unwrap_or_default(),
                                not_soft_deleted: false,
                            })
                        }
                    }
                }
            };
            r.check_compatibility(&subject, schema_type, &schema, version)
        })
        .await?;
    let answer = if call.flag("verbose") {
        json!({"is_compatible": report.compatible, "messages": report.messages})
    } else {
        json!({"is_compatible": report.compatible})
    };
    Ok(ok(&answer))
}

async fn get_config(call: &Call<'_>, subject: Option<&str>) -> Result<Answer, Refusal> {
    let subject = subject.map(str::to_string);
    let to_global = call.flag("defaultToGlobal");
    let (own, in_force) = call
        .registry(RegistryAccess::Read, move |r| {
            Ok((
                r.configured_compatibility(subject.as_deref())?,
                r.compatibility(subject.as_deref())?,
            ))
        })
        .await?;
    let is_subject = call.path.trim_matches('/') != "config";
    match (own, is_subject && !to_global) {
        (Some(level), _) => Ok(ok(&level_json("compatibilityLevel", level))),
        (None, false) => Ok(ok(&level_json("compatibilityLevel", in_force))),
        (None, true) => Err(Refusal::new(
            StatusCode::NOT_FOUND,
            40408,
            "the subject has no compatibility level of its own (ask with defaultToGlobal=true for the one in force)",
        )),
    }
}

async fn put_config(call: &Call<'_>, subject: Option<&str>) -> Result<Answer, Refusal> {
    let body = call.json()?;
    let name = body.get("compatibility").and_then(Value::as_str).unwrap_or_default();
    let Some(level) = Compatibility::from_name(name) else {
        return Err(Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42203,
            format!("invalid compatibility level {name:?}: NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL or FULL_TRANSITIVE"),
        ));
    };
    let subject = subject.map(str::to_string);
    call.registry(RegistryAccess::Admin, move |r| {
        r.set_compatibility(subject.as_deref(), level)
    })
    .await?;
    Ok(ok(&level_json("compatibility", level)))
}
