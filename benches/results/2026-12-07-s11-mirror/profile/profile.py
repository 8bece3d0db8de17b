#!/usr/bin/env python3
"""One mirror run for profiling: edge preloaded with N 1 KiB records, central serve,
mirror run with RUST_LOG debug for the mirror crate; optional server tracer.
usage: profile.py BIN WORK N OUTDIR [extra mirror args...]
env: SERVER_TRACER e.g. "strace -f -c -o {out}/server-strace.txt -p {pid}"
     MIRROR_PREFIX e.g. "strace -f -c -o {out}/mirror-strace.txt"
"""
import os, sys, subprocess, time, shutil, signal, shlex
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "kafka"))
import driver as kd
binary, work, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
extra = sys.argv[5:]
os.makedirs(out, exist_ok=True)
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work + "/central")
edge = work + "/edge"
subprocess.run([binary, "bench", "--data", edge, "--topic", "mbench", "--record-bytes", "1024",
                "--batch-records", "1000", "--count", str(n), "--durability", "always", "--keep", "--json"],
               check=True, stdout=subprocess.DEVNULL)
server = kd.Server(binary, work + "/central/data", kafka=True)
tracer = None
try:
    bootstrap = f"127.0.0.1:{server.kafka_port}"
    if os.environ.get("SERVER_TRACER"):
        cmd = os.environ["SERVER_TRACER"].format(out=out, pid=server.proc.pid)
        tracer = subprocess.Popen(shlex.split(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
    prefix = shlex.split(os.environ.get("MIRROR_PREFIX", "").format(out=out))
    env = dict(os.environ, RUST_LOG="warn,millrace_mirror=debug")
    c0, t0 = server.cpu(), time.monotonic()
    with open(out + "/mirror.log", "w") as log:
        r = subprocess.run(prefix + [binary, "mirror", "--data", edge, "--to", bootstrap, "--prefix", "edge.",
                            "--edge-id", "prof", "--topics", "mbench", "--progress-topic", "mirror_progress",
                            "--exit-when-caught-up"] + extra, stdout=subprocess.DEVNULL, stderr=log, env=env)
    t1, c1 = time.monotonic(), server.cpu()
    print(f"rc={r.returncode} mirror_s={t1-t0:.3f} rate={n/(t1-t0):.0f} server_cpu_s={c1-c0:.3f}")
finally:
    if tracer:
        tracer.send_signal(signal.SIGINT); tracer.wait()
    server.stop()
