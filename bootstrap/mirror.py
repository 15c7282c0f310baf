"""supervisorctl's verbs across both instances (DESIGN.md, "Commands").

status answers over supervisor's own XML-RPC transport without loading
supervisorctl; the other verbs run the bundled supervisorctl itself.
"""

import errno
import socket
import sys
import xmlrpc.client

from bootstrap import rpc
from bootstrap.errors import EXIT_NOT_RUNNING, EXIT_OK, EXIT_UNREACHABLE, worst

# supervisor.states.STOPPED_STATES, by name.
STOPPED_STATE_NAMES = ("STOPPED", "EXITED", "FATAL", "UNKNOWN")


def fetch_statuses(layout, names):
    """Return {instance: list of process infos, or an error text if unreachable}."""
    result = {}
    for name in names:
        try:
            result[name] = rpc.server_proxy(layout, name).supervisor.getAllProcessInfo()
        except (OSError, xmlrpc.client.Error, rpc.BootstrapError) as exc:
            result[name] = unreachable_text(layout, name, exc)
    return result


def unreachable_text(layout, name, exc):
    url = f"unix://{layout.socket(name)}"
    code = exc.args[0] if isinstance(exc, socket.error) and exc.args else None
    if code == errno.ENOENT:
        return f"{url} no such file"
    if code == errno.ECONNREFUSED:
        return f"{url} refused connection"
    return f"{url}: {exc}"


def format_status_lines(infos):
    """Return supervisorctl's status lines for infos, in its own layout."""
    specs = [f"{i['group']}:{i['name']}" if i["group"] != i["name"] else i["name"]
             for i in infos]
    width = max([30] + [len(s) for s in specs]) + 3
    return [f"{spec:<{width}}{info['statename']:<10}{info['description']}"
            for spec, info in zip(specs, infos)]


def status(layout, names, out=None):
    """Print every program's status on each named instance; return the exit status."""
    out = out or sys.stdout
    statuses = fetch_statuses(layout, names)
    width = max(len(n) for n in names)
    codes = []
    for name, infos in statuses.items():
        if isinstance(infos, str):
            print(f"{name:<{width}}  {infos}", file=sys.stderr)
            codes.append(EXIT_UNREACHABLE)
            continue
        for line in format_status_lines(infos):
            out.write(f"{name:<{width}}  {line}\n")
        stopped = any(i["statename"] in STOPPED_STATE_NAMES for i in infos)
        codes.append(EXIT_NOT_RUNNING if stopped else EXIT_OK)
    return worst(codes)
