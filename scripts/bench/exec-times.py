#!/usr/bin/env python3
# Start-up times taken from outside JavaScript: each command is posix_spawn()ed and waited for, timed
# with the monotonic clock around exactly that, so no JS event loop or Bun.spawn overhead lands in
# the figure (issue 18: the bench used to time its own Bun.spawn, ~60 ms more than the command).
# Commands run interleaved, after one unmeasured warm-up each.
#
#   python3 scripts/bench/exec-times.py '{"reps": 20, "commands": [{"name": "v", "argv": ["/bin/true"],
#                                          "env": {...}, "stdin": "/path/or/null"}]}'
# prints {"v": [ms, ms, ...], ...}; a command that exits non-zero stops the run (exit 1, named on stderr).
import json
import os
import sys
import time

spec = json.loads(sys.argv[1])


def once(command):
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, command.get("stdin") or "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0),
    ]
    started = time.perf_counter_ns()
    pid = os.posix_spawn(command["argv"][0], command["argv"], command["env"], file_actions=actions)
    _, status = os.waitpid(pid, 0)
    elapsed = (time.perf_counter_ns() - started) / 1e6
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.stderr.write(f"{command['name']}: {' '.join(command['argv'])} exited {code}\n")
        sys.exit(1)
    return elapsed


times = {c["name"]: [] for c in spec["commands"]}
for command in spec["commands"]:
    once(command)
for _ in range(spec["reps"]):
    for command in spec["commands"]:
        times[command["name"]].append(round(once(command), 3))
print(json.dumps(times))
