#!/usr/bin/env python3
"""Group perf-script samples of sys_enter_{write,epoll_wait,futex} by the
first frames that say who made the call (wakes.sh's output)."""
import collections
import re
import sys

c = collections.Counter()
total = collections.Counter()
for s in open(sys.argv[1]).read().split('\n\n'):
    lines = [l.strip() for l in s.strip().split('\n') if l.strip()]
    if not lines:
        continue
    m = re.search(r'syscalls:sys_enter_(\w+)', lines[0])
    if not m:
        continue
    ev = m.group(1)
    total[ev] += 1
    frames = [re.sub(r'\+0x[0-9a-f]+.*', '', l.split(' ', 1)[1] if ' ' in l else l) for l in lines[1:]]
    key = [f[:100] for f in frames if 'millrace' in f][:3] or [f[:100] for f in frames if 'tokio' in f][:3]
    c[(ev, ' <- '.join(key))] += 1
print("per event:", dict(total))
for (ev, k), n in c.most_common(12):
    print(f"{n:6} {ev:10} {k}")
