"""Programs left behind by a supervisord that was killed (DESIGN.md, "Commands": up).

A supervisord killed with SIGKILL leaves its programs running, adopted by init; a
new supervisord would start second copies beside them. supervisord puts its own
control URL, SUPERVISOR_SERVER_URL, in the environment of every program it
starts, so /proc finds them. Only called when that supervisord is gone; never
touches this process or its ancestors (a CI job may run under a supervised runner).
"""

import logging
import os
import signal
import time

from bootstrap import procfs

log = logging.getLogger(__name__)

DEFAULT_STOPSIGNAL = "TERM"
DEFAULT_STOPWAITSECS = 10
POLL = 0.1


def stop_orphans(site, layout, instance):
    """Stop the programs instance's dead supervisord left running; return their pids.

    Each gets its program's stopsignal and stopwaitsecs as supervisord would
    give them; what still runs after that is killed.
    """
    url = f"unix://{layout.socket(instance)}"
    tops = top_processes(find_marked(url))
    if not tops:
        return []
    deadline = 0.0
    for pid, program in tops.items():
        options = program_options(site, instance, program)
        _signal(pid, options["stopsignal"], options["stopasgroup"])
        deadline = max(deadline, options["stopwaitsecs"])
    deadline += time.monotonic()
    while _unsupervised(find_marked(url)) and time.monotonic() < deadline:
        time.sleep(POLL)
    for pid in _unsupervised(find_marked(url)):
        _signal(pid, "KILL", False)
    return sorted(tops)


def _unsupervised(marked):
    """Return the marked pids no running supervisord is an ancestor of."""
    return [pid for pid in marked
            if not any(_is_supervisord(p) for p in procfs.ancestors(pid)[1:])]


def find_marked(url):
    """Return {pid: (program, parent pid)} of live processes that url's supervisord began."""
    marker = f"SUPERVISOR_SERVER_URL={url}"
    spared = set(procfs.ancestors(os.getpid()))
    found = {}
    for entry in procfs.pids():
        if entry in spared:
            continue
        env = procfs.strings(entry, "environ")
        if env is None or marker not in env:
            continue
        program = next((item.split("=", 1)[1] for item in env
                        if item.startswith("SUPERVISOR_PROCESS_NAME=")), "")
        parent = procfs.parent(entry)
        if parent is not None:
            found[entry] = (program, parent)
    return found


def top_processes(marked):
    """Return {pid: program} of the marked processes whose parent is not marked too.

    One whose parent is a supervisord is no orphan: that supervisord still runs
    it, whatever has become of its pid file and socket.
    """
    return {pid: program for pid, (program, parent) in marked.items()
            if parent not in marked and not _is_supervisord(parent)}


def _is_supervisord(pid):
    argv = procfs.strings(pid, "cmdline") or []
    return any(os.path.basename(arg) == "supervisord" for arg in argv[:6])


def program_options(site, instance, program):
    """Return the stop options of program, from the site or supervisord's defaults."""
    from bootstrap import names

    options = dict(site["instances"][instance]["programs"].get(program, {}))
    runner = site.get("runner")
    if program == names.RUNNER_PROGRAM and runner and runner.get("instance") == instance:
        from bootstrap import render

        options = render.runner_options(runner)
    return {
        "stopsignal": str(options.get("stopsignal", DEFAULT_STOPSIGNAL)),
        "stopwaitsecs": float(options.get("stopwaitsecs", DEFAULT_STOPWAITSECS)),
        "stopasgroup": bool(options.get("stopasgroup", False)),
    }


def _signal(pid, name, as_group):
    name = name.upper()
    number = int(name) if name.isdigit() else getattr(signal, "SIG" + name, signal.SIGTERM)
    try:
        if as_group:
            # supervisord makes each program the leader of its own process group.
            os.killpg(pid, number)
        else:
            os.kill(pid, number)
        log.info("sent SIG%s to pid %d, left by a killed supervisord", name, pid)
    except OSError:
        pass
