#!/usr/bin/env python3
"""Timeline of one mirror session (issue 24): where a mirror round's time goes.

usage: timeline.py MILLRACE_BIN WORK_DIR OUT_DIR

One round of benches/mirror/driver.py's mirror half (an edge preloaded with
MBENCH_RECORDS records of 1 KiB, `millrace mirror --exit-when-caught-up` into
a fresh central `millrace serve`), without the Kafka produce, with:

- the mirror's own step log (RUST_LOG=millrace_mirror=debug: session start,
  each lane's init, the progress topic, each batch's fill, acknowledgement
  and commit), and, with TIMELINE_RDKAFKA_DEBUG set (e.g. `protocol`),
  librdkafka's debug log of the contexts it names (`--to-config debug=...`);
- `strace -f -ttt -T -e trace=fdatasync,fsync` of the central server
  (TIMELINE_STRACE=0 leaves it out).

Writes OUT_DIR/mirror.log (the mirror's stderr), OUT_DIR/central.strace and
OUT_DIR/timeline.txt (what summarize() makes of them: start-up steps,
per-batch phases, the central server's fsyncs in each commit window).
Environment: MBENCH_RECORDS (default 100000), MBENCH_MIRROR_ARGS (extra flags).
"""
import datetime
import os
import re
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
MIRROR_ARGS = os.environ.get("MBENCH_MIRROR_ARGS", "").split()
RDKAFKA_DEBUG = os.environ.get("TIMELINE_RDKAFKA_DEBUG", "")
STRACE = os.environ.get("TIMELINE_STRACE", "1") != "0"
# The central server's system calls to trace (comma-separated), e.g.
# `fdatasync,fsync,pwrite64,writev` to also see how long its writes take.
STRACE_CALLS = os.environ.get("TIMELINE_STRACE_CALLS", "fdatasync,fsync")


