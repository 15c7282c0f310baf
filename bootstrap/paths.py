"""Every location inside an install directory (DESIGN.md, "On the host").

Knows names only; it never creates, reads or removes anything.
"""

import os
from pathlib import Path

# AF_UNIX paths hold 107 bytes; supervisord first binds "<socket>.<pid>", and a
# pid takes up to 7 digits plus the dot.
SOCKET_PATH_MAX = 107 - 8


class Layout:
    """The files and directories of one install directory."""

    def __init__(self, install_dir):
        self.root = Path(install_dir)
        self.bin = self.root / "bin"
        self.lib = self.root / "lib"
        self.run = self.root / "run"
        self.logs = self.root / "logs"
        self.previous = self.root / "previous"
        self.keys = self.root / "keys"
        self.site = self.root / "site.toml"
        self.lock = self.root / ".lock"

    def lib_for(self, build_id):
        return self.lib / build_id

    def site_packages(self, build_id):
        return self.lib / build_id / "site-packages"

    def launcher(self, name):
        return self.bin / name

    def config(self, instance):
        return self.root / f"supervisord-{instance}.conf"

    def previous_config(self, instance):
        return self.previous / f"supervisord-{instance}.conf"

    def socket(self, instance):
        return self.run / f"supervisord-{instance}.sock"

    def pidfile(self, instance):
        return self.run / f"supervisord-{instance}.pid"

    def key(self, instance):
        return self.keys / f"{instance}.key"

    def logfile(self, instance):
        return self.logs / f"supervisord-{instance}.log"

    def program_logs(self, instance):
        return self.logs / instance


def default_install_dir(deployment):
    """Return the default install directory of a deployment."""
    return f"/tmp/jaws-supervisord-{deployment}"


def is_socket_path_too_long(path):
    return len(os.fsencode(str(path))) > SOCKET_PATH_MAX
