"""Fixtures shared by every test: the built .pyz, the Pythons present, live installs.

Every supervisord and program a test starts is stopped by pid at teardown, even
when the test failed.
"""

import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYZ = ROOT / "dist" / "jaws-bootstrap.pyz"
SUPPORTED = [(3, minor) for minor in range(6, 14)]
sys.path.insert(0, str(ROOT))

_PYTHONS_RAN = set()


def _interpreter_version(path):
    try:
        out = subprocess.run([path, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             universal_newlines=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out or None


def find_pythons():
    """Return {"3.x": path} for each CPython 3.6-3.13 on this machine, one per minor."""
    candidates = [sys.executable]
    try:
        root = subprocess.run(["pyenv", "root"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, universal_newlines=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        root = os.path.expanduser("~/.pyenv")
    candidates += sorted(glob.glob(os.path.join(root or "/nonexistent", "versions", "*",
                                                "bin", "python3")))
    candidates += [shutil.which(f"python3.{m}") for _, m in SUPPORTED]
    found = {}
    for path in candidates:
        if not path or not os.path.exists(path):
            continue
        version = _interpreter_version(path)
        if not version:
            continue
        minor = ".".join(version.split(".")[:2])
        if tuple(int(p) for p in minor.split(".")) in SUPPORTED and minor not in found:
            found[minor] = path
    return dict(sorted(found.items(), key=lambda kv: int(kv[0].split(".")[1])))


PYTHONS = find_pythons()


def pytest_terminal_summary(terminalreporter):
    present = ", ".join(f"{v} ({p})" for v, p in PYTHONS.items())
    terminalreporter.write_line(f"Pythons present: {present}")
    ran = ", ".join(sorted(_PYTHONS_RAN, key=lambda v: int(v.split('.')[1])))
    terminalreporter.write_line(f"Pythons that ran the .pyz: {ran or 'none'}")
    missing = [f"3.{m}" for _, m in SUPPORTED if f"3.{m}" not in PYTHONS]
    if missing:
        terminalreporter.write_line(f"Pythons missing on this machine: {', '.join(missing)}")


@pytest.fixture(scope="session")
def pyz(tmp_path_factory):
    """Build the .pyz from this tree once per run, into a private directory."""
    target = tmp_path_factory.mktemp("pyz") / "jaws-bootstrap.pyz"
    subprocess.run([sys.executable, str(ROOT / "build.py"), "--output", str(target)],
                   check=True, stdout=subprocess.DEVNULL, timeout=600)
    assert target.is_file()
    return target


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def children_of(pid):
    """Return the pids of every descendant of pid, from /proc."""
    parents = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.split("/")[2]))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def stop_pids(pids, timeout=15):
    """SIGTERM each pid, wait, then SIGKILL what is left."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + timeout
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        if pid_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


class Tool:
    """Runs the built .pyz under one Python and cleans up what it started."""

    def __init__(self, pyz_path, python, version):
        self.pyz = Path(pyz_path)
        self.python = python
        self.version = version
        self.install_dirs = []
        self.extra_pids = []
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("PYTHON", "SHIV_", "PYTEST"))}

    def run(self, *args, timeout=180, env=None, input_text=None, python=None, cwd=None):
        """Run the .pyz with args; return the CompletedProcess (text)."""
        _PYTHONS_RAN.add(self.version)
        argv = [python or self.python, str(self.pyz)] + [str(a) for a in args]
        self._track(args)
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True, timeout=timeout,
                                env=self.env if env is None else env, input=input_text,
                                stdin=None if input_text is not None else subprocess.DEVNULL,
                                cwd=cwd)
        self.track_install_pids()
        return result

    def popen(self, *args, env=None, **kwargs):
        """Start the .pyz with args without waiting; cleanup stops it by pid."""
        _PYTHONS_RAN.add(self.version)
        argv = [self.python, str(self.pyz)] + [str(a) for a in args]
        self._track(args)
        child = subprocess.Popen(argv, env=self.env if env is None else env,
                                 stdin=subprocess.DEVNULL, **kwargs)
        self.extra_pids.append(child.pid)
        return child

    def _track(self, args):
        args = [str(a) for a in args]
        for i, arg in enumerate(args[:-1]):
            if arg == "--install-dir" and args[i + 1] not in self.install_dirs:
                self.install_dirs.append(args[i + 1])
        if "--config" in args[:-1] and "--install-dir" not in args:
            self._track_site_file(args[args.index("--config") + 1])

    def _track_site_file(self, path):
        """Track the install directory a site file names, for runs without --install-dir."""
        from bootstrap import sitefile
        from bootstrap.errors import BootstrapError

        try:
            self.track(sitefile.load_site(path)["install_dir"])
        except BootstrapError:
            pass  # a broken site file starts nothing

    def track(self, install_dir):
        if str(install_dir) not in self.install_dirs:
            self.install_dirs.append(str(install_dir))

    def supervisord_pids(self):
        pids = []
        for root in self.install_dirs:
            for pidfile in glob.glob(os.path.join(root, "run", "*.pid")):
                try:
                    pids.append(int(Path(pidfile).read_text().strip()))
                except (OSError, ValueError):
                    pass
        return [p for p in pids if pid_alive(p)]

    def track_install_pids(self):
        """Remember every supervisord of our installs and its programs, to stop later."""
        for pid in self.supervisord_pids():
            for p in [pid] + children_of(pid):
                if p not in self.extra_pids:
                    self.extra_pids.append(p)

    def cleanup(self):
        self.track_install_pids()
        pids = self.supervisord_pids()
        stop_pids(pids)
        stop_pids([p for p in self.extra_pids if pid_alive(p)])


@pytest.fixture
def install_dir():
    """A short, private install directory (unix socket paths are short)."""
    base = tempfile.mkdtemp(prefix="jb-", dir="/tmp")
    yield Path(base) / "inst"
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def tool(pyz):
    """The .pyz under the Python running the tests."""
    version = ".".join(str(v) for v in sys.version_info[:2])
    t = Tool(pyz, sys.executable, version)
    yield t
    t.cleanup()


@pytest.fixture(params=list(PYTHONS), ids=lambda v: f"py{v}")
def any_tool(request, pyz):
    """The .pyz under each CPython 3.6-3.13 present on this machine."""
    t = Tool(pyz, PYTHONS[request.param], request.param)
    yield t
    t.cleanup()


STAGING_SHIM = """#!/bin/sh
# Stand-in for {name}: a real long-running process that exits on SIGTERM.
exec {python} -c '
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
print("{name} up", flush=True)
while True:
    time.sleep(1)
' "$@"
"""


def write_shim(directory, name, python=None):
    """Write an executable shim script for a service and return its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(STAGING_SHIM.format(name=name, python=python or sys.executable))
    path.chmod(0o755)
    return path


def staging_site(directory, install_dir, deployment="staging", extra=""):
    """Write a site file shaped like a JAWS staging deployment; return its path."""
    shims = Path(directory) / "shims"
    for name in ("jaws-site-daemon", "jaws-site-jtm-rpc", "jaws-site-central-rpc",
                 "jaws-jtm", "jaws-cromwell"):
        write_shim(shims, name)
    text = f"""
deployment = "{deployment}"
install_dir = "{install_dir}"

[instances.jaws]

[instances.jaws.programs.jaws-site-daemon]
command = "{shims}/jaws-site-daemon"
startsecs = 1
startretries = 10
autorestart = "unexpected"
environment = {{ LC_ALL = "C.UTF-8" }}

[instances.jaws.programs.jaws-site-jtm-rpc]
command = "{shims}/jaws-site-jtm-rpc"
startsecs = 1

[instances.jaws.programs.jaws-site-central-rpc]
command = "{shims}/jaws-site-central-rpc"
startsecs = 1

[instances.jtm]

[instances.jtm.programs.jaws-jtm]
command = "{shims}/jaws-jtm"
startsecs = 1

[instances.jtm.programs.jaws-cromwell]
command = "{shims}/jaws-cromwell"
startsecs = 1
stopwaitsecs = 20
""" + extra
    path = Path(directory) / "site.toml"
    path.write_text(text)
    return path


def supervisorctl(install_dir, instance, *args, timeout=60):
    """Run the install's own bin/supervisorctl, as operators do."""
    install_dir = Path(install_dir)
    argv = [sys.executable, "-I", str(install_dir / "bin" / "supervisorctl"),
            "-c", str(install_dir / f"supervisord-{instance}.conf")] + list(args)
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout)


def program_pids(install_dir, instance):
    """Return {namespec: pid} from the install's bundled supervisorctl status."""
    out = supervisorctl(install_dir, instance, "status").stdout
    pids = {}
    for line in out.splitlines():
        m = re.match(r"^(\S+)\s+RUNNING\s+pid (\d+),", line)
        if m:
            pids[m.group(1)] = int(m.group(2))
    return pids


def free_port():
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
