#!/usr/bin/env python3
# Probe: what a runmailer-pg pass allocates, read off the garbage collector's own log
# (BUN_JSC_logGC=1). Each collection logs the heap's size when it starts and when it ends; what was
# allocated in between is the next one's start less this one's end. The worker runs on a fresh
# PostgreSQL database against postfix's smtp-sink; first N messages are committed 40 ms apart (N
# passes that send one message each), then N bare NOTIFYs (N passes that find nothing). Allocation
# is what makes collections, and a collection inside a message's path is part of the latency tail.
# Not timing: the figures hold on a busy machine too.
#
#   python3 scripts/bench/probes/pass-alloc.py BINARY [N=300] [DATABASE_URL_OF_SERVER]
# prints kB allocated per pass of each kind, and the collections counted.
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

binary = os.path.abspath(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
server = sys.argv[3] if len(sys.argv) > 3 else "postgres://postgres@127.0.0.1:5432"
name = f"pass_alloc_{os.getpid()}"
psql = ["psql", server + "/postgres", "-q", "-v", "ON_ERROR_STOP=1"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


port = free_port()
sink = subprocess.Popen(["/usr/sbin/smtp-sink", "-u", "postfix", f"127.0.0.1:{port}", "100"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
subprocess.run(psql + ["-c", f"create database {name}"], check=True)
worker = None
try:
    url = f"{server}/{name}"
    directory = tempfile.mkdtemp(prefix="pass-alloc-")
    with open(os.path.join(directory, "mailer.toml"), "w") as f:
        f.write(f'[database]\nurl = "{url}"\n[backend]\nhost = "127.0.0.1"\nport = {port}\n')
    subprocess.run([binary, "migrate"], cwd=directory, check=True, capture_output=True)
    env = dict(os.environ, BUN_JSC_logGC="1")
    worker = subprocess.Popen([binary, "runmailer-pg"], cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines = []
    threading.Thread(target=lambda: lines.extend(worker.stderr), daemon=True).start()
    time.sleep(3)

    def allocated_since(mark):
        """kB allocated between the collections logged after `mark`, and how many there were."""
        total, end, collections = 0, None, 0
        for i, line in enumerate(list(lines)):
            start = re.search(r"START \w+ (\d+)kb", line)
            if start and i >= mark:
                collections += 1
                if end is not None:
                    total += int(start.group(1)) - end
            done = re.search(r"=> (\d+)kb, p=", line)
            if done:
                end = int(done.group(1))
        return total, collections

    def phase(statement):
        mark = len(lines)
        script = "".join(statement(i) + "select pg_sleep(0.04);\n" for i in range(n))
        subprocess.run(["psql", url, "-q", "-v", "ON_ERROR_STOP=1"], input=script, text=True, check=True, stdout=subprocess.DEVNULL)
        time.sleep(1)
        return allocated_since(mark)

    message = lambda i: (
        "insert into mailer_message (message_data, message_id, subject, envelope_from, envelope_to) values "
        f"(convert_to(E'Subject: probe\\r\\nMessage-ID: <{i}.probe@example.test>\\r\\n\\r\\nhello {i}\\r\\n', 'UTF8'), "
        f"'<{i}.probe@example.test>', 'probe', 'app@example.test', 'user@example.test');\n"
    )
    sent_kb, sent_gcs = phase(message)
    empty_kb, empty_gcs = phase(lambda i: "select pg_notify('mailer_new_message', '0');\n")
    delivered = subprocess.run(["psql", url, "-Atc", "select count(*) from mailer_messagelog where result = 'success'"], capture_output=True, text=True).stdout.strip()
    print(f"{binary}: a pass sending one message allocated {sent_kb / n:.0f} kB ({sent_gcs} collections over {n} passes, {delivered} delivered); "
          f"a pass finding nothing {empty_kb / n:.0f} kB ({empty_gcs} collections)")
finally:
    if worker:
        worker.terminate()
        worker.wait()
    sink.terminate()
    subprocess.run(psql + ["-c", f"drop database if exists {name}"])
