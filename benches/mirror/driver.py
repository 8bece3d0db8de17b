#!/usr/bin/env python3
"""Mirror throughput (issue 24): `millrace mirror` from an edge data directory
into a second `millrace serve` whose Kafka front plays the central cluster,
as a ratio to that Kafka front's own produce rate in the same run.

usage: driver.py MILLRACE_BIN WORK_DIR [OUT_JSON]

Per round, in fresh directories:

- kafka:  confluent-kafka (librdkafka, acks=all, linger.ms 5, batch.size
          1,000,000, no compression) produces MBENCH_RECORDS values of 1 KiB
          to a 1-partition `always` topic of the central server (the
          `kafka_throughput` of benches/kafka/driver.py, same settings);
- mirror: an edge directory preloaded with the same number of 1 KiB records
          (`millrace bench --keep`, untimed) is mirrored by
          `millrace mirror --exit-when-caught-up` (exactly once: one Kafka
          transaction per 5,000 records or 768 KiB, the defaults, with its
          progress record)
          into the same central server (its own target topic, created by the
          mirror as `always` like every topic of that server). Timed from the
          process start to its exit, so the start (store open, producer init,
          progress read) is included.

Two ratios per round, both against the Kafka front's produce rate of the
same round (timed from the first produce to the last acknowledgement, the
producer connected beforehand, untimed):

- `ratio_steady` (the target's figure, design/mirror.md "Throughput"): the
  mirror's steady state, from the start of its first batch (read from the
  edge) to its last committed transaction, from the mirror's own step log
  (`batch sent; its commit started` with its fill and wait times, and
  `transaction committed`, at debug level of `millrace_mirror::shard`):
  `mirror_steady_s`, `mirror_steady_records_per_s`;
- `ratio` (whole process): from the process start to its exit, so the
  start (process start, store open, producers' init, topics, progress
  read: `mirror_startup_s`, up to the first batch) and the end (after the
  last commit: producers' close, `mirror_end_s`) are included.

Each round also records CPU: the central server's during the Kafka produce
and during the mirror, and the mirror process's own (`*_cpu_s`, and per
record `*_cpu_us_per_record`), the time to the log line `mirror session
started` (`mirror_session_started_s`) and the rate after it
(`mirror_after_start_records_per_s`, `ratio_after_start`: the end
included). Environment: MBENCH_RECORDS (default 100000; 500000 makes the
start-up small against the run), MBENCH_ROUNDS (default 3),
MBENCH_MIRROR_ARGS (extra `millrace mirror` flags, whitespace-separated,
recorded in the output), MBENCH_PYTHON is not read (run this with a python
that has confluent-kafka: target/kafka-venv/bin/python).
"""
import datetime
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "kafka"))
os.environ.setdefault("KBENCH_RECORDS", os.environ.get("MBENCH_RECORDS", "100000"))
import driver as kafka_driver  # noqa: E402  (benches/kafka/driver.py)

RECORDS = kafka_driver.RECORDS
ROUNDS = int(os.environ.get("MBENCH_ROUNDS", "3"))
RECORD_BYTES = kafka_driver.RECORD_BYTES
# Extra `millrace mirror` flags (whitespace-separated), e.g. "--batch-bytes 8MiB".
MIRROR_ARGS = os.environ.get("MBENCH_MIRROR_ARGS", "").split()


def log(msg):
    print(f"[mirror-bench] {msg}", file=sys.stderr, flush=True)


