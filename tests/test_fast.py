"""The quick status's own logic: which command lines it takes, and the quick exit."""

import subprocess
import sys
from pathlib import Path

import pytest

from bootstrap import fast

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("argv, expected", [
    (["--install-dir", "/x", "status"], ("/x", None)),
    (["--install-dir=/x", "status", "-i", "jtm"], ("/x", "jtm")),
    (["--install-dir", "/x", "status", "--instance", "jaws"], ("/x", "jaws")),
    (["--install-dir", "/x", "status", "--instance=jaws"], ("/x", "jaws")),
    (["--deployment", "staging", "status"], ("/tmp/jaws-supervisord-staging", None)),
    (["--deployment", "s", "--install-dir", "/x", "status"], ("/x", None)),
])
def test_status_form_takes_plain_status(argv, expected):
    assert fast.status_form(argv) == expected


@pytest.mark.parametrize("argv", [
    ["status"],
    ["--install-dir", "/x", "up"],
    ["--install-dir", "", "status"],
    ["--install-dir", "/x", "--install-dir", "/y", "status"],
    ["--install-dir", "/x", "status", "all"],
    ["--install-dir", "/x", "status", "--json"],
    ["--install-dir", "/x", "status", "-i"],
    ["--install-dir", "/x", "status", "-i=jtm"],
    ["--install-dir", "/x", "status", "-ijtm"],
    ["--install-dir", "/x", "status", "-i", "-v"],
    ["--install", "/x", "status"],
    ["-v", "--install-dir", "/x", "status"],
    ["--config", "site.toml", "status"],
    ["--install-dir", "status", "status"],
    ["--install-dir", "/x", "status", "-h"],
])
def test_status_form_leaves_the_rest_to_the_parser(argv):
    assert fast.status_form(argv) is None


QUICK_EXIT = """
import atexit, sys, threading, time
sys.path.insert(0, {root!r})
from bootstrap.fast import exit_quickly
atexit.register(lambda: open({marker!r}, "a").write("atexit\\n"))
if sys.argv[1] == "thread":
    def late():
        time.sleep(0.3)
        open({marker!r}, "a").write("thread\\n")
    threading.Thread(target=late).start()
sys.stdout.write("x" * 200000)
sys.exit(exit_quickly(3))
"""


@pytest.mark.parametrize("mode", ["alone", "thread"])
def test_quick_exit_runs_atexit_and_delivers_output(tmp_path, mode):
    marker = tmp_path / "marker"
    script = QUICK_EXIT.format(root=str(ROOT), marker=str(marker))
    result = subprocess.run([sys.executable, "-c", script, mode], stdout=subprocess.PIPE)

    assert result.returncode == 3
    assert result.stdout == b"x" * 200000
    # With another thread still running, the ordinary exit waits for it.
    expected = ["atexit"] if mode == "alone" else ["thread", "atexit"]
    assert marker.read_text().split() == expected
