"""The accounts of a site (DESIGN.md, "Security model"): who runs and who controls.

Reads the account and group databases and file modes; changes nothing.
"""

import grp
import os
import pwd
import stat
import sys

from bootstrap.errors import EXIT_USAGE, BootstrapError


def uid_of(user):
    try:
        return pwd.getpwnam(user).pw_uid
    except (KeyError, ValueError):
        return None


def gid_of(group):
    try:
        return grp.getgrnam(group).gr_gid
    except (KeyError, ValueError):
        return None


def check_accounts(site, source=None):
    """Refuse a site whose accounts or groups are missing or cannot share run/.

    Messages name source, by default the file the site was read from.
    """
    from bootstrap.sitefile import source_of

    source = source or source_of(site)
    shared = next(iter(site["instances"].values()))["control_group"]
    for name, table in site["instances"].items():
        where = f"{source}: instances.{name}"
        user, group = table["user"], table["control_group"]
        uid = uid_of(user)
        if uid is None:
            raise BootstrapError(f'{where}.user: no account "{user}" on this host', EXIT_USAGE)
        if gid_of(group) is None:
            raise BootstrapError(f'{where}.control_group: no group "{group}" on this host',
                                 EXIT_USAGE)
        if uid == os.geteuid():
            continue
        python = os.path.realpath(sys.executable)
        closed = execute_problem(python, user)
        if closed:
            raise BootstrapError(
                f'{where}.user: account "{user}" cannot run this Python ({python}: '
                f"{closed}), which its supervisord and launchers use; run jaws-bootstrap "
                "with a Python every instance's account can run, e.g. /usr/bin/python3",
                EXIT_USAGE)
        # supervisord, once it runs as user, writes its socket, pid file and logs
        # through these groups and gives the socket to the control group.
        for needed in (group, shared):
            if not is_member(user, needed):
                raise BootstrapError(
                    f'{where}.user: account "{user}" is not in group "{needed}", so its '
                    f"supervisord could not write its socket and logs; add it "
                    f"(usermod -aG {needed} {user}) or change the site", EXIT_USAGE)


def is_member(user, group):
    """Return True if account user belongs to group, as primary or extra group."""
    try:
        entry = grp.getgrnam(group)
        return pwd.getpwnam(user).pw_gid == entry.gr_gid or user in entry.gr_mem
    except (KeyError, ValueError):
        return False


def identity(user):
    """Return (uid, set of gids) of account user."""
    entry = pwd.getpwnam(user)
    gids = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    return entry.pw_uid, gids


def execute_problem(path, user):
    """Return why account user cannot execute path, or None if it can.

    Looks at the mode bits of path and of every directory above it, as the kernel
    would for that account (ACLs aside).
    """
    uid, gids = identity(user)
    path = os.path.abspath(path)
    parts = [os.path.dirname(path)]
    while parts[-1] != os.path.dirname(parts[-1]):
        parts.append(os.path.dirname(parts[-1]))
    for directory in reversed(parts):
        if not _allows(os.stat(directory), uid, gids, stat.S_IXUSR):
            return f"{directory} is closed to it"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "no such file"
    if not _allows(st, uid, gids, stat.S_IXUSR):
        return "not executable by it"
    return None


def _allows(st, uid, gids, user_bit):
    """Return True if mode bit user_bit (or its group/other twin) lets uid in."""
    if uid == 0:
        return user_bit != stat.S_IXUSR or bool(st.st_mode & 0o111)
    if st.st_uid == uid:
        return bool(st.st_mode & user_bit)
    if st.st_gid in gids:
        return bool(st.st_mode & (user_bit >> 3))
    return bool(st.st_mode & (user_bit >> 6))