def stamp(line):
    """Seconds since the epoch of a log line's RFC 3339 time, or None."""
    head = re.sub(r"\x1b\[[0-9;]*m", "", line).split(" ", 1)[0]
    try:
        at = datetime.datetime.strptime(head, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return None
    return at.replace(tzinfo=datetime.timezone.utc).timestamp()


def fields(line):
    return dict(re.findall(r"(\w+)=(\d+)", re.sub(r"\x1b\[[0-9;]*m", "", line)))


def session_started(stderr):
    """Wall time (seconds since the epoch) of the mirror's first `mirror
    session started` log line, or None."""
    for line in stderr.splitlines():
        if "mirror session started" in line:
            return stamp(line)
    return None


def steady_window(stderr):
    """(start of the first batch, last commit, batches) from the mirror's
    step log, in seconds since the epoch; (None, None, 0) without them.
    A batch's line is logged when it is sent, after `fill_us` of reading
    the edge and `waited_for_previous_commit_us`: its start is that much
    earlier."""
    first = last = None
    batches = 0
    for line in stderr.splitlines():
        if "batch sent; its commit started" in line:
            batches += 1
            at = stamp(line)
            if first is None and at is not None:
                f = fields(line)
                first = at - (int(f.get("fill_us", 0)) + int(f.get("waited_for_previous_commit_us", 0))) / 1e6
        elif "transaction committed" in line:
            at = stamp(line)
            if at is not None:
                last = at
    return first, last, batches


def one_round(binary, work, rnd):
    case = os.path.join(work, f"round-{rnd}")
    os.makedirs(case)
    central_dir = os.path.join(case, "central", "data")
    os.makedirs(os.path.dirname(central_dir))
    edge = os.path.join(case, "edge")
    try:
        # The edge's records, untimed.
        subprocess.run(
            [binary, "bench", "--data", edge, "--topic", "mbench", "--record-bytes", str(RECORD_BYTES),
             "--batch-records", "1000", "--count", str(RECORDS), "--durability", "always", "--keep", "--json"],
            check=True, stdout=subprocess.DEVNULL,
        )
        server = kafka_driver.Server(binary, central_dir, kafka=True)
        try:
            addr = f"127.0.0.1:{server.port}"
            subprocess.run([binary, "--server", addr, "topic", "create", kafka_driver.TOPIC, "--partitions", "1",
                            "--durability", "always", "--record-bytes-max", "2KiB"], check=True, stdout=subprocess.DEVNULL)
            produce, _read = kafka_driver.kafka_throughput(server)
            kafka_rate = produce["records"] / produce["seconds"]
            bootstrap = f"127.0.0.1:{server.kafka_port}"
            srv0, t0, wall0 = server.cpu(), time.monotonic(), time.time()
            children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            out = subprocess.run(
                [binary, "mirror", "--data", edge, "--to", bootstrap, "--prefix", "edge.", "--edge-id", f"bench{rnd}",
                 "--topics", "mbench", "--progress-topic", "mirror_progress", "--exit-when-caught-up"] + MIRROR_ARGS,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                # `mirror session started` is an info line of the shard, its
                # batches' and commits' lines debug ones (one per
                # transaction); the command's own default level is warn.
                env=dict(os.environ, RUST_LOG="warn,millrace_mirror::shard=debug", NO_COLOR="1"),
            )
            t1, srv1, wall1 = time.monotonic(), server.cpu(), time.time()
            children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            if out.returncode != 0:
                raise RuntimeError(f"mirror failed: {out.stderr.decode(errors='replace')[-2000:]}")
            # Every record is on the central topic.
            from confluent_kafka import Consumer, TopicPartition
            consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "mbench-check", "isolation.level": "read_committed"})
            low, high = consumer.get_watermark_offsets(TopicPartition("edge.mbench", 0), timeout=10)
            consumer.close()
            # High watermark counts records and the transaction markers.
            if high - low < RECORDS:
                raise RuntimeError(f"mirror: {high - low} offsets on the target, {RECORDS} records sent")
            mirror_seconds = t1 - t0
            mirror_rate = RECORDS / mirror_seconds
            log_text = out.stderr.decode(errors="replace")
            started = session_started(log_text)
            after = (wall1 - started) if started else None
            first, last, batches = steady_window(log_text)
            steady = (last - first) if first is not None and last is not None and last > first else None
            steady_rate = RECORDS / steady if steady else None
            return {
                "round": rnd,
                "records": RECORDS,
                "record_bytes": RECORD_BYTES,
                "kafka_produce_seconds": produce["seconds"],
                "kafka_produce_records_per_s": kafka_rate,
                "mirror_seconds": mirror_seconds,
                "mirror_records_per_s": mirror_rate,
                "mirror_server_cpu_s": srv1 - srv0,
                "mirror_cpu_s": (children1.ru_utime + children1.ru_stime) - (children0.ru_utime + children0.ru_stime),
                "kafka_server_cpu_s": produce["server_cpu"],
                "kafka_client_cpu_s": produce["client_cpu"],
                "mirror_cpu_us_per_record": 1e6 * ((children1.ru_utime + children1.ru_stime) - (children0.ru_utime + children0.ru_stime)) / RECORDS,
                "mirror_server_cpu_us_per_record": 1e6 * (srv1 - srv0) / RECORDS,
                "kafka_server_cpu_us_per_record": 1e6 * produce["server_cpu"] / RECORDS,
                "mirror_transactions": batches,
                "mirror_startup_s": (first - wall0) if first is not None else None,
                "mirror_steady_s": steady,
                "mirror_end_s": (wall1 - last) if last is not None else None,
                "mirror_steady_records_per_s": steady_rate,
                "ratio_steady": steady_rate / kafka_rate if steady_rate else None,
                "mirror_session_started_s": (started - wall0) if started else None,
                "mirror_after_start_records_per_s": RECORDS / after if after else None,
                "ratio": mirror_rate / kafka_rate,
                "ratio_after_start": (RECORDS / after) / kafka_rate if after else None,
            }
        finally:
            server.stop()
    finally:
        shutil.rmtree(case, ignore_errors=True)


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    binary, work = sys.argv[1], sys.argv[2]
    out_path = sys.argv[3] if len(sys.argv) > 3 else None
    os.makedirs(work, exist_ok=True)
    rows = []
    load_at_start = os.getloadavg()
    for rnd in range(ROUNDS):
        row = one_round(binary, work, rnd)
        log(f"round {rnd}: kafka {row['kafka_produce_records_per_s']:.0f} rec/s; mirror steady "
            f"{row['mirror_steady_records_per_s'] or 0:.0f} rec/s (ratio {row['ratio_steady'] or 0:.2f}), "
            f"whole process {row['mirror_records_per_s']:.0f} rec/s (ratio {row['ratio']:.2f}); "
            f"start-up {row['mirror_startup_s'] or 0:.3f} s, end {row['mirror_end_s'] or 0:.3f} s; "
            f"central CPU {row['mirror_server_cpu_us_per_record']:.2f} us/record (Kafka produce "
            f"{row['kafka_server_cpu_us_per_record']:.2f}); load {os.getloadavg()[0]:.2f}")
        rows.append(row)
    load = os.getloadavg()
    summary = {
        "rounds": rows,
        "median_ratio": statistics.median(r["ratio"] for r in rows),
        "median_kafka_records_per_s": statistics.median(r["kafka_produce_records_per_s"] for r in rows),
        "median_mirror_records_per_s": statistics.median(r["mirror_records_per_s"] for r in rows),
        "median_ratio_after_start": statistics.median(r["ratio_after_start"] or 0 for r in rows),
        "median_ratio_steady": statistics.median(r["ratio_steady"] or 0 for r in rows),
        "median_mirror_steady_records_per_s": statistics.median(r["mirror_steady_records_per_s"] or 0 for r in rows),
        "median_mirror_startup_s": statistics.median(r["mirror_startup_s"] or 0 for r in rows),
        "median_mirror_server_cpu_us_per_record": statistics.median(r["mirror_server_cpu_us_per_record"] for r in rows),
        "loadavg_at_start": load_at_start,
        "loadavg_at_end": load,
        "mirror_args": MIRROR_ARGS,
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if out_path:
        with open(out_path, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
