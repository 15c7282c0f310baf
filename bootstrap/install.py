"""init (DESIGN.md, "On the host"): unpack the build, write launchers, keys and configs.

Never starts, stops or signals a process. Every file is written to a temporary
name in its own directory and moved into place; secrets are created with their
final mode.
"""

import errno
import fcntl
import logging
import os
import shutil
import stat
import sys
import time
import zipfile
from pathlib import Path

from bootstrap import bundle, bytecode, render, sitefile
from bootstrap.errors import EXIT_USAGE, BootstrapError
from bootstrap.keys import ensure_key
from bootstrap.paths import Layout, is_socket_path_too_long

log = logging.getLogger(__name__)

LOCK_TIMEOUT = 300
LOCK_TIMEOUT_VARIABLE = "JAWS_BOOTSTRAP_LOCK_TIMEOUT"
LAUNCHERS = {
    "supervisord": "supervisord",
    "supervisorctl": "supervisorctl",
    "jaws-bootstrap": "tool",
    "jaws-standin": "standin",
}


class InstallLock:
    """An exclusive lock on an install directory, waited for at most timeout seconds.

    Re-entrant within one process, so deploy can hold it across init, apply and
    the wait. A file system without working locks fails at once with a clear
    message instead of waiting forever.
    """

    _held = {}

    def __init__(self, layout, timeout=None, optional=False):
        self.path = layout.lock
        self.timeout = timeout if timeout is not None else lock_timeout()
        self.optional = optional
        self.fd = None

    def __enter__(self):
        key = str(self.path)
        if key in InstallLock._held:
            InstallLock._held[key] += 1
            return self
        self.fd = self._open(key)
        deadline = time.monotonic() + self.timeout
        announced = False
        while not self._try_lock():
            if time.monotonic() > deadline:
                self._close()
                raise BootstrapError(f"{self.path}: another jaws-bootstrap still holds "
                                     f"the install directory after {self.timeout:.0f}s")
            if not announced:
                print(f"waiting for another jaws-bootstrap on {self.path.parent}",
                      file=sys.stderr)
                announced = True
            time.sleep(0.1)
        InstallLock._held[key] = 1
        return self

    def _open(self, path):
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o640)
        except PermissionError:
            pass
        try:
            # Another account's lock file: flock needs no write access.
            return os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except (PermissionError, FileNotFoundError):
            # Missing too: the directory would not let this account create it.
            if not self.optional:
                raise BootstrapError(f"{self.path}: this account may not open or create "
                                     "the install directory's lock") from None
        # An instance account outside the lock file's group starting its own
        # instance: it goes on unserialised, as it cannot wait for the owner's.
        log.info("%s: not ours to open; going on without it", self.path)
        return None

    def _try_lock(self):
        if self.fd is None:
            return True
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                return False
            self._close()
            raise BootstrapError(f"{self.path}: cannot lock the install directory "
                                 f"({exc.strerror}); is it on a file system "
                                 "without locks?") from None

    def __exit__(self, *exc):
        key = str(self.path)
        InstallLock._held[key] -= 1
        if not InstallLock._held[key]:
            del InstallLock._held[key]
            self._close()

    def _close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def prepare(site):
    """Check the install directory of site and create it; return its Layout."""
    layout = Layout(site["install_dir"])
    check_socket_paths(site, layout)
    make_directories(site, layout)
    return layout


def lock_timeout():
    """Return the lock wait: JAWS_BOOTSTRAP_LOCK_TIMEOUT seconds, or 300."""
    try:
        return float(os.environ.get(LOCK_TIMEOUT_VARIABLE, LOCK_TIMEOUT))
    except ValueError:
        raise BootstrapError(f"{LOCK_TIMEOUT_VARIABLE}: not a number of seconds",
                             EXIT_USAGE) from None


