"""What a token sees of consumer groups through millrace's Kafka front
(issue 23: group descriptions obey the token's `groups` patterns).

Logged in over SASL/PLAIN as USER, with confluent-kafka's AdminClient:
1. list_consumer_groups: the group ids listed;
2. describe_consumer_groups of every GROUP given: per group its state, or
   the error name it was answered.

Usage: group_describe_auth.py BOOTSTRAP --user U --password P GROUP...
Prints one JSON line; exits non-zero on a failure of its own. Every wait is bounded.
"""

import argparse
import json

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("groups", nargs="+")
    args = parser.parse_args()
    admin = AdminClient(
        {
            "bootstrap.servers": args.bootstrap,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanisms": "PLAIN",
            "sasl.username": args.user,
            "sasl.password": args.password,
        }
    )
    listed = admin.list_consumer_groups(request_timeout=20).result(timeout=30)
    out = {
        "listed": sorted(group.group_id for group in listed.valid),
        "list_errors": [str(error) for error in listed.errors],
        "described": {},
    }
    futures = admin.describe_consumer_groups(args.groups, request_timeout=20)
    for group, future in futures.items():
        try:
            described = future.result(timeout=30)
            out["described"][group] = {"state": described.state.name}
        except KafkaException as error:
            out["described"][group] = {"error": error.args[0].name()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
