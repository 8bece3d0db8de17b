#!/usr/bin/env python3
"""A flame graph of `millrace serve` during the Kafka front's batched produce
(issue 26): the same load as `ab.py`'s `kafka produce` row (confluent-kafka,
KBENCH_RECORDS records of 1 KiB, acks=all, 1 MB batches, linger 5 ms), with
`perf record` attached to the server for the produce only.

usage: profile.py BIN WORK_DIR OUT.svg

KBENCH_PROFILE_FRONT=native records the server under the native front's
batched produce instead (`millrace --server ADDR bench`, 1000-record batches,
as `ab.py`'s `native produce` row), for the side-by-side flame graph.
KBENCH_AB_DURABILITY (default `always`) is the topic's durability. Needs
`perf`, `inferno-collapse-perf` and `inferno-flamegraph` on PATH
(`cargo install inferno`); the folded stacks are kept beside the SVG (the SVG holds the same).
KBENCH_PROFILE_FLAT=1 records no call graphs (4,999 samples/s, the
software clock where the machine has no cycle counter) and writes the
flat profile (`perf report --no-children --sort dso,sym`, self time per
function) to OUT (any name) instead: no inferno needed.
"""
import os
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import driver  # noqa: E402

FLAT = os.environ.get("KBENCH_PROFILE_FLAT") == "1"


def main():
    binary, work, svg = sys.argv[1:4]
    durability = os.environ.get("KBENCH_AB_DURABILITY", "always")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    native = os.environ.get("KBENCH_PROFILE_FRONT", "kafka") == "native"
    server = driver.Server(binary, os.path.join(work, "data"), kafka=not native)
    perf_data = os.path.join(work, "perf.data")
    try:
        addr = f"127.0.0.1:{server.port}"
        if not native:
            subprocess.run([binary, "--server", addr, "topic", "create", driver.TOPIC, "--partitions", "1",
                            "--durability", durability, "--record-bytes-max", "2KiB"], check=True, stdout=subprocess.DEVNULL)
        sampling = (["-F", "4999", "-e", "cpu-clock"] if FLAT
                    else ["-F", "999", "-g", "--call-graph", "dwarf,16384"])
        perf = subprocess.Popen(["perf", "record", *sampling, "-p",
                                 str(server.proc.pid), "-o", perf_data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def stop_perf():
            perf.send_signal(signal.SIGINT)
            perf.wait()

        if native:
            res, phases = driver.run_bench(binary, ["--server", addr, "bench", "--topic", driver.TOPIC, "--batch-records",
                                                    str(driver.NATIVE_BATCH), "--count", str(driver.RECORDS),
                                                    "--record-bytes", str(driver.RECORD_BYTES), "--durability", durability,
                                                    "--json", "--keep"], server)
            stop_perf()
            produce = {"records": res["records"], "seconds": res["seconds"], "server_cpu": phases["produce"][1]}
        else:
            produce, _read = driver.kafka_throughput(server, on_produced=stop_perf)
        print(f"produce: {produce}", file=sys.stderr)
    finally:
        server.stop()
    if FLAT:
        with open(svg, "w") as out:
            subprocess.run(["perf", "report", "-i", perf_data, "--no-children", "--sort", "dso,sym", "--stdio",
                            "--percent-limit", "0.2"], stdout=out, stderr=subprocess.DEVNULL, check=True)
        shutil.rmtree(work, ignore_errors=True)
        return
    folded = svg[: -len(".svg")] + ".folded"
    script = subprocess.Popen(["perf", "script", "-i", perf_data], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    with open(folded, "w") as out:
        subprocess.run(["inferno-collapse-perf"], stdin=script.stdout, stdout=out, check=True)
    script.wait()
    with open(folded) as src, open(svg, "w") as out:
        subprocess.run(["inferno-flamegraph", "--title", os.path.basename(svg)], stdin=src, stdout=out, check=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