def init(site, build_id=None):
    """Unpack this build, write launchers, keys, configs and site.toml for site.

    Returns (layout, names of instances whose config changed). Changes nothing that
    is already right; touches no process. The build is unpacked beside the others
    but the launchers switch to it only once every config passed supervisor's
    parser, so a rejected site changes no file in use.
    """
    layout = prepare(site)
    build_id = build_id or bundle.build_id()
    with InstallLock(layout):
        make_importable(layout, build_id)
        keys = {name: ensure_key(layout, name, site) for name in site["instances"]}
        configs = {name: render.render_instance(site, name, layout, keys[name]).encode("utf-8")
                   for name in site["instances"]}
        changed = put_in_force(site, layout, configs,
                               before_swap=lambda: write_launchers(layout, build_id))
        # Every supervisord started after this finds its modules compiled.
        bytecode.finish()
    return layout, changed


def make_importable(layout, build_id=None):
    """Unpack build_id (this build by default) beside the others and import from it.

    supervisor's parser reads files of its own package, which it cannot do from
    inside the .pyz; the launchers are left as they are.
    """
    build_id = build_id or bundle.build_id()
    unpack(layout, build_id)
    activate(layout, build_id)


def check_socket_paths(site, layout):
    for name in site["instances"]:
        sock = layout.socket(name)
        if is_socket_path_too_long(sock):
            raise BootstrapError(f"install_dir: {layout.root} is too long: the control "
                                 f"socket {sock} would pass the 99-byte limit of unix "
                                 "socket paths; choose a shorter install_dir", EXIT_USAGE)


def make_directories(site, layout):
    """Create the install directory and its subdirectories with safe modes."""
    from bootstrap import safety

    safety.prepare_install_dir(site, layout)


def unpack(layout, build_id, compile_bytecode=True):
    """Unpack this build's site-packages into lib/<build id>/, once, atomically.

    With compile_bytecode, a second interpreter then compiles the modules the
    supervisords will import (bytecode.py); a copy that is soon thrown away
    goes without.
    """
    target = layout.lib_for(build_id)
    if (target / "site-packages").is_dir():
        return
    for stale in layout.lib.glob(f"{build_id}.tmp-*"):
        shutil.rmtree(str(stale), ignore_errors=True)
    tmp = layout.lib / f"{build_id}.tmp-{os.getpid()}"
    archive = bundle.archive_path()
    if archive is None and not (bundle.package_root() / "bootstrap").is_dir():
        raise BootstrapError(f"build {build_id}, which this command runs from "
                             f"({bundle.package_root()}), was removed while it waited for "
                             "the install lock: a newer build was deployed meanwhile; run "
                             f"the command again with {layout.launcher('jaws-bootstrap')} "
                             "or the newer .pyz")
    if archive is not None:
        _unpack_archive(archive, tmp)
    else:
        _copy_tree_build(tmp)
    os.rename(str(tmp), str(target))
    log.info("unpacked build %s into %s", build_id, target)
    if compile_bytecode:
        bytecode.start(target / "site-packages")


def _unpack_archive(archive, tmp):
    with zipfile.ZipFile(str(archive)) as zf:
        members = [m for m in zf.infolist() if m.filename.startswith("site-packages/")]
        zf.extractall(str(tmp), members)


