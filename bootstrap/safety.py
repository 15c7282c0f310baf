"""Install-directory safety (DESIGN.md, "Security model"): /tmp is shared.

An install directory is checked whole, its ancestors included, before anything
is created in it; a refused one is left exactly as it was. Directories are
created without following symlinks and get their final owner group and mode from
an open descriptor. Never removes anything, never chmods what it did not create.
"""

import functools
import grp
import logging
import os
import pwd
import stat
from pathlib import Path

from bootstrap.accounts import check_accounts, gid_of, uid_of
from bootstrap.errors import EXIT_USAGE, BootstrapError

log = logging.getLogger(__name__)

# Modes of what init creates. run/ and logs/ take files from each instance's
# account: group-writable for the control group, setgid so that sockets and pid
# files stay in that group, sticky so that one account cannot remove another's.
SHARED_WRITABLE = 0o3770
DIR_MODES = {"root": 0o755, "bin": 0o755, "lib": 0o755, "run": SHARED_WRITABLE,
             "logs": SHARED_WRITABLE, "previous": 0o700, "keys": 0o751}
INSTANCE_LOGS_MODE = 0o2770
ADVICE = "remove it or choose another install_dir"


class Accounts:
    """Who may own and write what in one install directory of a site."""

    def __init__(self, site, for_use=False):
        self.euid = os.geteuid()
        self.trusted = {self.euid}
        self.instance_uids = {}
        self.instance_gids = {}
        for name, table in site["instances"].items():
            self.instance_uids[name] = uid_of(table["user"])
            self.instance_gids[name] = gid_of(table["control_group"])
        first = next(iter(site["instances"].values()))
        # run/ and logs/ can have one group only: the control group of the first
        # instance, which every instance's account must belong to (check says so).
        self.shared_gid = gid_of(first["control_group"])
        if for_use and self.euid != 0:
            # Using an install (not creating one), an account trusts root and the
            # accounts whose services it controls; root trusts only itself.
            self.trusted |= {0} | {u for u in self.instance_uids.values() if u is not None}

    def owners(self, relative):
        """Return the uids that may own the entry at relative (a tuple of names)."""
        allowed = set(self.trusted)
        if relative[:1] in (("run",), ("logs",)):
            allowed |= {uid for uid in self.instance_uids.values() if uid is not None}
        return allowed

    def writer_gids(self):
        return {gid for gid in self.instance_gids.values() if gid is not None}


def refuse(path, why):
    """Return the BootstrapError (status 2) that refuses path for reason why."""
    return BootstrapError(f"{path}: {why}; refusing to use it as an install directory "
                          f"({ADVICE})", EXIT_USAGE)


def check_ancestors(root, trusted=None):
    """Refuse an install directory whose parents another account could change.

    A parent that is a symbolic link is checked where it leads, too.
    trusted: the uids that may own a parent, root and this account by default.
    """
    trusted = {0, os.geteuid()} if trusted is None else trusted
    root = Path(os.path.abspath(str(root)))
    for path in sorted({root, Path(os.path.realpath(str(root)))}):
        for parent in reversed(path.parents):
            _check_parent(root, parent, trusted)


def _check_parent(root, parent, trusted):
    st = os.lstat(str(parent)) if os.path.lexists(str(parent)) else None
    if st is None:
        return
    if st.st_uid not in trusted:
        raise refuse(root, f"its parent {parent} belongs to another account "
                           f"({name_of_uid(st.st_uid)})")
    if stat.S_ISLNK(st.st_mode):
        return
    shared = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if shared and not st.st_mode & stat.S_ISVTX:
        raise refuse(root, f"its parent {parent} is writable by other accounts and "
                           "not sticky, so they could replace it")


def check_install_dir(layout, site=None, for_use=False, program_logs=True):
    """Refuse an install directory, or anything in it, that another account controls.

    Walks the whole tree without following symlinks: a symlink anywhere, an entry
    owned by an account that has no business there, or one writable by accounts
    other than its owner and a control group is refused. Changes nothing. With
    for_use, the install is one to run code from, not to write: see Accounts.
    Without program_logs, the files inside logs/INSTANCE/ are not looked at (a
    command that starts no supervisord opens none of them; a service's own
    "current" symlink there must not lock operators out of down).
    """
    root = Path(layout.root)
    accounts = Accounts(site, for_use) if site is not None else None
    check_ancestors(root, {0} | accounts.trusted if accounts else None)
    try:
        check_entry(root, (), os.lstat(str(root)), accounts)
    except FileNotFoundError:
        return
    except PermissionError:
        raise refuse(root, "this account may not look at it") from None
    for dirpath, dirnames, filenames in os.walk(str(root)):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            relative = path.relative_to(root).parts
            if not program_logs and len(relative) > 2 and relative[0] == "logs":
                dirnames[:] = []
                break
            try:
                check_entry(path, relative, os.lstat(str(path)), accounts)
            except FileNotFoundError:
                continue


