"""The listing and lookup calls of confluent-kafka's SchemaRegistryClient
that tools and serializers make besides registering: subjects by prefix,
deleted-only and paged; all schemas (GET /schemas, soft-deleted ones too
with deleted=true); a soft-deleted version by number (deleted=True) and a
subject's deleted-only versions; referencedby; contexts; the latest
version by metadata.

Usage: registry_tools.py - REGISTRY_URL

Prints one JSON object of what it saw; exits non-zero if a step fails
unexpectedly.
"""

import json
import sys
import urllib.request

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError


def record(name, fields):
    return json.dumps({"type": "record", "name": name, "fields": fields})


def refused(call):
    try:
        call()
    except SchemaRegistryError as e:
        return {"http": e.http_status_code, "code": e.error_code}
    return None


def main():
    url = sys.argv[2]
    client = SchemaRegistryClient({"url": url})
    for subject in ["shop.orders-value", "shop.items-value", "audit-value", "gone-value"]:
        client.register_schema(subject, Schema(record("A", []), "AVRO"))
    client.register_schema(
        "shop.orders-value",
        Schema(record("A", [{"name": "n", "type": "int", "default": 0}]), "AVRO"),
    )
    client.delete_subject("gone-value")
    out = {
        "all": client.get_subjects(),
        "prefix": client.get_subjects(subject_prefix="shop."),
        "deleted_only": client.get_subjects(deleted_only=True),
        "with_deleted": client.get_subjects(deleted=True),
        "page": client.get_subjects(offset=1, limit=2),
        "referenced_by": client.get_referenced_by("shop.orders-value", 1),
        "referenced_by_missing": refused(lambda: client.get_referenced_by("shop.orders-value", 9)),
        "contexts": client.get_contexts(),
        "latest_with_metadata": client.get_latest_with_metadata("shop.orders-value", {}).version,
        "metadata_key": refused(lambda: client.get_latest_with_metadata("shop.orders-value", {"owner": "x"})),
    }
    with urllib.request.urlopen(url + "/schemas?subjectPrefix=shop.") as answer:
        out["schemas"] = [[s["subject"], s["version"]] for s in json.load(answer)]
    with urllib.request.urlopen(url + "/schemas?latestOnly=true") as answer:
        out["schemas_latest"] = [[s["subject"], s["version"]] for s in json.load(answer)]
    # Soft-deleted versions, listed only when asked for and marked as such.
    with urllib.request.urlopen(url + "/schemas?deleted=true&subjectPrefix=gone") as answer:
        out["schemas_deleted"] = [[s["subject"], s["version"], s.get("deleted", False)] for s in json.load(answer)]
    with urllib.request.urlopen(url + "/schemas?subjectPrefix=gone") as answer:
        out["schemas_not_deleted"] = json.load(answer)
    # Not found first: the client caches a version it got by number.
    out["version_not_deleted"] = refused(lambda: client.get_version("gone-value", 1))
    out["version_deleted"] = client.get_version("gone-value", 1, deleted=True).version
    out["versions_deleted_only"] = client.get_versions("gone-value", deleted_only=True)
    out["versions_deleted"] = client.get_versions("shop.orders-value", deleted=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
