"""The quick `status` behind fast.main (DESIGN.md, "Performance targets").

Skips the command line, argparse, the TOML reader and xmlrpc.client: reads the
instance names from site.json (which init writes beside site.toml), asks every
instance at once with quickcall.py, and returns what mirror.status prints for all
programs. Returns None for anything it does not handle (no or stale site.json, an
instance that does not answer, a fault), so that the full command line does it
again and says why. Never writes a file.
"""

import json
import os

from bootstrap import procfs
from bootstrap.errors import EXIT_NOT_RUNNING, EXIT_OK, worst
from bootstrap.quickcall import NotQuick, read_answer, send_request
from bootstrap.siteindex import SITE_INDEX, file_signature
from bootstrap.statusline import STOPPED_STATE_NAMES, format_status_lines

# Whatever goes wrong here, the full command line meets it again and says why.
FAILURES = (NotQuick, OSError, ValueError, LookupError, TypeError, AttributeError)


def answer(root, chosen):
    """Return (status text, exit status) of every program, or None to leave it to cli."""
    try:
        return status_text(root, chosen)
    except FAILURES:
        return None


def status_text(root, chosen):
    """Return (status text, exit status) as mirror.status has them for every program."""
    names = instance_names(root, chosen)
    refuse_stopped(root, names)
    answers = ask_all(root, names)
    width = max(len(name) for name in names)
    parts, codes = [], []
    for name in names:
        infos = answers[name]
        parts += [f"{name:<{width}}  {line}\n" for line in format_status_lines(infos)]
        stopped = any(info["statename"] in STOPPED_STATE_NAMES for info in infos)
        codes.append(EXIT_NOT_RUNNING if stopped else EXIT_OK)
    return "".join(parts), worst(codes)


def instance_names(root, chosen):
    """Return the instances to ask, from site.json if it still matches site.toml."""
    with open(os.path.join(root, SITE_INDEX), "rb") as fh:
        index = json.loads(fh.read().decode("utf-8"))
    if index.get("site_toml") != file_signature(os.path.join(root, "site.toml")):
        raise NotQuick("site.toml changed since init wrote site.json")
    names = list(index["site"]["instances"])
    if chosen is None:
        return names
    if chosen not in names:
        raise NotQuick(f"no instance {chosen}")
    return [chosen]


def refuse_stopped(root, names):
    """Leave it to cli if a supervisord is stopped (SIGSTOP): asking would wait in vain."""
    for name in names:
        try:
            with open(os.path.join(root, "run", f"supervisord-{name}.pid"), "rb") as fh:
                pid = int(fh.read())
        except (OSError, ValueError):
            continue
        if procfs.state(pid) in ("T", "t"):
            raise NotQuick(f"supervisord of instance {name} is stopped")


def ask_all(root, names):
    """Return {instance: getAllProcessInfo()}, every instance asked before any is read."""
    sockets = {}
    try:
        for name in names:
            with open(os.path.join(root, "keys", f"{name}.key")) as fh:
                key = fh.read().strip()
            socket_path = os.path.join(root, "run", f"supervisord-{name}.sock")
            sockets[name] = send_request(socket_path, name, key,
                                         "supervisor.getAllProcessInfo")
        return {name: read_answer(sock) for name, sock in sockets.items()}
    finally:
        for sock in sockets.values():
            sock.close()
