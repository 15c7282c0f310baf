"""Stand-in for gitlab-runner, the one stand-in the tests use (the real one is not here).

Tests copy this file behind a "#!<python>" line and name it gitlab-runner. Given
`run --config CONFIG ...`, it appends JSON lines to record.jsonl beside CONFIG: a
"start" line (pid, argv, cwd, environment), one "signal" line per signal and an
"exit" line. It runs until signalled. SIGQUIT drains: it waits for its job, if one
runs, then exits 0. SIGTERM and SIGINT abort: exit 1 at once.

Like a runner picking up a job, it runs the argv held in job.json when that file
appears beside CONFIG, as its own child, and writes the job's pid and exit status
to job-result.json (its output to job-stdout.txt and job-stderr.txt).
"""

import json
import os
import signal
import subprocess
import sys
import time

received = []


def main():
    args = sys.argv[1:]
    if args[:1] != ["run"] or "--config" not in args:
        print("stand-in gitlab-runner: usage: run --config FILE", file=sys.stderr)
        return 2
    state = os.path.dirname(os.path.abspath(args[args.index("--config") + 1]))
    record(state, {"event": "start", "pid": os.getpid(), "ppid": os.getppid(),
                   "argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ)})
    for signum in (signal.SIGQUIT, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda number, frame: received.append(number))
    print(f"stand-in gitlab-runner: running (pid {os.getpid()})", file=sys.stderr, flush=True)
    return serve(state)


def serve(state):
    job = None
    draining = False
    while True:
        while received:
            name = signal.Signals(received.pop(0)).name
            record(state, {"event": "signal", "signal": name, "pid": os.getpid()})
            print(f"stand-in gitlab-runner: got {name}", file=sys.stderr, flush=True)
            if name in ("SIGTERM", "SIGINT"):
                return finish(state, 1)
            draining = draining or name == "SIGQUIT"
        if job is not None and job.poll() is not None:
            write_json(os.path.join(state, "job-result.json"),
                       {"pid": job.pid, "status": job.returncode})
            job = None
        if draining and job is None:
            return finish(state, 0)
        if job is None and not draining:
            job = start_job(state)
        time.sleep(0.05)


def start_job(state):
    path = os.path.join(state, "job.json")
    if not os.path.exists(path):
        return None
    with open(path) as fh:
        argv = json.load(fh)["argv"]
    os.unlink(path)
    out = open(os.path.join(state, "job-stdout.txt"), "w")
    err = open(os.path.join(state, "job-stderr.txt"), "w")
    job = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    record(state, {"event": "job", "pid": job.pid, "argv": argv})
    return job


def finish(state, status):
    record(state, {"event": "exit", "status": status, "pid": os.getpid()})
    return status


def record(state, entry):
    with open(os.path.join(state, "record.jsonl"), "a") as fh:
        fh.write(json.dumps(entry) + "\n")


def write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
