"""Build dist/jaws-bootstrap.pyz with shiv, reproducibly, from this tree.

Runs on the build host (Python 3.8+, for shiv). Prepares its own build environment
in build/venv, takes supervisor and tomli as pinned, hash-checked pure-Python
wheels, and prints the file's size and sha256. Two builds of one tree give the
same bytes.
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"
VENV = BUILD / "venv"
TARGET = HERE / "dist" / "jaws-bootstrap.pyz"

SHIV = "shiv==1.0.8"
# Pure-Python wheels only: a compiled module would tie the .pyz to one Python.
REQUIREMENTS = """\
supervisor==4.3.0 --hash=sha256:0bcb763fddafba410f35cbde226aa7f8514b9fb82eb05a0c85f6588d1c13f8db
tomli==1.2.3 --hash=sha256:e3069e4be3ead9668e21cb9b074cd948f7b3113fd9c8bba083f48247aab8b11c
"""
INTERPRETER = "/usr/bin/env python3"
# Plain status answers there without loading the command line (bootstrap/fast.py).
ENTRY_POINT = "bootstrap.fast:run"
# 1980-01-02, the earliest date a zip entry holds; SOURCE_DATE_EPOCH overrides it.
EPOCH = 315619200
COMPILED_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
DROPPED = ("supervisor/tests", "bin")

# The archive's __main__.py: our package runs straight from the archive and
# unpacks into the install directory itself (install.py), so nothing is ever
# extracted under $HOME and no extraction lock can wait forever.
MAIN_TEMPLATE = """\
# -*- coding: utf-8 -*-
import os, sys
sys.path.insert(1, os.path.join(sys.path[0], "site-packages"))
import {module}
sys.exit({module}.{fn}())
"""


def log(text):
    print(f"build.py: {text}", file=sys.stderr)


def run(argv):
    log(" ".join(str(a) for a in argv))
    subprocess.run([str(a) for a in argv], check=True)


def ensure_build_env():
    """Re-run this script inside build/venv, creating it with shiv if needed."""
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not (VENV / ".ready").exists():
        shutil.rmtree(str(VENV), ignore_errors=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(str(VENV))
        run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", SHIV])
        (VENV / ".ready").write_text(SHIV + "\n")
    os.execv(str(python), [str(python), str(Path(__file__).resolve())] + sys.argv[1:])


def stage(staging):
    """Fill staging with the site-packages that the .pyz carries."""
    requirements = staging.parent / "requirements.txt"
    requirements.write_text(REQUIREMENTS)
    run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--no-compile", "--only-binary", ":all:", "--require-hashes",
         "--target", staging, "-r", requirements])
    for name in DROPPED:
        shutil.rmtree(str(staging / name), ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(str(HERE / "bootstrap"), str(staging / "bootstrap"), ignore=ignore)
    shutil.copytree(str(HERE / "payload"), str(staging / "bootstrap" / "payload"),
                    ignore=ignore)
    normalise(staging)


def normalise(root):
    """Drop caches, give every file one mode, refuse compiled modules."""
    for path in sorted(root.rglob("*")):
        if path.name == "__pycache__":
            shutil.rmtree(str(path))
    for path in sorted(root.rglob("*")):
        if path.suffix in COMPILED_SUFFIXES or ".cpython-" in path.name:
            sys.exit(f"build.py: {path.relative_to(root)} is a compiled module; "
                     "the .pyz must carry pure Python only")
        os.chmod(str(path), 0o755 if path.is_dir() else 0o644)


def make_archive(staging, target):
    from shiv import builder
    from shiv.__version__ import __version__ as shiv_version
    from shiv.bootstrap.environment import Environment
    from shiv.constants import BUILD_AT_TIMESTAMP_FORMAT
    import time

    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", EPOCH))
    built_at = time.strftime(BUILD_AT_TIMESTAMP_FORMAT, time.gmtime(epoch))
    env = Environment(built_at=built_at, shiv_version=shiv_version,
                      entry_point=ENTRY_POINT, compile_pyc=False,
                      reproducible=True)
    builder.MAIN_TEMPLATE = MAIN_TEMPLATE
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    builder.create_archive([staging], tmp, INTERPRETER, ENTRY_POINT, env,
                           compressed=True)
    os.replace(str(tmp), str(target))
    return env.build_id


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=TARGET,
                        help=f"where to write the .pyz (default {TARGET.relative_to(HERE)})")
    args = parser.parse_args()
    ensure_build_env()
    with tempfile.TemporaryDirectory(prefix="jaws-build-") as tmp:
        staging = Path(tmp) / "site-packages"
        staging.mkdir()
        stage(staging)
        build_id = make_archive(staging, args.output.resolve())
    digest = hashlib.sha256(args.output.read_bytes()).hexdigest()
    size = args.output.stat().st_size
    print(f"{args.output}: {size} bytes, sha256 {digest}, build id {build_id[:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
