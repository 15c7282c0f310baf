"""Privilege separation for real: accounts made with useradd, each instance its own uid.

Run as root, the tests create a control group and four accounts (the jaws
instance's, the jtm instance's, an operator in the control group, an outsider),
deploy as root, and act as each account through runuser. Every account and group
is removed at teardown, after the processes it ran are stopped.
"""

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from conftest import children_of, pid_alive, stop_pids

# Every account must be able to run it: pyenv's Pythons live under /root.
SYSTEM_PYTHON = "/usr/bin/python3"


def run(argv, timeout=120):
    return subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout)


def as_user(user, *argv, timeout=120):
    """Run argv as account user (runuser keeps no privilege of ours)."""
    return run(["runuser", "-u", user, "--"] + list(argv), timeout=timeout)


class Accounts:
    """A control group and four accounts with unique names, removed at the end."""

    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.group = f"jbg{tag}"
        self.jaws, self.jtm = f"jbj{tag}", f"jbt{tag}"
        self.operator, self.outsider = f"jbo{tag}", f"jbx{tag}"
        self.users = []

    def create(self):
        run(["groupadd", self.group]).check_returncode()
        for user in (self.jaws, self.jtm, self.operator):
            self._useradd(user, "-G", self.group)
        self._useradd(self.outsider)

    def _useradd(self, user, *extra):
        run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin"] + list(extra)
            + [user]).check_returncode()
        self.users.append(user)

    def remove(self):
        # The fixtures stop every process by pid first; anything an account made
        # here still runs was started by this test too, and would block userdel.
        stop_pids(self.leftover_pids())
        for user in self.users:
            for _ in range(50):
                if run(["userdel", user]).returncode in (0, 6):
                    break
                time.sleep(0.2)  # its last process may still be exiting
        run(["groupdel", self.group])

    def leftover_pids(self):
        uids = {self.uid(user) for user in self.users}
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and pid_alive(int(entry)):
                try:
                    if uids_of(int(entry))[0] in uids:
                        pids.append(int(entry))
                except (OSError, AssertionError):
                    continue
        return pids

    def uid(self, user):
        import pwd

        return pwd.getpwnam(user).pw_uid


@pytest.fixture
def accounts():
    if os.geteuid() != 0:
        pytest.skip("needs root: creates accounts with useradd and switches to them")
    for command in ("useradd", "userdel", "groupadd", "groupdel", "runuser"):
        if shutil.which(command) is None:
            pytest.skip(f"needs {command}, which this machine lacks")
    if not os.path.exists(SYSTEM_PYTHON):
        pytest.skip(f"needs {SYSTEM_PYTHON}, a Python every account can run")
    made = Accounts()
    try:
        made.create()
        yield made
    finally:
        made.remove()


@pytest.fixture
def shared_dir():
    """An install directory under /tmp that every account can traverse."""
    base = tempfile.mkdtemp(prefix="jbp-", dir="/tmp")
    os.chmod(base, 0o755)
    yield Path(base) / "inst"
    shutil.rmtree(base, ignore_errors=True)


def write_site(path, install_dir, accounts):
    standin = "{python} {install_dir}/bin/jaws-standin"
    path.write_text(f"""
deployment = "privsep"
install_dir = "{install_dir}"

[instances.jaws]
user = "{accounts.jaws}"
control_group = "{accounts.group}"

[instances.jaws.programs.site-daemon]
command = "{standin} --name site-daemon"
startsecs = 1

[instances.jtm]
user = "{accounts.jtm}"
control_group = "{accounts.group}"

[instances.jtm.programs.cromwell]
command = "{standin} --name cromwell"
startsecs = 1
""")
    return path


@pytest.fixture
def deployed(accounts, tool, shared_dir, tmp_path):
    """Both instances deployed by root for the two instance accounts."""
    site = write_site(tmp_path / "site.toml", shared_dir, accounts)
    tool.track(shared_dir)
    result = tool.run("--config", site, "deploy", "--timeout", "90", python=SYSTEM_PYTHON)
    assert result.returncode == 0, result.stderr
    return shared_dir


