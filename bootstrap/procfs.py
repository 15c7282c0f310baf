"""What /proc says about processes: their command lines, environments and parents.

Reads only. A process that is gone, or that this account may not look at, reads
as None (or as no parent), never as an error.
"""

import os


def pids():
    """Return the pids of every process on the host."""
    try:
        return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return []


def strings(pid, name):
    """Return the NUL-separated strings of /proc/<pid>/<name> (cmdline, environ), or None."""
    try:
        with open(f"/proc/{pid}/{name}", "rb") as fh:
            return fh.read().decode("utf-8", "replace").split("\0")
    except OSError:
        return None


def parent(pid):
    """Return pid's parent pid, or None if pid is gone or a zombie."""
    fields = _stat(pid)
    return None if not fields or fields[0] == "Z" else int(fields[1])


def state(pid):
    """Return pid's state letter (R, S, D, T, t, Z, ...), or None if it is gone."""
    fields = _stat(pid)
    return fields[0] if fields else None


def _stat(pid):
    """Return the fields of /proc/<pid>/stat after the command name, or None."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            # The command name in parentheses may hold spaces and ")".
            return fh.read().rsplit(")", 1)[1].split() or None
    except (OSError, IndexError):
        return None


def ancestors(pid):
    """Return pid and its parents' pids up to, not including, init."""
    chain = []
    while pid and pid > 1 and pid not in chain:
        chain.append(pid)
        pid = parent(pid)
    return chain


def tcp_ports_listening(pid):
    """Return the TCP ports pid listens on, or None if its descriptors are out of reach."""
    sockets = _socket_inodes(pid)
    if sockets is None:
        return None
    return {port for port, inode in _listening() if inode in sockets}


def listeners(port):
    """Return the pids, among those this account may look into, listening on port."""
    inodes = {inode for found, inode in _listening() if found == port}
    if not inodes:
        return []
    return [pid for pid in pids() if inodes & (_socket_inodes(pid) or set())]


def _socket_inodes(pid):
    """Return the inodes of pid's open sockets, or None if out of reach."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    inodes = set()
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:["):-1])
    return inodes


def _listening():
    """Return (port, socket inode) of every listening TCP socket, IPv4 and IPv6."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                rows = [row.split() for row in fh.read().splitlines()[1:]]
        except OSError:
            continue
        # Columns: slot, local address:port (hex), remote, state (0A: LISTEN), ..., inode.
        found.extend((int(row[1].rsplit(":", 1)[1], 16), row[9]) for row in rows
                     if len(row) > 9 and row[3] == "0A")
    return found
