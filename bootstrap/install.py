"""init (DESIGN.md, "On the host"): unpack the build, write launchers, keys and configs.

Never starts, stops or signals a process. Every file is written to a temporary
name in its own directory and moved into place; secrets are created with their
final mode.
"""

import errno
import fcntl
import logging
import os
import secrets
import shutil
import stat
import sys
import time
import zipfile
from pathlib import Path

from bootstrap import bundle, render, sitefile
from bootstrap.errors import EXIT_USAGE, BootstrapError
from bootstrap.paths import Layout, is_socket_path_too_long

log = logging.getLogger(__name__)

LOCK_TIMEOUT = 300
KEY_BYTES = 32
LAUNCHERS = {
    "supervisord": "supervisord",
    "supervisorctl": "supervisorctl",
    "jaws-bootstrap": "tool",
    "jaws-standin": "standin",
}
DIR_MODES = {"root": 0o755, "bin": 0o755, "lib": 0o755, "run": 0o770, "logs": 0o770,
             "previous": 0o750, "keys": 0o750}


class InstallLock:
    """An exclusive lock on an install directory, waited for at most timeout seconds.

    A file system without working locks fails at once with a clear message instead
    of waiting forever.
    """

    def __init__(self, layout, timeout=LOCK_TIMEOUT):
        self.path = layout.lock
        self.timeout = timeout
        self.fd = None

    def __enter__(self):
        self.fd = os.open(str(self.path), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o640)
        deadline = time.monotonic() + self.timeout
        announced = False
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    self._close()
                    raise BootstrapError(f"{self.path}: cannot lock the install directory "
                                         f"({exc.strerror}); is it on a file system "
                                         "without locks?") from None
            if time.monotonic() > deadline:
                self._close()
                raise BootstrapError(f"{self.path}: another jaws-bootstrap still holds "
                                     f"the install directory after {self.timeout}s")
            if not announced:
                print(f"waiting for another jaws-bootstrap on {self.path.parent}",
                      file=sys.stderr)
                announced = True
            time.sleep(0.1)

    def __exit__(self, *exc):
        self._close()

    def _close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def init(site, build_id=None):
    """Unpack this build, write launchers, keys, configs and site.toml for site.

    Returns (layout, names of instances whose config changed). Changes nothing that
    is already right; touches no process.
    """
    layout = Layout(site["install_dir"])
    build_id = build_id or bundle.build_id()
    check_socket_paths(site, layout)
    make_directories(site, layout)
    with InstallLock(layout):
        unpack(layout, build_id)
        write_launchers(layout, build_id)
        activate(layout, build_id)
        keys = {name: ensure_key(layout, name, site) for name in site["instances"]}
        changed = write_configs(site, layout, keys)
        write_atomic(layout.site, sitefile.dump_site(site).encode("utf-8"), 0o644)
    return layout, changed


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

    safety.check_install_dir(layout)
    for name, mode in DIR_MODES.items():
        path = layout.root if name == "root" else getattr(layout, name)
        safety.make_dir(path, mode)
    for instance in site["instances"]:
        safety.make_dir(layout.program_logs(instance), 0o770)


def unpack(layout, build_id):
    """Unpack this build's site-packages into lib/<build id>/, once, atomically."""
    target = layout.lib_for(build_id)
    if (target / "site-packages").is_dir():
        return
    for stale in layout.lib.glob(f"{build_id}.tmp-*"):
        shutil.rmtree(str(stale), ignore_errors=True)
    tmp = layout.lib / f"{build_id}.tmp-{os.getpid()}"
    archive = bundle.archive_path()
    if archive is not None:
        _unpack_archive(archive, tmp)
    else:
        _copy_tree_build(tmp)
    os.rename(str(tmp), str(target))
    log.info("unpacked build %s into %s", build_id, target)


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
        sys.path.insert(1, path)
    pkgshim.install()


LAUNCHER = """#!{python} -I
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


def ensure_key(layout, instance, site):
    """Return instance's key, creating the key file (mode 0640) if there is none."""
    path = layout.key(instance)
    try:
        with open(str(path)) as fh:
            key = fh.read().strip()
        if key:
            return key
    except FileNotFoundError:
        pass
    return write_key(layout, instance, site)


def new_key():
    return secrets.token_urlsafe(KEY_BYTES)


def write_key(layout, instance, site):
    """Write a new key for instance and return it."""
    key = new_key()
    write_atomic(layout.key(instance), (key + "\n").encode("ascii"), 0o640,
                 group=site["instances"][instance]["control_group"])
    log.info("wrote a new key for instance %s in %s", instance, layout.key(instance))
    return key


def write_configs(site, layout, keys):
    """Render, check and swap in every instance's config; return the changed names.

    All configs are checked before any is replaced, so a rejected one leaves every
    config in force as it was. The configs replaced go to previous/.
    """
    rendered = {}
    for name in site["instances"]:
        text = render.render_instance(site, name, layout, keys[name]).encode("utf-8")
        path = layout.config(name)
        if _read_or_none(path) != text:
            rendered[name] = text
    staged = {}
    try:
        for name, text in rendered.items():
            staged[name] = stage_file(layout.config(name), text, 0o640,
                                      group=site["instances"][name]["control_group"])
            render.check_config(staged[name])
        for name, tmp in staged.items():
            _keep_previous(layout, name)
            os.replace(str(tmp), str(layout.config(name)))
            log.info("wrote %s", layout.config(name))
        staged = {}
    finally:
        for tmp in staged.values():
            _unlink(tmp)
    return sorted(rendered)


def _keep_previous(layout, name):
    current = _read_or_none(layout.config(name))
    if current is not None:
        write_atomic(layout.previous_config(name), current, 0o640)


def _read_or_none(path):
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
        # The umask may have taken bits off; set the mode before any data is in.
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        _unlink(tmp)
        raise
    if group is not None:
        _set_group(tmp, group)
    return tmp


def write_atomic(path, data, mode, group=None):
    """Replace path with data, atomically, with mode; do nothing if it is already so."""
    if _read_or_none(path) == data and stat.S_IMODE(os.stat(str(path)).st_mode) == mode:
        return False
    tmp = stage_file(path, data, mode, group)
    os.replace(str(tmp), str(path))
    log.info("wrote %s", path)
    return True


def _set_group(path, group):
    import grp

    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        return
    if os.stat(str(path)).st_gid != gid:
        try:
            os.chown(str(path), -1, gid)
        except PermissionError:
            log.info("cannot give %s to group %s; it stays with the account's group",
                     path, group)


def _unlink(path):
    try:
        os.unlink(str(path))
    except FileNotFoundError:
        pass