def uids_of(pid):
    """Return the real, effective, saved and file-system uids of pid."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("Uid:"):
                return [int(v) for v in line.split()[1:]]
    raise AssertionError(f"no Uid line for pid {pid}")


def supervisord_pid(install_dir, name):
    return int((install_dir / "run" / f"supervisord-{name}.pid").read_text())


def tool_as(user, install_dir, *args):
    launcher = install_dir / "bin" / "jaws-bootstrap"
    return as_user(user, SYSTEM_PYTHON, "-I", launcher, "--install-dir", install_dir, *args)


def ctl_as(user, install_dir, instance, *args):
    return as_user(user, SYSTEM_PYTHON, "-I", install_dir / "bin" / "supervisorctl", "-c",
                   install_dir / f"supervisord-{instance}.conf", *args)


def test_each_instance_and_its_programs_run_as_its_account(accounts, deployed):
    for name, user in (("jaws", accounts.jaws), ("jtm", accounts.jtm)):
        daemon = supervisord_pid(deployed, name)
        programs = children_of(daemon)

        assert uids_of(daemon) == [accounts.uid(user)] * 4
        assert programs and all(uids_of(p) == [accounts.uid(user)] * 4 for p in programs)


def test_files_of_each_instance_belong_to_it_and_its_group(accounts, deployed):
    import grp
    import stat

    gid = grp.getgrnam(accounts.group).gr_gid
    for name, user in (("jaws", accounts.jaws), ("jtm", accounts.jtm)):
        sock = os.stat(str(deployed / "run" / f"supervisord-{name}.sock"))
        pidfile = os.stat(str(deployed / "run" / f"supervisord-{name}.pid"))
        key = os.stat(str(deployed / "keys" / f"{name}.key"))
        config = os.stat(str(deployed / f"supervisord-{name}.conf"))

        assert (sock.st_uid, sock.st_gid, stat.S_IMODE(sock.st_mode)) == (
            accounts.uid(user), gid, 0o770)
        assert pidfile.st_uid == accounts.uid(user)
        assert (key.st_uid, key.st_gid, stat.S_IMODE(key.st_mode)) == (0, gid, 0o640)
        assert (config.st_uid, config.st_gid, stat.S_IMODE(config.st_mode)) == (0, gid, 0o640)
        for log in (deployed / "logs" / name).iterdir():
            assert os.stat(str(log)).st_uid == accounts.uid(user), log


def test_control_group_member_controls_both_instances(accounts, deployed):
    before = supervisord_pid(deployed, "jtm")
    old_program = children_of(before)[0]

    native = [ctl_as(accounts.operator, deployed, name, "status") for name in ("jaws", "jtm")]
    status = tool_as(accounts.operator, deployed, "status")
    restart = tool_as(accounts.operator, deployed, "restart", "cromwell")
    rotate = tool_as(accounts.operator, deployed, "rotate-key", "jtm")

    assert all(r.returncode == 0 for r in native), [r.stdout + r.stderr for r in native]
    assert "site-daemon" in native[0].stdout and "cromwell" in native[1].stdout
    assert status.returncode == 0, status.stderr
    assert len(status.stdout.splitlines()) == 2
    assert restart.returncode == 0, restart.stdout + restart.stderr
    new_program = children_of(before)
    assert new_program and old_program not in new_program
    assert uids_of(new_program[0])[0] == accounts.uid(accounts.jtm)
    assert rotate.returncode == 1
    assert f"{deployed}/keys: this account may not write keys here; run rotate-key as root" in (
        rotate.stderr)


def test_outsider_cannot_control_and_is_told_why(accounts, deployed):
    status = tool_as(accounts.outsider, deployed, "status")
    native = ctl_as(accounts.outsider, deployed, "jaws", "status")
    sock = deployed / "run" / "supervisord-jaws.sock"
    connect = as_user(accounts.outsider, SYSTEM_PYTHON, "-c",
                      "import socket; s = socket.socket(socket.AF_UNIX); "
                      f"s.connect({str(sock)!r})")

    assert status.returncode == 4
    told = status.stdout + status.stderr
    assert "cannot read the key of instance jaws: Permission denied" in told
    assert "Traceback" not in told
    assert native.returncode != 0
    assert "could not read config file" in native.stdout + native.stderr
    assert connect.returncode != 0 and "PermissionError" in connect.stderr
    assert pid_alive(supervisord_pid(deployed, "jaws"))


def test_instance_account_restarts_its_own_instance_only(accounts, deployed, tool):
    old = supervisord_pid(deployed, "jtm")

    down = tool_as(accounts.jtm, deployed, "down", "jtm")
    up = tool_as(accounts.jtm, deployed, "up", "jtm")

    assert down.returncode == 0, down.stderr
    assert up.returncode == 0, up.stderr
    new = supervisord_pid(deployed, "jtm")
    tool.track_install_pids()
    assert new != old and not pid_alive(old)
    assert uids_of(new) == [accounts.uid(accounts.jtm)] * 4
    assert pid_alive(supervisord_pid(deployed, "jaws"))


def test_instance_account_downs_its_own_when_the_others_supervisord_was_killed(
        accounts, deployed, tool):
    tool.track_install_pids()
    jaws = supervisord_pid(deployed, "jaws")
    os.kill(jaws, 9)
    wait_for(lambda: not pid_alive(jaws))

    down = tool_as(accounts.jtm, deployed, "down")

    assert down.returncode == 0, down.stderr
    assert "jaws: not running" in down.stderr and "jtm: stopped" in down.stderr
    # The stale pid file is jaws's account's to clear (run/ is sticky).
    assert (deployed / "run" / "supervisord-jaws.pid").exists()


def test_instance_account_starts_its_own_without_a_lock_file_it_could_make(accounts,
                                                                         deployed, tool):
    (deployed / ".lock").unlink()

    down = tool_as(accounts.jtm, deployed, "down", "jtm")
    up = tool_as(accounts.jtm, deployed, "up", "jtm")
    tool.track_install_pids()

    assert down.returncode == 0, down.stderr
    assert up.returncode == 0, up.stderr
    assert "jtm: started" in up.stderr
    assert not (deployed / ".lock").exists()


def test_instance_account_is_told_who_starts_the_other(accounts, deployed):
    # jtm's account is in the control group: it may stop jaws, not start it.
    down = tool_as(accounts.jtm, deployed, "down", "jaws")
    up = tool_as(accounts.jtm, deployed, "up", "jaws")

    assert down.returncode == 0, down.stderr
    assert up.returncode != 0
    assert (f"instance jaws runs as account {accounts.jaws}; as {accounts.jaws}, run: "
            in up.stderr)
    assert f"{deployed}/bin/jaws-bootstrap --install-dir {deployed} up jaws" in up.stderr


def test_account_outside_control_group_is_refused_at_init(accounts, tool, shared_dir,
                                                         tmp_path):
    site = write_site(tmp_path / "site.toml", shared_dir, accounts)
    site.write_text(site.read_text().replace(f'user = "{accounts.jtm}"',
                                             f'user = "{accounts.outsider}"'))

    result = tool.run("--config", site, "init", python=SYSTEM_PYTHON)

    assert result.returncode == 2
    assert (f'instances.jtm.user: account "{accounts.outsider}" is not in group '
            f'"{accounts.group}"') in result.stderr
    assert f"usermod -aG {accounts.group} {accounts.outsider}" in result.stderr
    assert not shared_dir.exists()


def test_instance_without_user_run_by_root_gets_a_warning(accounts, tool, shared_dir,
                                                          tmp_path):
    site = write_site(tmp_path / "site.toml", shared_dir, accounts)
    site.write_text(site.read_text().replace(f'user = "{accounts.jaws}"\n', ""))

    result = tool.run("--config", site, "init", python=SYSTEM_PYTHON)

    assert result.returncode == 0, result.stderr
    assert ("instance jaws: supervisord and its programs will run as root; set "
            "instances.jaws.user") in result.stderr
    assert "instance jtm:" not in result.stderr


def test_python_the_instance_account_cannot_run_is_refused(accounts, tool, shared_dir,
                                                           tmp_path):
    site = write_site(tmp_path / "site.toml", shared_dir, accounts)
    python = os.path.realpath(tool.python)
    if not python.startswith("/root/"):
        pytest.skip(f"the test Python {python} is open to every account")

    result = tool.run("--config", site, "init")

    assert result.returncode == 2
    assert (f'instances.jaws.user: account "{accounts.jaws}" cannot run this Python '
            f"({python}: /root is closed to it)") in result.stderr
    assert not shared_dir.exists()


def test_check_finds_command_closed_to_the_instance_account(accounts, tool, shared_dir,
                                                            tmp_path):
    private = shared_dir.parent / "private"
    private.mkdir()
    private.chmod(0o700)
    (private / "daemon").write_text("#!/bin/sh\nexec sleep 1000\n")
    (private / "daemon").chmod(0o755)
    site = write_site(tmp_path / "site.toml", shared_dir, accounts)
    site.write_text(site.read_text().replace(
        'command = "{python} {install_dir}/bin/jaws-standin --name cromwell"',
        f'command = "{private}/daemon"'))

    result = tool.run("--config", site, "check", python=SYSTEM_PYTHON)

    assert result.returncode == 1
    assert (f"FAIL  instances.jtm.programs.cromwell.command: {private}/daemon: "
            f"{private} is closed to it") in result.stdout
    assert "OK    instances.jaws.programs.site-daemon.command: " in result.stdout
    assert not shared_dir.exists()


def test_unprivileged_account_deploys_and_controls_its_own_install(accounts, tool, pyz,
                                                                    shared_dir):
    own_pyz = shared_dir.parent / "jaws-bootstrap.pyz"
    shutil.copy(str(pyz), str(own_pyz))
    own_pyz.chmod(0o644)
    tool.track(shared_dir)
    user = accounts.jaws
    refused = as_user(user, SYSTEM_PYTHON, own_pyz, "--example", "--install-dir", shared_dir,
                      "init")
    os.chown(str(shared_dir.parent), accounts.uid(user), -1)

    deployed = as_user(user, SYSTEM_PYTHON, own_pyz, "--example", "--install-dir", shared_dir,
                       "deploy", "--timeout", "90", timeout=240)
    tool.track_install_pids()
    status = tool_as(user, shared_dir, "status")
    outsider = tool_as(accounts.outsider, shared_dir, "status")
    rotated = tool_as(user, shared_dir, "rotate-key", "jtm")
    pid = supervisord_pid(shared_dir, "jtm")
    hup = as_user(user, "kill", "-HUP", str(pid))
    answered = wait_for(lambda: tool_as(user, shared_dir, "status").returncode == 0)
    down = tool_as(user, shared_dir, "down")

    assert refused.returncode == 2
    assert f"{shared_dir}: this account may not create it" in refused.stderr
    assert deployed.returncode == 0, deployed.stderr
    assert "run as root" not in deployed.stderr
    assert os.stat(str(shared_dir)).st_uid == accounts.uid(user)
    assert status.returncode == 0 and len(status.stdout.splitlines()) == 4, status.stderr
    assert outsider.returncode == 4
    assert "Permission denied" in outsider.stdout + outsider.stderr
    assert rotated.returncode == 0, rotated.stderr
    assert f"as {user} or root, run 'kill -HUP {pid}'" in rotated.stderr
    assert hup.returncode == 0 and answered
    assert down.returncode == 0, down.stderr
    assert not pid_alive(pid)


def wait_for(predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False
