#!/usr/bin/env python3
"""Base and new comparison drivers taking turns (issue 26, session s15).

usage: ab.py WORK_DIR PASSES SECONDS base=DRIVER,MILLRACE new=DRIVER,MILLRACE [--workloads relaxed,durable16,durable] [--window]

Each pass runs, per workload, the `server` row with each binary pair (the
order of the pair alternating by pass) and the `redis` row once, exactly as
benches/compare/run.sh does (a fresh server per row, `millrace serve
--durability always` for durable rows and `interval:10` for relaxed ones;
redis-server with `appendfsync always`/`everysec`). With --window the
`window` workload (one relaxed producer, 16 one-record requests in flight)
runs for the binaries that know it (the first `new`) and Redis. Prints one
JSON line per row: records/s, CPU µs per record of the client (driver
process) and of the server process, load average.
"""
import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

PORT_SERVER = 17979
PORT_REDIS = 16480


def wait_port(port, proc):
    for _ in range(400):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("server exited")
            time.sleep(0.025)
    raise RuntimeError(f"nothing on {port}")


def start(system, workload, millrace, work):
    durable = workload in ("durable", "durable16")
    if system == "server":
        cmd = [millrace, "--data", f"{work}/data", "serve", "--listen", f"127.0.0.1:{PORT_SERVER}", "--no-metrics",
               "--kafka-listen", "off", "--registry-listen", "off", "--durability",
               "always" if durable else "interval:10"]
        port = PORT_SERVER
    else:
        cmd = ["redis-server", "--bind", "127.0.0.1", "--port", str(PORT_REDIS), "--dir", work, "--save", "",
               "--appendonly", "yes", "--appendfsync", "always" if durable else "everysec", "--daemonize", "no",
               "--logfile", f"{work}/redis.log"]
        port = PORT_REDIS
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc, port


def row(label, system, workload, driver, millrace, base_dir, seconds, pass_no):
    work = tempfile.mkdtemp(dir=base_dir)
    proc, port = start(system, workload, millrace, work)
    try:
        env = dict(os.environ, MILLRACE_COMPARE_SECONDS=str(seconds), MILLRACE_COMPARE_SERVER_PID=str(proc.pid))
        out = subprocess.run([driver, "run", system, workload, f"{work}/d", str(port)], env=env,
                             capture_output=True, text=True, check=True).stdout
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)
    r = next(csv.reader(io.StringIO(out.strip().splitlines()[-1])))
    records, secs = int(r[2]), float(r[4])
    return {"pass": pass_no, "label": label, "system": system, "workload": workload, "records": records,
            "records_per_s": round(records / secs, 1), "p50_us": int(r[5]), "p99_us": int(r[6]),
            "client_cpu_us": round(float(r[9]) * 1e6 / records, 2),
            "server_cpu_us": round(float(r[10]) * 1e6 / records, 2) if r[10] else None,
            "load": float(open("/proc/loadavg").read().split()[0]),
            "utc": time.strftime("%H:%M:%S", time.gmtime())}


def main():
    args = sys.argv[1:]
    work, passes, seconds = args[0], int(args[1]), int(args[2])
    pairs = []
    workloads = ["relaxed", "durable16", "durable"]
    window = False
    rest = args[3:]
    i = 0
    while i < len(rest):
        a = rest[i]
        if a == "--workloads":
            workloads = rest[i + 1].split(",")
            i += 2
            continue
        if a == "--window":
            window = True
        else:
            label, bins = a.split("=", 1)
            driver, millrace = bins.split(",")
            pairs.append((label, driver, millrace))
        i += 1
    os.makedirs(work, exist_ok=True)
    for p in range(1, passes + 1):
        order = pairs if p % 2 == 1 else list(reversed(pairs))
        for workload in workloads:
            for label, driver, millrace in order:
                print(json.dumps(row(label, "server", workload, driver, millrace, work, seconds, p)), flush=True)
            print(json.dumps(row("redis", "redis", workload, pairs[0][1], pairs[0][2], work, seconds, p)), flush=True)
        if window:
            label, driver, millrace = [x for x in pairs if x[0] == "new"][0]
            print(json.dumps(row(label, "server", "window", driver, millrace, work, seconds, p)), flush=True)
            print(json.dumps(row("redis", "redis", "window", driver, millrace, work, seconds, p)), flush=True)


if __name__ == "__main__":
    main()
