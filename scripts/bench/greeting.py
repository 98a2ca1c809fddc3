#!/usr/bin/env python3
# How long an SMTP server takes to greet: connect, then wait for its first reply line (the 220), then
# QUIT. Timed from outside JavaScript, one connection at a time.
#
#   python3 scripts/bench/greeting.py 127.0.0.1 2525 200    -> [ms, ms, ...]
import json
import socket
import sys
import time

host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
times = []
for _ in range(count):
    started = time.perf_counter_ns()
    with socket.create_connection((host, port)) as s:
        line = s.makefile("rb").readline()
        times.append(round((time.perf_counter_ns() - started) / 1e6, 3))
        if not line.startswith(b"220"):
            sys.stderr.write(f"greeting was {line!r}\n")
            sys.exit(1)
        s.sendall(b"QUIT\r\n")
print(json.dumps(times))