def _copy_tree_build(tmp):
    """Unpack a build run from a source tree: copy the packages it imports."""
    import supervisor

    site_packages = tmp / "site-packages"
    site_packages.mkdir(parents=True)
    shutil.copytree(str(bundle.package_root() / "bootstrap"), str(site_packages / "bootstrap"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    payload = Path(__file__).resolve().parent.parent / "payload"
    if payload.is_dir() and not (site_packages / "bootstrap" / "payload").exists():
        shutil.copytree(str(payload), str(site_packages / "bootstrap" / "payload"))
    shutil.copytree(os.path.dirname(supervisor.__file__), str(site_packages / "supervisor"),
                    ignore=shutil.ignore_patterns("__pycache__", "tests"))
    if sys.version_info < (3, 11):
        import tomli

        shutil.copytree(os.path.dirname(tomli.__file__), str(site_packages / "tomli"),
                        ignore=shutil.ignore_patterns("__pycache__"))


def activate(layout, build_id):
    """Make the unpacked build importable in this process (supervisor's parser)."""
    from bootstrap import pkgshim

    path = str(layout.site_packages(build_id))
    if path not in sys.path:
        sys.path.insert(0, path)
    # supervisor reads files beside its modules, which a zip cannot give; forget
    # any part of it imported from the archive so the unpacked copy is used.
    archive = bundle.archive_path()
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None) or ""
        if name.split(".")[0] == "supervisor" and archive and origin.startswith(str(archive)):
            del sys.modules[name]
    pkgshim.install()


# -IS: proc.ISOLATED, in the one word a #! line passes on.
LAUNCHER = """#!{python} -IS
# Written by jaws-bootstrap: runs {what} from build {build_id}.
# Works without the .pyz; run it as "{python} -I {path} ..." where /tmp is noexec.
import sys
sys.path.insert(0, {site_packages!r})
from bootstrap.launch import {function}
sys.exit({function}())
"""


def write_launchers(layout, build_id):
    """Write bin/ launchers that run this build with this Python; switch them atomically."""
    for name, function in LAUNCHERS.items():
        path = layout.launcher(name)
        text = LAUNCHER.format(python=sys.executable, what=name, build_id=build_id,
                               site_packages=str(layout.site_packages(build_id)),
                               function=function, path=path)
        write_atomic(path, text.encode("utf-8"), 0o755)


def put_in_force(site, layout, configs, before_swap=None):
    """Check configs ({instance: bytes}) and make them and site the set in force.

    Every changed config is checked with supervisor's parser before any is
    replaced, so a rejected one leaves every file as it was; before_swap runs
    between the check and the swap. A good set that is replaced goes to previous/.
    Returns the names of the instances whose config changed.
    """
    from bootstrap import pkgshim, previous

    changed = {n: t for n, t in configs.items() if read_or_none(layout.config(n)) != t}
    site_text = sitefile.dump_site(site).encode("utf-8")
    staged = {}
    try:
        pkgshim.install()
        for name, text in changed.items():
            staged[name] = _stage_checked(site, layout, name, text)
        if before_swap is not None:
            before_swap()
        if changed or read_or_none(layout.site) != site_text:
            previous.keep_current(layout)
        for name, tmp in staged.items():
            os.replace(str(tmp), str(layout.config(name)))
            log.info("wrote %s", layout.config(name))
        staged = {}
    finally:
        for tmp in staged.values():
            _unlink(tmp)
    write_atomic(layout.site, site_text, 0o644)
    write_site_index(layout, site)
    return sorted(changed)


def write_site_index(layout, site):
    """Write site.json: the resolved site for quick.py, tied to this site.toml's version."""
    import json

    from bootstrap import siteindex

    index = {"site_toml": siteindex.file_signature(str(layout.site)), "site": site}
    text = json.dumps(index, indent=1) + "\n"
    write_atomic(layout.root / siteindex.SITE_INDEX, text.encode("utf-8"), 0o644)


def _stage_checked(site, layout, name, text):
    tmp = stage_file(layout.config(name), text, 0o640,
                     group=site["instances"][name]["control_group"])
    try:
        render.check_config(tmp, shown=layout.config(name))
    except BaseException:
        _unlink(tmp)
        raise
    return tmp


def read_or_none(path):
    """Return the bytes of path, or None if there is no such file."""
    try:
        with open(str(path), "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def stage_file(path, data, mode, group=None):
    """Write data to a new temporary file beside path, with mode; return its path."""
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    _unlink(tmp)
    fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        # The group first, then the mode, then the data: no other group ever
        # sees a config's key.
        if group is not None and not _set_group(fd, group, tmp):
            mode &= ~0o070
        # The umask may have taken bits off; set the mode before any data is in.
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        _unlink(tmp)
        raise
    return tmp


def write_atomic(path, data, mode, group=None):
    """Replace path with data, atomically, with mode; do nothing if it is already so."""
    if read_or_none(path) == data and stat.S_IMODE(os.stat(str(path)).st_mode) == mode:
        return False
    tmp = stage_file(path, data, mode, group)
    os.replace(str(tmp), str(path))
    log.info("wrote %s", path)
    return True


def _set_group(fd, group, path):
    import grp

    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        return False
    if os.fstat(fd).st_gid != gid:
        try:
            os.fchown(fd, -1, gid)
        except PermissionError:
            log.info("cannot give %s to group %s; only this account may read it",
                     path, group)
            return False
    return True


def _unlink(path):
    try:
        os.unlink(str(path))
    except FileNotFoundError:
        pass
