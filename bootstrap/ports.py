"""An instance's inet port (DESIGN.md, "Security model"): free, ours, or whose.

supervisord refuses to start on a port another process listens on, and says only
"Another program is already listening". Before any supervisord is started, up and
deploy ask here, so the error names the instance, the key, the address and the
process that holds it, and no instance is left half started.
"""

import errno
import os
import socket

from bootstrap import procfs
from bootstrap.errors import BootstrapError

# How much of a holder's command line an error shows.
COMMAND_SHOWN = 60


def split_inet(inet):
    """Return (host, port number) of a checked inet setting; no host is every address."""
    from bootstrap.sitecheck import split_inet as split

    host, _, port = split(inet)
    return host or "0.0.0.0", int(port)


def problem(host, port):
    """Return None if host:port can be bound now, else the errno that stops it."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, 0, socket.SOCK_STREAM)[0]
    except socket.gaierror:
        return errno.EADDRNOTAVAIL
    probe = socket.socket(family, kind, proto)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
    except OSError as exc:
        return exc.errno
    finally:
        probe.close()
    return None


def held_by_instance(layout, name, port):
    """Return True if name's supervisord listens on port, None if it cannot be told.

    None when a supervisord runs whose descriptors this account may not read (one
    of another account); False when none runs or it listens elsewhere.
    """
    from bootstrap import instances

    pid = instances.supervisord_pid(layout, name)
    if pid is None:
        return False
    listening = procfs.tcp_ports_listening(pid)
    if listening is None:
        return None
    return port in listening


def holder_text(port):
    """Return " by pid N (command)" for the process listening on port, or ""."""
    for pid in procfs.listeners(port):
        command = " ".join(" ".join(procfs.strings(pid, "cmdline") or []).split())
        if len(command) > COMMAND_SHOWN:
            command = command[:COMMAND_SHOWN - 3] + "..."
        return f" by pid {pid} ({command})" if command else f" by pid {pid}"
    return ""


def busy(site, layout, names):
    """Return {instance: sentence} for each named instance whose inet port it cannot bind.

    A port its own running supervisord listens on is fine, and so is one held by a
    supervisord this account cannot look into.
    """
    found = {}
    for name in names:
        inet = site["instances"][name].get("inet")
        if not inet:
            continue
        host, port = split_inet(inet)
        error = problem(host, port)
        if error is None or (error == errno.EADDRINUSE
                             and held_by_instance(layout, name, port) is not False):
            continue
        if error == errno.EADDRINUSE:
            found[name] = f"instances.{name}.inet: {inet} is in use{holder_text(port)}"
        else:
            found[name] = (f"instances.{name}.inet: {inet} cannot be bound: "
                           f"{os.strerror(error)}")
    return found


def refuse_busy(site, layout, names, outcome):
    """Raise BootstrapError naming every port busy() finds; outcome ends the sentence."""
    found = busy(site, layout, names)
    if found:
        raise BootstrapError("; ".join(found.values()) + f"; {outcome}")
