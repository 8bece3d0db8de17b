#!/usr/bin/env python3
"""Instructions the server executes per request, Kafka front against native
front, two binaries (session s15, issue 21): `millrace serve` runs under
`valgrind --tool=callgrind`, which counts instructions whatever the
machine's load (the A/B tool for a loaded machine; wall time under
valgrind means nothing). Per binary and front: a warm-up, the counters
zeroed (`callgrind_control -z`), then one-record produces, acks=all, one
in flight, on an `always` topic (native: `millrace --server ADDR bench
--batch-records 1`, its topic's creation counted too: a few million
instructions against hundreds of millions; Kafka: `thin.py`'s pre-built
Produce v7), the counters dumped (`callgrind_control -d`): instructions ÷
requests. KBENCH_CALLGRIND_KEEP=1 keeps each case's callgrind files
(`callgrind_annotate WORK_DIR/new-kafka/callgrind.out.1`).

usage: callgrind_ab.py BASE_BIN NEW_BIN WORK_DIR [SECONDS] > out.json
"""
import glob
import json
import os
import shutil
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import driver  # noqa: E402
import thin  # noqa: E402


def wrapper(binary, work, out_file):
    """A `millrace` that runs `serve` under callgrind, anything else as is."""
    path = os.path.join(work, "millrace-callgrind")
    with open(path, "w") as f:
        f.write(f"""#!/bin/sh
if [ "$1" = serve ]; then
  exec valgrind --tool=callgrind --callgrind-out-file={out_file} --dump-instr=no "{binary}" "$@"
fi
exec "{binary}" "$@"
""")
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)
    return path


def total_ir(prefix):
    """Ir of the dumps callgrind_control -d wrote (files prefix.N)."""
    total = 0
    for path in glob.glob(prefix + ".*"):
        with open(path) as f:
            for line in f:
                if line.startswith("summary:") or line.startswith("totals:"):
                    total = max(total, int(line.split()[1]))
    return total


def one(binary, front, work, seconds):
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    out_file = os.path.join(work, "callgrind.out")
    server = driver.Server(wrapper(binary, work, out_file), os.path.join(work, "data"), kafka=(front == "kafka"))
    pid = server.proc.pid
    addr = f"127.0.0.1:{server.port}"
    topic = driver.TOPIC + "-lat"
    load = os.getloadavg()[0]
    try:
        if front == "kafka":
            subprocess.run([binary, "--server", addr, "topic", "create", topic, "--partitions", "1",
                            "--durability", "always", "--record-bytes-max", "2KiB"], check=True, stdout=subprocess.DEVNULL)
            thin.latency("127.0.0.1", server.kafka_port, topic, 1.0, b"x" * driver.RECORD_BYTES)
            subprocess.run(["callgrind_control", "-z", str(pid)], check=True, stdout=subprocess.DEVNULL)
            res = thin.latency("127.0.0.1", server.kafka_port, topic, seconds, b"x" * driver.RECORD_BYTES)
            requests = res["records"]
        else:
            args = ["--server", addr, "bench", "--topic", topic, "--batch-records", "1", "--record-bytes",
                    str(driver.RECORD_BYTES), "--durability", "always", "--json", "--keep"]
            warm = [a if a != topic else topic + "-warm" for a in args if a != "--keep"]
            subprocess.run([binary] + warm + ["--duration", "1s"], check=True, stdout=subprocess.DEVNULL)
            subprocess.run(["callgrind_control", "-z", str(pid)], check=True, stdout=subprocess.DEVNULL)
            done = subprocess.run([binary] + args + ["--duration", f"{seconds}s"], check=True, capture_output=True)
            requests = json.loads(done.stdout)["records"]
        subprocess.run(["callgrind_control", "-d", str(pid)], check=True, stdout=subprocess.DEVNULL)
        time.sleep(0.5)
        instructions = total_ir(out_file)
    finally:
        server.stop()
    row = {"front": front, "requests": requests, "instructions": instructions,
           "instructions_per_request": instructions / max(1, requests), "load": load}
    if os.environ.get("KBENCH_CALLGRIND_KEEP") != "1":
        shutil.rmtree(work, ignore_errors=True)
    return row


def main():
    binaries = {"base": sys.argv[1], "new": sys.argv[2]}
    work = sys.argv[3]
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 10
    rows = []
    for name in ("base", "new"):
        for front in ("native", "kafka"):
            row = one(binaries[name], front, os.path.join(work, f"{name}-{front}"), seconds)
            row["binary"] = name
            rows.append(row)
            driver.log(f"{name} {front}: {row['requests']} requests, {row['instructions_per_request']:.0f} "
                       f"instructions per request, load {row['load']:.1f}")
    get = {(r["binary"], r["front"]): r["instructions_per_request"] for r in rows}
    for name in binaries:
        driver.log(f"{name}: Kafka ÷ native instructions per request {get[(name, 'kafka')] / get[(name, 'native')]:.3f}")
    for front in ("native", "kafka"):
        driver.log(f"{front}: new ÷ base {get[('new', front)] / get[('base', front)]:.3f}")
    print(json.dumps({"rows": rows, "seconds": seconds}, indent=1))


if __name__ == "__main__":
    main()
