"""up brings everything back: after SIGKILL, after a wiped install, for other accounts.

And version tells when a running supervisord runs an older build than the one
installed. Every test deploys its own install, since each one breaks it.
"""

import json
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from conftest import _PYTHONS_RAN, PYTHONS, pid_alive, program_pids, staging_site, supervisorctl

INSTANCES = ("jaws", "jtm")
PROGRAM_COUNT = {"jaws": 3, "jtm": 2}


def supervisord_pids(install_dir):
    return {name: int((Path(install_dir) / "run" / f"supervisord-{name}.pid").read_text())
            for name in INSTANCES}


def wait_all_running(install_dir, timeout=60):
    """Wait until every program of both instances is RUNNING, per supervisorctl."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = {name: len(program_pids(install_dir, name)) for name in INSTANCES}
        if counts == PROGRAM_COUNT:
            return
        time.sleep(0.2)
    raise AssertionError(f"not every program RUNNING after {timeout}s: {counts}")


def wait_gone(pids, timeout=30):
    deadline = time.monotonic() + timeout
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(pid_alive(p) for p in pids)


@pytest.fixture
def deployed(tool, install_dir, tmp_path):
    """A staging site deployed into install_dir; returns its site file."""
    site = staging_site(tmp_path, install_dir)
    result = tool.run("--config", site, "--install-dir", install_dir, "deploy",
                      "--timeout", "60")
    assert result.returncode == 0, result.stderr
    return site


OLDEST = next(iter(PYTHONS), None)


@pytest.mark.parametrize("python", [None, OLDEST], ids=["current", f"py{OLDEST}"])
def test_up_after_sigkill_brings_both_back_without_duplicates(tool, install_dir, deployed,
                                                              python):
    old_daemons = supervisord_pids(install_dir)
    old_programs = [pid for name in INSTANCES
                    for pid in program_pids(install_dir, name).values()]
    for pid in old_daemons.values():
        os.kill(pid, signal.SIGKILL)
    assert wait_gone(old_daemons.values())

    tool_down = tool.run("--install-dir", install_dir, "status", "-i", "jaws")
    native_down = supervisorctl(install_dir, "jaws", "status")
    if python:
        _PYTHONS_RAN.add(python)
    result = tool.run("--install-dir", install_dir, "up", python=python and PYTHONS[python])
    wait_all_running(install_dir)

    assert tool_down.returncode == native_down.returncode == 4
    assert "refused connection" in tool_down.stderr
    assert result.returncode == 0, result.stderr
    assert "stopped programs left by a supervisord that was killed" in result.stderr
    assert all(pid_alive(pid) for pid in supervisord_pids(install_dir).values())
    assert set(supervisord_pids(install_dir).values()).isdisjoint(old_daemons.values())
    assert wait_gone(old_programs), "programs of the killed supervisords still run"
    assert tool.run("--install-dir", install_dir, "status").returncode == 0


def test_up_leaves_running_instances_alone(tool, install_dir, deployed):
    daemons = supervisord_pids(install_dir)
    programs = {name: program_pids(install_dir, name) for name in INSTANCES}

    result = tool.run("--install-dir", install_dir, "up")

    assert result.returncode == 0, result.stderr
    assert result.stderr.count("already running") == 2
    assert supervisord_pids(install_dir) == daemons
    assert {name: program_pids(install_dir, name) for name in INSTANCES} == programs


def test_up_starts_only_the_instance_that_is_down(tool, install_dir, deployed):
    jaws_pid = supervisord_pids(install_dir)["jaws"]
    down = tool.run("--install-dir", install_dir, "down", "jtm")

    result = tool.run("--install-dir", install_dir, "up")
    wait_all_running(install_dir)

    assert down.returncode == 0, down.stderr
    assert result.returncode == 0, result.stderr
    assert "jaws: already running" in result.stderr and "jtm: started" in result.stderr
    assert supervisord_pids(install_dir)["jaws"] == jaws_pid


def test_up_with_config_recreates_a_wiped_install_dir(tool, install_dir, deployed):
    down = tool.run("--install-dir", install_dir, "down")
    shutil.rmtree(str(install_dir))

    bare = tool.run("--install-dir", install_dir, "up")
    result = tool.run("--config", deployed, "--install-dir", install_dir, "up")
    wait_all_running(install_dir)

    assert down.returncode == 0, down.stderr
    assert bare.returncode == 1
    assert f"{install_dir}/site.toml: no install here" in bare.stderr
    assert result.returncode == 0, result.stderr
    assert (install_dir / "bin" / "supervisorctl").is_file()


def test_up_with_example_recreates_a_wiped_install_dir(tool, install_dir):
    first = tool.run("--example", "--install-dir", install_dir, "up")
    down = tool.run("--install-dir", install_dir, "down")
    shutil.rmtree(str(install_dir))

    result = tool.run("--example", "--install-dir", install_dir, "up")
    status = _wait_status_0(tool, install_dir)

    assert first.returncode == 0 and down.returncode == 0, first.stderr + down.stderr
    assert result.returncode == 0, result.stderr
    assert status.returncode == 0 and status.stdout.count("RUNNING") == 4


def _wait_status_0(tool, install_dir, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        status = tool.run("--install-dir", install_dir, "status")
        if status.stdout.count("RUNNING") == 4 or time.monotonic() > deadline:
            return status
        time.sleep(0.3)


def _other_build(pyz, target):
    """Write a copy of pyz whose build id differs, as a newer release would."""
    with zipfile.ZipFile(str(pyz)) as src, zipfile.ZipFile(str(target), "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "environment.json":
                env = json.loads(data.decode("utf-8"))
                env["build_id"] = "0newer" + env["build_id"][6:]
                data = json.dumps(env).encode("utf-8")
            dst.writestr(item, data)
    return target


def test_version_flags_supervisord_on_an_older_build(tool, install_dir, deployed, tmp_path):
    newer = _other_build(tool.pyz, tmp_path / "newer.pyz")
    current = tool.run("--install-dir", install_dir, "version", "--json")

    inited = subprocess.run([sys.executable, str(newer), "--config", str(deployed),
                             "--install-dir", str(install_dir), "init"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=120)
    flagged = tool.run("--install-dir", install_dir, "version")
    moved = [tool.run("--install-dir", install_dir, verb, "jaws") for verb in ("down", "up")]
    after = json.loads(tool.run("--install-dir", install_dir, "version", "--json").stdout)

    assert all(r["current"] for r in json.loads(current.stdout)["instances"])
    assert inited.returncode == 0, inited.stderr
    assert re.search(r"instance jaws: supervisord pid \d+ runs build \w+: an older build "
                     r"than the installed 0newer", flagged.stdout), flagged.stdout
    assert flagged.stdout.count("an older build") == 2
    assert all(r.returncode == 0 for r in moved)
    assert after["installed_build"].startswith("0newer")
    by_name = {r["instance"]: r for r in after["instances"]}
    assert by_name["jaws"]["current"] and by_name["jaws"]["build_id"].startswith("0newer")
    assert not by_name["jtm"]["current"] and by_name["jtm"]["older"]


SYSTEM_PYTHON = "/usr/bin/python3"
SERVICE = ("import signal, sys, time\n"
           "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
           "while True:\n"
           "    time.sleep(1)\n")


@pytest.fixture
def other_account(tool):
    """A directory that the account nobody owns, with a copy of the .pyz inside."""
    if os.geteuid() != 0 or not shutil.which("runuser") or not os.path.exists(SYSTEM_PYTHON):
        pytest.skip("needs root, runuser and /usr/bin/python3 to act as account nobody")
    nobody = pwd.getpwnam("nobody")
    base = Path(tempfile.mkdtemp(prefix="jb-nb-", dir="/tmp"))
    shutil.copy(str(tool.pyz), str(base / "jb.pyz"))
    (base / "service.py").write_text(SERVICE)
    for path in (base, base / "jb.pyz", base / "service.py"):
        os.chown(str(path), nobody.pw_uid, nobody.pw_gid)
    base.chmod(0o755)
    tool.track(base / "inst")
    yield base
    tool.cleanup()
    shutil.rmtree(str(base), ignore_errors=True)


def as_nobody(base, *args):
    argv = [shutil.which("runuser"), "-u", "nobody", "--", SYSTEM_PYTHON, str(base / "jb.pyz")]
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    return subprocess.run(argv + [str(a) for a in args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=120,
                          env=env, cwd=str(base))


def test_up_as_one_account_prints_the_command_for_the_other(tool, other_account):
    base, install = other_account, other_account / "inst"
    command = f'["{SYSTEM_PYTHON}", "{base}/service.py"]'
    site = base / "site.toml"
    # root belongs to the group shared through run/, so the site passes its checks.
    site.write_text(f'deployment = "acct"\ninstall_dir = "{install}"\n'
                    f'[instances.jaws]\ncontrol_group = "root"\n'
                    f"[instances.jaws.programs.svc]\ncommand = {command}\n"
                    f'[instances.jtm]\nuser = "root"\n'
                    f"[instances.jtm.programs.other]\ncommand = {command}\n")

    everything = as_nobody(base, "--config", site, "up")
    explicit = as_nobody(base, "--install-dir", install, "up", "jtm")
    tool.track_install_pids()

    expected = (f"instance jtm runs as account root; as root, run: {SYSTEM_PYTHON} -I "
                f"{install}/bin/jaws-bootstrap --install-dir {install} up jtm")
    assert everything.returncode == 0, everything.stderr
    assert "jaws: started" in everything.stderr
    assert expected in everything.stderr
    assert explicit.returncode == 1
    assert f"error: {expected}" in explicit.stderr
    assert not (install / "run" / "supervisord-jtm.pid").exists()
    # The printed command runs without the .pyz; as nobody it only says the same.
    printed = subprocess.run([shutil.which("runuser"), "-u", "nobody", "--"]
                             + shlex.split(expected.split("run: ", 1)[1]),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True, timeout=120)
    assert printed.returncode == 1 and expected in printed.stderr, printed.stderr


def test_stop_orphans_stops_only_what_the_socket_marks(tmp_path):
    from bootstrap import orphans
    from bootstrap.paths import Layout

    layout = Layout(tmp_path)
    site = {"instances": {"jaws": {"programs": {"svc": {"stopwaitsecs": 5}}}}}
    marked = dict(os.environ, SUPERVISOR_SERVER_URL=f"unix://{layout.socket('jaws')}",
                  SUPERVISOR_PROCESS_NAME="svc")
    other = dict(os.environ, SUPERVISOR_SERVER_URL="unix:///elsewhere.sock")
    sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
    orphan = subprocess.Popen(sleep, env=marked)
    bystander = subprocess.Popen(sleep, env=other)
    try:
        stopped = orphans.stop_orphans(site, layout, "jaws")
        orphan.wait(timeout=10)

        assert stopped == [orphan.pid]
        assert orphan.returncode == -signal.SIGTERM
        assert bystander.poll() is None
    finally:
        for child in (orphan, bystander):
            child.kill()
            child.wait()
