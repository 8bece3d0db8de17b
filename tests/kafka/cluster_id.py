"""The cluster id millrace's Kafka front names in Metadata, as
confluent-kafka's AdminClient reads it.

Usage: cluster_id.py BOOTSTRAP
Prints {"cluster_id": ...}; exits non-zero on any failure. Bounded waits.
"""

import json
import sys

from confluent_kafka.admin import AdminClient


def main():
    admin = AdminClient({"bootstrap.servers": sys.argv[1]})
    metadata = admin.list_topics(timeout=20)
    print(json.dumps({"cluster_id": metadata.cluster_id}))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - report and fail
        print(json.dumps({"exception": repr(e)}))
        sys.exit(1)
