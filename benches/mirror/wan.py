#!/usr/bin/env python3
"""Mirror throughput over a link with latency (issue 24): `millrace mirror`
from an edge directory into a second `millrace serve` through a TCP proxy
that delays every chunk by MWAN_DELAY_MS (default 10) in each direction, so
each request/response round trip costs twice that (a WAN link's RTT). The
central server advertises the proxy's address, so every connection crosses it.

usage: wan.py MILLRACE_BIN WORK_DIR [OUT_JSON]

Per round: an edge preloaded (untimed) with MWAN_RECORDS (default 20000)
values of 1 KiB, a fresh central server, `millrace mirror
--exit-when-caught-up` timed from its start to its exit, and from its
`mirror session started` log line to its exit. MWAN_ROUNDS (default 3);
MWAN_MIRROR_ARGS: extra mirror flags. Run with a python that has
confluent-kafka (target/kafka-venv/bin/python): it reuses benches/kafka's
server helper.
"""
import asyncio
import datetime
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "kafka"))
import driver as kafka_driver  # noqa: E402  (benches/kafka/driver.py)

RECORDS = int(os.environ.get("MWAN_RECORDS", "20000"))
ROUNDS = int(os.environ.get("MWAN_ROUNDS", "3"))
DELAY = float(os.environ.get("MWAN_DELAY_MS", "10")) / 1000.0
MIRROR_ARGS = os.environ.get("MWAN_MIRROR_ARGS", "").split()


async def pipe(reader, writer):
    """Copy reader to writer, each chunk DELAY after it arrived, in order."""
    queue = asyncio.Queue()

    async def read():
        while True:
            data = await reader.read(1 << 20)
            await queue.put((time.monotonic() + DELAY, data))
            if not data:
                return

    async def write():
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                writer.close()
                return
            writer.write(data)
            await writer.drain()

    try:
        await asyncio.gather(read(), write())
    except (ConnectionError, OSError):
        writer.close()


def start_proxy(listen_port, upstream_port):
    loop = asyncio.new_event_loop()

    async def handle(reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True)

    async def serve():
        server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
        async with server:
            await server.serve_forever()

    threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True).start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", listen_port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("the proxy did not start")


def session_started(stderr):
    """Wall time of the mirror's `mirror session started` line, or None."""
    for line in stderr.splitlines():
        if "mirror session started" in line:
            try:
                at = datetime.datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ")
            except ValueError:
                return None
            return at.replace(tzinfo=datetime.timezone.utc).timestamp()
    return None


class Central(kafka_driver.Server):
    """The central server, advertising the proxy's port on its Kafka front."""

    def __init__(self, binary, data, proxy_port):
        self.port = kafka_driver.free_port()
        self.kafka_port = kafka_driver.free_port()
        args = [binary, "serve", "--data", data, "--listen", f"127.0.0.1:{self.port}", "--no-metrics",
                "--registry-listen", "off", "--durability", "always",
                "--kafka-listen", f"127.0.0.1:{self.kafka_port}", "--kafka-advertised", f"127.0.0.1:{proxy_port}"]
        self.log = open(os.path.join(os.path.dirname(data), "server.log"), "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        kafka_driver.wait_port(self.port, self.proc)
        kafka_driver.wait_port(self.kafka_port, self.proc)


def one_round(binary, work, rnd):
    case = os.path.join(work, f"wan-{rnd}")
    os.makedirs(case)
    central_dir = os.path.join(case, "central", "data")
    os.makedirs(os.path.dirname(central_dir))
    edge = os.path.join(case, "edge")
    try:
        subprocess.run(
            [binary, "bench", "--data", edge, "--topic", "mbench", "--record-bytes", "1024",
             "--batch-records", "1000", "--count", str(RECORDS), "--durability", "always", "--keep", "--json"],
            check=True, stdout=subprocess.DEVNULL,
        )
        proxy_port = kafka_driver.free_port()
        server = Central(binary, central_dir, proxy_port)
        try:
            start_proxy(proxy_port, server.kafka_port)
            t0, wall0 = time.monotonic(), time.time()
            out = subprocess.run(
                [binary, "mirror", "--data", edge, "--to", f"127.0.0.1:{proxy_port}", "--prefix", "edge.",
                 "--edge-id", f"wan{rnd}", "--topics", "mbench", "--progress-topic", "mirror_progress",
                 "--exit-when-caught-up"] + MIRROR_ARGS,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                env=dict(os.environ, RUST_LOG="warn,millrace_mirror::shard=info"),
            )
            t1, wall1 = time.monotonic(), time.time()
            if out.returncode != 0:
                raise RuntimeError(f"mirror failed: {out.stderr.decode(errors='replace')[-2000:]}")
            started = session_started(out.stderr.decode(errors="replace"))
            after = (wall1 - started) if started else None
            return {
                "round": rnd,
                "records": RECORDS,
                "delay_ms_each_way": DELAY * 1000,
                "mirror_seconds": t1 - t0,
                "mirror_records_per_s": RECORDS / (t1 - t0),
                "mirror_startup_s": (started - wall0) if started else None,
                "mirror_after_start_records_per_s": RECORDS / after if after else None,
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
    for rnd in range(ROUNDS):
        row = one_round(binary, work, rnd)
        print(f"[mirror-wan] round {rnd}: mirror {row['mirror_records_per_s']:.0f} rec/s, "
              f"after start-up {row['mirror_after_start_records_per_s']}, start-up {row['mirror_startup_s']}",
              file=sys.stderr, flush=True)
        rows.append(row)
    summary = {
        "rounds": rows,
        "median_mirror_records_per_s": statistics.median(r["mirror_records_per_s"] for r in rows),
        "median_after_start_records_per_s": statistics.median(r["mirror_after_start_records_per_s"] or 0 for r in rows),
        "loadavg_at_end": os.getloadavg(),
        "mirror_args": MIRROR_ARGS,
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if out_path:
        with open(out_path, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