def stamp(line):
    """Seconds since the epoch of a log line's RFC 3339 time, or None."""
    head = line.split(" ", 1)[0]
    head = re.sub(r"\x1b\[[0-9;]*m", "", head)
    try:
        at = datetime.datetime.strptime(head, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return None
    return at.replace(tzinfo=datetime.timezone.utc).timestamp()


def fields(line):
    return dict(re.findall(r"(\w+)=(\d+)", re.sub(r"\x1b\[[0-9;]*m", "", line)))


def run(binary, work, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    case = os.path.join(work, "timeline")
    shutil.rmtree(case, ignore_errors=True)
    os.makedirs(os.path.join(case, "central"))
    edge = os.path.join(case, "edge")
    subprocess.run(
        [binary, "bench", "--data", edge, "--topic", "mbench", "--record-bytes", "1024",
         "--batch-records", "1000", "--count", str(RECORDS), "--durability", "always", "--keep", "--json"],
        check=True, stdout=subprocess.DEVNULL,
    )
    server = kafka_driver.Server(binary, os.path.join(case, "central", "data"), kafka=True)
    tracer = None
    strace_path = os.path.join(out_dir, "central.strace")
    try:
        if STRACE:
            tracer = subprocess.Popen(
                ["strace", "-f", "-ttt", "-T", "-e", f"trace={STRACE_CALLS}", "-o", strace_path, "-p", str(server.proc.pid)],
                stderr=subprocess.DEVNULL,
            )
            time.sleep(0.5)  # attached to every thread
        bootstrap = f"127.0.0.1:{server.kafka_port}"
        extra = ["--to-config", f"debug={RDKAFKA_DEBUG}"] if RDKAFKA_DEBUG else []
        wall0 = time.time()
        cpu0 = server.cpu()
        out = subprocess.run(
            [binary, "mirror", "--data", edge, "--to", bootstrap, "--prefix", "edge.", "--edge-id", "timeline",
             "--topics", "mbench", "--progress-topic", "mirror_progress", "--exit-when-caught-up"] + extra + MIRROR_ARGS,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=dict(os.environ, RUST_LOG="warn,millrace_mirror=debug,librdkafka=debug", NO_COLOR="1"),
        )
        wall1 = time.time()
        cpu1 = server.cpu()
        if out.returncode != 0:
            raise RuntimeError(f"mirror failed: {out.stderr.decode(errors='replace')[-2000:]}")
    finally:
        if tracer:
            tracer.terminate()
            tracer.wait()
        server.stop()
        shutil.rmtree(case, ignore_errors=True)
    log_path = os.path.join(out_dir, "mirror.log")
    with open(log_path, "wb") as f:
        f.write(out.stderr)
    text = summarize(out.stderr.decode(errors="replace"), strace_path if STRACE else None, wall0, wall1)
    text = f"records {RECORDS}, mirror args {MIRROR_ARGS}, central CPU {cpu1 - cpu0:.2f} s, load {os.getloadavg()}\n" + text
    with open(os.path.join(out_dir, "timeline.txt"), "w") as f:
        f.write(text)
    print(text)


def syscalls(strace_path):
    """(name, start, duration, returned) of every traced call of the central server."""
    calls = []
    if not strace_path or not os.path.exists(strace_path):
        return calls
    with open(strace_path) as f:
        for line in f:
            m = re.match(r"\d+\s+(\d+\.\d+) (\w+)\(.*\)\s+= (-?\d+).*<(\d+\.\d+)>", line)
            if m:
                calls.append((m.group(2), float(m.group(1)), float(m.group(4)), int(m.group(3))))
    return calls


def fsyncs(calls):
    """(start, duration) of each fdatasync/fsync among `syscalls`' calls."""
    return [(start, duration) for name, start, duration, _ in calls if name in ("fdatasync", "fsync")]


def ms(x):
    return f"{x * 1000:.1f} ms"


def spread(values):
    if not values:
        return "none"
    values = sorted(values)
    return (f"n={len(values)} median {values[len(values) // 2] * 1000:.2f} ms, "
            f"min {values[0] * 1000:.2f}, max {values[-1] * 1000:.2f}, sum {sum(values) * 1000:.0f} ms")


def summarize(log, strace_path, wall0, wall1):
    lines = [(stamp(l), l) for l in log.splitlines()]
    lines = [(t, l) for t, l in lines if t is not None]
    out = [f"process start → exit: {ms(wall1 - wall0)}"]
    steps = []
    for t, l in lines:
        for what in ("session initialised", "mirror session started", "target topic verified", "lane initialised",
                     "progress read", "topics prepared", "session ended", "positions recorded"):
            if what in l:
                steps.append((t, what, fields(l)))
    for t, what, f in steps:
        out.append(f"  +{ms(t - wall0):>10}  {what} {f if f else ''}")
    sent = [(t, fields(l)) for t, l in lines if "batch sent; its commit start" in l]
    committed = [(t, fields(l)) for t, l in lines if "transaction committed" in l]
    acked = [(t, fields(l)) for t, l in lines if "batch acknowledged" in l]
    if sent:
        first, last = sent[0][0], (committed[-1][0] if committed else sent[-1][0])
        out.append(f"batches: {len(sent)}, first sent +{ms(first - wall0)}, last committed +{ms(last - wall0)}, "
                   f"steady {ms(last - first)}, after the last commit {ms(wall1 - last)}")
        for key in ("fill_us", "acked_us", "waited_for_previous_commit_us"):
            vals = [int(f[key]) / 1e6 for _, f in sent if key in f]
            if vals:
                out.append(f"  batch {key}: {spread(vals)}")
        for key in ("ack_wait_us",):
            vals = [int(f[key]) / 1e6 for _, f in acked if key in f]
            if vals:
                out.append(f"  {key}: {spread(vals)}")
        for key in ("commit_us", "joined_after_us", "delivered_us", "end_txn_us"):
            vals = [int(f[key]) / 1e6 for _, f in committed if key in f]
            if vals:
                out.append(f"  commit {key}: {spread(vals)}")
        gaps = [b[0] - a[0] for a, b in zip(sent, sent[1:])]
        out.append(f"  batch to batch: {spread(gaps)}")
    traced = syscalls(strace_path)
    calls = fsyncs(traced)
    if calls:
        inside = [d for s, d in calls if wall0 <= s <= wall1]
        out.append(f"central fsyncs during the mirror: {spread(inside)}")
    others = [c for c in traced if c[0] not in ("fdatasync", "fsync") and wall0 <= c[1] <= wall1]
    for name in sorted({c[0] for c in others}):
        for label, low, high in (("< 64 KiB", 0, 65536), (">= 64 KiB", 65536, 1 << 62)):
            picked = [d for n, _, d, r in others if n == name and low <= r < high]
            if picked:
                out.append(f"central {name} {label} during the mirror: {spread(picked)}")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    run(sys.argv[1], sys.argv[2], sys.argv[3])
