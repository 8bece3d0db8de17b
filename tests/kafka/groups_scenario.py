"""A consumer group of one client library through the Kafka front:
1 member, then 3, one leaves (SIGTERM: it closes and leaves the group), one
is killed (SIGKILL: evicted after its 6 s session timeout), records produced
between the steps with `millrace produce` on the native port.

Usage: groups_scenario.py BOOTSTRAP CLIENT ASSIGNOR MILLRACE SERVER TOPIC GROUP PARTITIONS

CLIENT is confluent, kafka_python or aiokafka (groups_member_CLIENT.py).
Prints one JSON object: what each member owned and processed, the checks'
findings (a partition owned by two members at once, a record processed by
a member not owning it, a record processed twice other than after the kill)
and the committed offsets the client reads back; exits 1 when a check
failed or a step timed out. Every wait is bounded.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
STEP_TIMEOUT = 40


class Member:
    def __init__(self, name, argv):
        self.name = name
        self.events = []
        self.lock = threading.Lock()
        self.killed_at = None
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.events.append(event)

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def owned(self):
        owned = set()
        for event in self.snapshot():
            if event["ev"] == "add":
                owned |= set(event["parts"])
            elif event["ev"] == "remove":
                owned -= set(event["parts"])
        return owned

    def alive(self):
        return self.killed_at is None and not any(e["ev"] == "closed" for e in self.snapshot())


def fail(message, **details):
    print(json.dumps({"ok": False, "failed": message, **details}), flush=True)
    sys.exit(1)


def main():
    bootstrap, client, assignor, millrace, server, topic, group, partitions = sys.argv[1:9]
    partitions = int(partitions)
    script = os.path.join(HERE, "groups_member_%s.py" % client)
    members = {}
    produced = []
    steps = []

    def spawn(name):
        members[name] = Member(name, [sys.executable, script, bootstrap, topic, group, assignor])

    def live():
        return [m for m in members.values() if m.alive()]

    def wait(what, condition):
        deadline = time.time() + STEP_TIMEOUT
        while time.time() < deadline:
            if condition():
                steps.append({"step": what, "at": time.time()})
                return
            time.sleep(0.1)
        fail("timed out: " + what, owned={n: sorted(m.owned()) for n, m in members.items()})

    def balanced():
        owners = live()
        owned = [m.owned() for m in owners]
        union = set().union(*owned) if owned else set()
        return (
            union == set(range(partitions))
            and sum(len(o) for o in owned) == partitions
            and all(owned)
        )

    def produce(batch, count):
        values = ["b%d-%d" % (batch, i) for i in range(count)]
        lines = "".join(json.dumps({"value": v, "partition": i % partitions}) + "\n" for i, v in enumerate(values))
        done = subprocess.run(
            [millrace, "--server", server, "produce", topic, "--format", "json"],
            input=lines, text=True, capture_output=True, timeout=60,
        )
        if done.returncode != 0:
            fail("produce failed", stderr=done.stderr)
        produced.extend(values)

    def processed():
        return {e["v"] for m in members.values() for e in m.snapshot() if e["ev"] == "rec"}

    def all_processed():
        return set(produced) <= processed()

    spawn("m1")
    produce(1, 30)
    wait("m1 owns every partition", balanced)
    wait("batch 1 processed", all_processed)

    spawn("m2")
    spawn("m3")
    wait("three members share the partitions", lambda: len(live()) == 3 and balanced())
    produce(2, 30)
    wait("batch 2 processed", all_processed)

    members["m2"].proc.send_signal(signal.SIGTERM)
    wait("m2 left", lambda: not members["m2"].alive())
    wait("two members share the partitions", lambda: len(live()) == 2 and balanced())
    produce(3, 30)
    wait("batch 3 processed", all_processed)

    members["m3"].killed_at = time.time()
    members["m3"].proc.kill()
    members["m3"].proc.wait(timeout=10)
    wait("m1 alone owns every partition after m3's eviction", lambda: len(live()) == 1 and balanced())
    produce(4, 30)
    wait("batch 4 processed", all_processed)

    # A native reset is refused while m1 is a live member.
    reset = subprocess.run(
        [millrace, "--server", server, "offsets", "reset", "-g", group, "-t", topic, "--to-earliest", "--execute"],
        text=True, capture_output=True, timeout=60,
    )
    reset_refused = reset.returncode != 0
    members["m1"].proc.send_signal(signal.SIGTERM)
    wait("m1 left", lambda: not members["m1"].alive())
    end = time.time()
    for m in members.values():
        try:
            m.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            m.proc.kill()
    time.sleep(0.2)

    # Ownership intervals per (member, partition).
    intervals = []
    for m in members.values():
        start = {}
        # A member owns nothing once killed or closed (aiokafka's stop()
        # leaves the group without calling the revoke listener).
        closed = [e["t"] for e in m.snapshot() if e["ev"] == "closed"]
        finish = m.killed_at or (closed[0] if closed else end)
        for event in m.snapshot():
            if event["ev"] == "add":
                for p in event["parts"]:
                    start.setdefault(p, event["t"])
            elif event["ev"] == "remove":
                for p in event["parts"]:
                    if p in start:
                        intervals.append((m.name, p, start.pop(p), event["t"]))
        for p, t in start.items():
            intervals.append((m.name, p, t, finish))
    overlaps = [
        [a, b]
        for i, a in enumerate(intervals)
        for b in intervals[i + 1:]
        if a[0] != b[0] and a[1] == b[1] and a[2] < b[3] and b[2] < a[3]
    ]
    outside = []
    seen = {}
    duplicates = []
    for m in members.values():
        for event in m.snapshot():
            if event["ev"] != "rec":
                continue
            owning = any(
                name == m.name and p == event["p"] and begin <= event["t"] <= finish
                for name, p, begin, finish in intervals
            )
            if not owning:
                outside.append([m.name, event["p"], event["o"]])
            seen.setdefault(event["v"], []).append(m.name)
    # At least once across a rebalance: a record whose commit failed (the
    # generation ended first) or that the killed member read may come again.
    uncommitted = {e.get("v") for m in members.values() for e in m.snapshot() if e["ev"] == "commit_error"}
    for value, names in seen.items():
        if len(names) > 1 and "m3" not in names and value not in uncommitted:
            duplicates.append([value, names])
    missing = sorted(set(produced) - set(seen))

    committed = subprocess.run(
        [sys.executable, script, "--committed", bootstrap, topic, group, str(partitions)],
        text=True, capture_output=True, timeout=60,
    )
    if committed.returncode != 0:
        fail("reading committed offsets failed", stderr=committed.stderr)
    read_back = json.loads(committed.stdout.strip().splitlines()[-1])
    result = {
        "ok": not overlaps and not outside and not duplicates and not missing and reset_refused,
        "overlaps": overlaps,
        "outside": outside,
        "duplicates": duplicates,
        "missing": missing,
        "produced": len(produced),
        "processed": len(seen),
        "reset_refused_while_live": reset_refused,
        "reset_stderr": reset.stderr.strip(),
        "committed": read_back["committed"],
        "metadata": read_back.get("metadata", {}),
        "commit_errors": sum(1 for m in members.values() for e in m.snapshot() if e["ev"] == "commit_error"),
        "steps": steps,
    }
    print(json.dumps(result), flush=True)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
