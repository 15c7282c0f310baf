"""Telling supervisords apart by their command lines, from /proc (orphans, instances)."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bootstrap import instances, orphans, procfs
from bootstrap.paths import Layout


@pytest.fixture
def fake_supervisord(tmp_path):
    """A sleeping process whose command line reads like one of our supervisords."""
    config = tmp_path / "inst" / "supervisord-jtm.conf"
    process = subprocess.Popen([sys.executable, "-I", "-S", "-c",
                                "import time; time.sleep(60)",
                                str(tmp_path / "inst" / "bin" / "supervisord"),
                                "-c", str(config)])
    deadline = time.monotonic() + 10
    while "-c" not in (procfs.strings(process.pid, "cmdline") or [])[5:]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    yield process, config
    process.kill()
    process.wait()


def test_a_program_whose_parent_is_a_live_supervisord_is_no_orphan(fake_supervisord):
    process, _ = fake_supervisord
    marked = {101: ("jaws-jtm", process.pid), 102: ("jaws-other", 1)}

    assert orphans.top_processes(marked) == {102: "jaws-other"}


def test_supervisords_are_found_by_their_config_without_any_pid_file(fake_supervisord):
    process, config = fake_supervisord
    layout = Layout(str(config.parent))

    assert instances.supervisord_pid(layout, "jtm") == process.pid
    assert instances.supervisords_under(Path(config.parent)) == {"jtm": process.pid}
    assert instances.supervisord_pid(layout, "jaws") is None
