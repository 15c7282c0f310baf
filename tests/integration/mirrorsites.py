"""A live install for the mirror tests: staging-shaped programs, XML-RPC to set state."""

import os
import re
import shutil
import signal
import sys
import tempfile
import time
import xmlrpc.client
from pathlib import Path

from conftest import Tool, supervisorctl

SERVICE = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
    "signal.signal(signal.SIGHUP, lambda *a: print('reloaded', flush=True))\n"
    "print(sys.argv[1], 'up', flush=True)\n"
    "print(sys.argv[1], 'warming', file=sys.stderr, flush=True)\n"
    "while True:\n"
    "    time.sleep(1)\n"
)
PROGRAMS = {"jaws": ["jaws-site-daemon", "jaws-site-jtm-rpc", "jaws-site-central-rpc"],
            "jtm": ["jaws-jtm", "jaws-cromwell"]}


def write_site(directory, install_dir):
    """Write a staging-shaped site whose programs start at once and answer HUP."""
    script = Path(directory) / "service.py"
    script.write_text(SERVICE)
    lines = ['deployment = "staging"', f'install_dir = "{install_dir}"']
    for instance, programs in PROGRAMS.items():
        lines.append(f"[instances.{instance}]")
        for name in programs:
            lines += [f"[instances.{instance}.programs.{name}]",
                      f'command = ["{sys.executable}", "{script}", "{name}"]',
                      "startsecs = 0", "stopwaitsecs = 5"]
    path = Path(directory) / "site.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class Install:
    """A deployed (or only initialised) install and the tool that runs on it."""

    def __init__(self, tool, root, site):
        self.tool, self.root, self.site = tool, root, site

    def run(self, *args, **kwargs):
        return self.tool.run("--install-dir", self.root, *args, **kwargs)

    def native(self, instance, *args):
        return supervisorctl(self.root, instance, *args)

    def proxy(self, instance):
        from supervisor.xmlrpc import SupervisorTransport

        key = (self.root / "keys" / f"{instance}.key").read_text().strip()
        url = f"unix://{self.root}/run/supervisord-{instance}.sock"
        transport = SupervisorTransport(instance, key, url)
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def install_for(pyz, command):
    """Yield an Install of a fresh site after running command on it; clean up after."""
    base = Path(tempfile.mkdtemp(prefix="jb-", dir="/tmp"))
    version = ".".join(str(v) for v in sys.version_info[:2])
    install = Install(Tool(pyz, sys.executable, version), base / "inst", None)
    install.site = write_site(base, install.root)
    try:
        result = install.tool.run("--config", install.site, "--install-dir", install.root,
                                  *command)
        assert result.returncode == 0, result.stderr
        yield install
    finally:
        install.tool.cleanup()
        shutil.rmtree(str(base), ignore_errors=True)


def unprefixed(text, instance="jaws"):
    """Return the tool's output without its instance prefixes, normalised like native()."""
    lines = [re.sub(rf"^{instance}(  |$)", "", line) for line in text.splitlines()]
    return normalised("\n".join(lines))


def normalised(text):
    text = re.sub(r"pid \d+, uptime \d+:\d\d:\d\d", "pid N, uptime T", text)
    return re.sub(r"[A-Z][a-z]{2} \d\d \d\d:\d\d [AP]M", "DATE", text).rstrip("\n")


def wait_all_running(install, instance, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            infos = install.proxy(instance).supervisor.getAllProcessInfo()
            if infos and all(i["statename"] == "RUNNING" for i in infos):
                return
        except (OSError, xmlrpc.client.Error):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{instance}: not every program RUNNING after {timeout}s")


def wait_socket_gone(install, instance, timeout=30):
    pidfile = install.root / "run" / f"supervisord-{instance}.pid"
    deadline = time.monotonic() + timeout
    while pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
