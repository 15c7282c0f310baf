"""What this build carries: payload files, the build id, the archive it runs from.

Reads only; unpacking is install.py's work.
"""

import json
import os
import sys
from pathlib import Path

import bootstrap

PAYLOAD = "payload"
DEV_BUILD_ID = "dev"


def read_payload(name):
    """Return the bytes of payload file name, from the .pyz or the source tree."""
    # What pkgutil.get_data does, without importing pkgutil (and typing) on every start.
    path = os.path.join(os.path.dirname(bootstrap.__file__), PAYLOAD, name)
    try:
        data = bootstrap.__loader__.get_data(path)
    except OSError:
        data = None
    if data is None:
        data = (Path(__file__).resolve().parent.parent / PAYLOAD / name).read_bytes()
    return data


def read_payload_text(name):
    return read_payload(name).decode("utf-8")


def archive_path():
    """Return the path of the .pyz this process runs from, or None."""
    archive = getattr(bootstrap.__loader__, "archive", None)
    return Path(archive) if archive else None


def package_root():
    """Return the site-packages directory this package was imported from."""
    return Path(os.path.dirname(os.path.abspath(bootstrap.__file__))).parent


def build_id():
    """Return this build's id: shiv's content hash, or the lib directory's name."""
    archive = archive_path()
    if archive is not None:
        import zipfile

        with zipfile.ZipFile(str(archive)) as zf:
            env = json.loads(zf.read("environment.json").decode("utf-8"))
        return env["build_id"][:16]

    root = package_root()
    if root.name == "site-packages" and root.parent.parent.name == "lib":
        return root.parent.name
    return DEV_BUILD_ID


def python_version():
    return ".".join(str(part) for part in sys.version_info[:3])
