"""The quick status of the .pyz (bootstrap/fast.py) against the full command line.

Each case runs the same status twice on one live install: once as operators do
(`python3 jaws-bootstrap.pyz ... status`, which takes the quick path when it
can) and once through cli.main of the same .pyz, which never does. stdout,
stderr and the exit status must be the same bytes; only the uptime may tick.
"""

import re
import subprocess
import time
from pathlib import Path

import pytest

from conftest import staging_site, supervisorctl

FULL_PATH = ("import sys; sys.path[:0] = [sys.argv[1], sys.argv[1] + '/site-packages']; "
             "from bootstrap.cli import main; sys.exit(main(sys.argv[2:]))")
# The quick path alone: were it to fall back, importing the command line would fail.
QUICK_ONLY = ("import sys; sys.path[:0] = [sys.argv[1], sys.argv[1] + '/site-packages']; "
              "sys.modules['bootstrap.cli'] = None; "
              "from bootstrap.fast import main; sys.exit(main(sys.argv[2:]))")
UPTIME = re.compile(r"uptime \d+:\d\d:\d\d")


def run_both(tool, *args, quick_code=None):
    """Return ((quick stdout, stderr, status), (full ...)) for one command line."""
    quick = tool.run(*args) if quick_code is None else run_code(tool, quick_code, *args)
    full = run_code(tool, FULL_PATH, *args)
    return tuple((UPTIME.sub("uptime T", r.stdout), r.stderr, r.returncode)
                 for r in (quick, full))


def run_code(tool, code, *args):
    return subprocess.run([tool.python, "-c", code, str(tool.pyz)] + [str(a) for a in args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=180, env=tool.env)


def imported_modules(tool, *args):
    """Return the names of the modules that one run of the .pyz imports."""
    result = subprocess.run([tool.python, "-X", "importtime", str(tool.pyz)]
                            + [str(a) for a in args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, timeout=180,
                            env=tool.env)
    return {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


@pytest.fixture
def deployed(tool, install_dir, tmp_path):
    """A staging-shaped install, deployed and RUNNING."""
    site = staging_site(tmp_path, install_dir)
    result = tool.run("--config", site, "deploy", "--timeout", 120)
    assert result.returncode == 0, result.stderr
    return install_dir


@pytest.mark.parametrize("args", [
    ["status"],
    ["status", "-i", "jtm"],
    ["status", "--instance=jaws"],
    ["status", "-i", "nope"],
    ["status", "--instance"],
    ["status", "jaws-staging:jaws-jtm"],
    ["-v", "status"],
], ids=lambda args: " ".join(args))
def test_status_same_as_full_command_line(tool, deployed, args):
    quick, full = run_both(tool, "--install-dir", deployed, *args)

    assert quick == full


def test_status_same_when_a_program_stopped(tool, deployed):
    supervisorctl(deployed, "jtm", "stop", "jaws-staging:jaws-cromwell")

    quick, full = run_both(tool, "--install-dir", deployed, "status")

    assert quick == full
    assert quick[2] == 3
    assert "STOPPED" in quick[0]


def test_status_same_when_an_instance_down(tool, deployed):
    supervisorctl(deployed, "jtm", "shutdown")
    time.sleep(1)

    quick, full = run_both(tool, "--install-dir", deployed, "status")

    assert quick == full
    assert quick[2] == 4


def test_status_same_after_site_toml_edited(tool, deployed):
    site = Path(deployed) / "site.toml"
    site.write_text(site.read_text() + "\n")

    quick, full = run_both(tool, "--install-dir", deployed, "status")

    assert quick == full
    assert quick[2] == 0


def test_status_same_without_an_install(tool, install_dir):
    quick, full = run_both(tool, "--install-dir", install_dir, "status")

    assert quick == full
    assert quick[2] != 0 and quick[1]


def test_status_skips_command_line_toml_reader_and_supervisor(tool, deployed):
    modules = imported_modules(tool, "--install-dir", deployed, "status")

    assert "bootstrap.quick" in modules
    assert not {"bootstrap.cli", "argparse", "tomli", "tomllib", "supervisor",
                "xmlrpc.client", "http.client", "bootstrap.mirror"} & modules


def test_status_falls_back_when_site_json_is_stale(tool, deployed):
    site = Path(deployed) / "site.toml"
    site.write_text(site.read_text() + "\n")

    modules = imported_modules(tool, "--install-dir", deployed, "status")

    assert "bootstrap.cli" in modules


def test_status_same_under_every_python(any_tool, install_dir, tmp_path):
    site = staging_site(tmp_path, install_dir)
    assert any_tool.run("--config", site, "deploy").returncode == 0
    supervisorctl(install_dir, "jaws", "stop", "jaws-staging:jaws-site-jtm-rpc")

    runs = [run_both(any_tool, "--install-dir", install_dir, "status", *extra,
                     quick_code=QUICK_ONLY)
            for extra in ([], ["-i", "jtm"])]

    assert [quick for quick, _ in runs] == [full for _, full in runs]
    assert [quick[2] for quick, _ in runs] == [3, 0], any_tool.version