def check_entry(path, relative, st, accounts):
    """Refuse one entry of an install directory; see check_install_dir."""
    if stat.S_ISLNK(st.st_mode):
        raise refuse(path, "is a symbolic link")
    if not relative and not stat.S_ISDIR(st.st_mode):
        raise refuse(path, "exists and is not a directory")
    owners = accounts.owners(relative) if accounts else {os.geteuid()}
    if st.st_uid not in owners:
        raise refuse(path, f"belongs to another account ({name_of_uid(st.st_uid)})")
    if st.st_mode & stat.S_IWOTH and not stat.S_ISSOCK(st.st_mode):
        raise refuse(path, f"is writable by every account (mode "
                           f"{stat.S_IMODE(st.st_mode):04o})")
    writers = accounts.writer_gids() if accounts else set()
    if st.st_mode & stat.S_IWGRP and st.st_gid not in writers | _private_gids(st.st_uid):
        raise refuse(path, f"is writable by group {_name_of_gid(st.st_gid)}, which is "
                           "not a control group")


def check_dir(path):
    """Raise BootstrapError if path exists and is not a safe directory of ours."""
    try:
        st = os.lstat(str(path))
    except FileNotFoundError:
        return
    check_entry(Path(path), (), st, None)


@functools.lru_cache(maxsize=64)
def _private_gids(uid):
    # A user private group (umask 002 systems) holds only its account.
    try:
        account = pwd.getpwuid(uid)
        group = grp.getgrgid(account.pw_gid)
    except KeyError:
        return set()
    return {group.gr_gid} if set(group.gr_mem) <= {account.pw_name} else set()


def name_of_uid(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _name_of_gid(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return f"gid {gid}"


def prepare_install_dir(site, layout):
    """Check the install directory whole, then create what is missing, safely.

    Raises BootstrapError (status 2) and changes nothing when anything is refused.
    """
    check_accounts(site)
    check_install_dir(layout, site)
    accounts = Accounts(site)
    for name, mode in DIR_MODES.items():
        path = layout.root if name == "root" else getattr(layout, name)
        make_dir(path, mode, None if name in ("root", "bin", "lib") else accounts.shared_gid)
    for instance in site["instances"]:
        make_dir(layout.program_logs(instance), INSTANCE_LOGS_MODE,
                 accounts.instance_gids[instance])


def make_dir(path, mode, gid=None):
    """Create directory path with mode and group gid, or check the one that is there.

    Never follows a symlink: an existing entry is checked, not changed. Where the
    group cannot be given (not a member), the group loses write access instead.
    """
    path = Path(path)
    try:
        os.mkdir(str(path), 0o700)
    except PermissionError:
        raise BootstrapError(f"{path}: this account may not create it; choose an "
                             "install_dir in a directory it can write", EXIT_USAGE) from None
    except FileExistsError:
        # check_install_dir has judged it whole; what is left is another account
        # putting something in its place since then.
        st = os.lstat(str(path))
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            raise refuse(path, "is a symbolic link or not a directory") from None
        if st.st_uid != os.geteuid() or st.st_mode & stat.S_IWOTH:
            raise refuse(path, "was replaced by another account while being checked")
        return False
    except FileNotFoundError:
        make_dir(path.parent, 0o755)
        return make_dir(path, mode, gid)
    fd = os.open(str(path), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        if gid is not None and not give_gid(fd, gid, path):
            mode &= ~stat.S_IWGRP
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    log.info("created directory %s (mode %04o)", path, mode)
    return True


def give_gid(fd, gid, path):
    """Give the open file fd to group gid; return False (and warn) if not allowed."""
    if os.fstat(fd).st_gid == gid:
        return True
    try:
        os.fchown(fd, -1, gid)
    except PermissionError:
        log.warning("%s: cannot give it to group %s (this account is not a member); "
                    "only this account can use it", path, _name_of_gid(gid))
        return False
    return True
