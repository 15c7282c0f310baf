"""Hosts that bite: /tmp mounted noexec, interrupted unpacks, locks held by others."""

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile

import pytest


@pytest.fixture
def noexec_dir(tool):
    """A tmpfs mounted noexec, like a hardened /tmp; needs root."""
    base = tempfile.mkdtemp(prefix="jb-noexec-", dir="/tmp")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "noexec,size=128m", "tmpfs", base],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if mounted.returncode != 0:
        os.rmdir(base)
        pytest.skip(f"cannot mount a noexec tmpfs here: {mounted.stderr.decode().strip()}")
    yield base
    tool.cleanup()
    subprocess.run(["umount", base], check=True)
    os.rmdir(base)


def test_deploy_works_when_install_dir_is_noexec(tool, noexec_dir):
    install_dir = os.path.join(noexec_dir, "inst")

    deployed = tool.run("--example", "--install-dir", install_dir, "deploy", "--timeout", "60")
    native = subprocess.run([sys.executable, "-I", f"{install_dir}/bin/supervisorctl", "-c",
                             f"{install_dir}/supervisord-jaws.conf", "status"],
                            stdout=subprocess.PIPE, universal_newlines=True, timeout=60)

    assert deployed.returncode == 0, deployed.stderr
    assert native.returncode == 0 and native.stdout.count("RUNNING") == 2
    with pytest.raises(PermissionError):
        subprocess.run([f"{install_dir}/bin/supervisorctl", "--help"], timeout=60)


def build_id_of(pyz):
    with zipfile.ZipFile(str(pyz)) as zf:
        return json.loads(zf.read("environment.json").decode())["build_id"][:16]


def test_half_unpacked_tree_is_never_used(tool, install_dir):
    build_id = build_id_of(tool.pyz)
    partial = install_dir / "lib" / f"{build_id}.tmp-999999" / "site-packages" / "supervisor"
    partial.mkdir(parents=True)
    (partial / "__init__.py").write_text("raise ImportError('half unpacked')\n")

    result = tool.run("--example", "--install-dir", install_dir, "deploy", "--timeout", "60")

    assert result.returncode == 0, result.stderr
    assert not partial.exists()
    launcher = (install_dir / "bin" / "supervisord").read_text()
    assert f"lib/{build_id}/site-packages" in launcher


def test_held_lock_makes_init_wait_then_fail_clearly(tool, install_dir):
    assert tool.run("--example", "--install-dir", install_dir, "init").returncode == 0
    fd = os.open(str(install_dir / ".lock"), os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        env = dict(tool.env, JAWS_BOOTSTRAP_LOCK_TIMEOUT="1")
        result = tool.run("--example", "--install-dir", install_dir, "init", env=env)
    finally:
        os.close(fd)

    assert result.returncode == 1
    assert "another jaws-bootstrap still holds" in result.stderr


def test_launchers_and_daemons_never_run_the_hosts_pth_files(tool, install_dir, tmp_path):
    # A host Python whose site-packages holds a .pth file that runs code at every start.
    venv = tmp_path / "host-python"
    subprocess.run([tool.python, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site_packages,) = venv.glob("lib/python*/site-packages")
    marks = tmp_path / "pth-ran"
    (site_packages / "host-hook.pth").write_text(
        f"import os; open({str(marks)!r}, 'a').write(str(os.getpid()) + '\\n')\n")
    python = str(venv / "bin" / "python")

    deployed = tool.run("--example", "--install-dir", install_dir, "deploy", "--timeout", "60",
                        python=python)
    assert deployed.returncode == 0, deployed.stderr
    marks.unlink()
    # Run through their #! lines, as an operator runs them.
    status = subprocess.run([str(install_dir / "bin" / "jaws-bootstrap"), "status"],
                            stdout=subprocess.PIPE, universal_newlines=True, timeout=60)
    native = subprocess.run([str(install_dir / "bin" / "supervisorctl"), "-c",
                             str(install_dir / "supervisord-jaws.conf"), "status"],
                            stdout=subprocess.PIPE, universal_newlines=True, timeout=60)
    # A verb that goes through the bundled supervisorctl of each instance and starts
    # no program (programs run the site's commands, in whatever Python they name).
    mirrored = tool.run("--install-dir", install_dir, "avail", python=python)

    assert status.returncode == 0 and status.stdout.count("RUNNING") == 4
    assert native.returncode == 0 and native.stdout.count("RUNNING") == 2
    assert mirrored.returncode == 0 and mirrored.stdout.count("in use") == 4
    # Only the .pyz itself, run by that Python without flags, went through its site.
    ran = set(marks.read_text().split()) if marks.exists() else set()
    assert len(ran) == 1, ran


def test_a_hung_supervisord_is_reported_and_never_waited_on(tool, install_dir):
    assert tool.run("--example", "--install-dir", install_dir, "deploy",
                    "--timeout", "60").returncode == 0
    pid = int((install_dir / "run" / "supervisord-jtm.pid").read_text())
    env = dict(tool.env, JAWS_BOOTSTRAP_ANSWER_TIMEOUT="1")
    os.kill(pid, signal.SIGSTOP)
    try:
        began = time.monotonic()
        status = tool.run("--install-dir", install_dir, "status", env=env, timeout=60)
        status_took = time.monotonic() - began
        ctl = tool.run("--install-dir", install_dir, "ctl", "jtm", "status", timeout=60)
        restart = tool.run("--install-dir", install_dir, "restart", "all", env=env, timeout=60)
        down = tool.run("--install-dir", install_dir, "down", "jtm", env=env, timeout=60)
        began = time.monotonic()
        deploy = tool.run("--example", "--install-dir", install_dir, "deploy", timeout=60)
        deploy_took = time.monotonic() - began
    finally:
        os.kill(pid, signal.SIGCONT)

    assert status.returncode == 4
    assert status.stdout.count(" RUNNING ") == 2
    assert f"jtm   supervisord of instance jtm (pid {pid}) is stopped" in status.stderr
    assert status_took < 1  # read from /proc: not even the 1 s answer timeout
    assert ctl.returncode == 4 and f"'kill -CONT {pid}'" in ctl.stderr
    assert restart.returncode == 4, restart.stderr
    assert restart.stdout.count("jaws-example:") == 4  # jaws's two, stopped and started
    assert (f"jtm   error: supervisord of instance jtm (pid {pid}) is stopped (SIGSTOP or a "
            f"debugger) and answers nothing; 'kill -CONT {pid}' lets it go on") in restart.stderr
    assert down.returncode == 4 and f"'kill -CONT {pid}'" in down.stderr
    # Told from /proc: not one question waits out the 10 s answer timeout.
    assert deploy.returncode == 4 and f"'kill -CONT {pid}'" in deploy.stderr
    assert deploy_took < 10
    after = tool.run("--install-dir", install_dir, "status")
    assert after.returncode == 0 and after.stdout.count(" RUNNING ") == 4


def test_a_silent_supervisord_is_named_after_the_answer_timeout(tool, install_dir):
    assert tool.run("--example", "--install-dir", install_dir, "deploy",
                    "--timeout", "60").returncode == 0
    assert tool.run("--install-dir", install_dir, "down", "jtm").returncode == 0
    sock = install_dir / "run" / "supervisord-jtm.sock"
    # Takes connections on the instance's socket and never answers, like a wedged one.
    silent = subprocess.Popen([sys.executable, "-c", SILENT, str(sock),
                               str(install_dir / "supervisord-jtm.conf")])
    tool.extra_pids.append(silent.pid)
    (install_dir / "run" / "supervisord-jtm.pid").write_text(f"{silent.pid}\n")
    env = dict(tool.env, JAWS_BOOTSTRAP_ANSWER_TIMEOUT="1")
    try:
        _wait_for(sock.exists)
        down = tool.run("--install-dir", install_dir, "down", env=env, timeout=60)
    finally:
        silent.kill()
        silent.wait()

    assert down.returncode == 4, down.stderr
    assert "jaws: stopped" in down.stderr
    assert (f"supervisord of instance jtm (pid {silent.pid}) runs but does not answer on "
            f"{sock} within 1s") in down.stderr
    assert f"'kill {silent.pid}' stops it" in down.stderr


SILENT = """
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(5)
time.sleep(120)
"""


def _wait_for(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_down_stops_the_supervisord_that_answers_not_the_pid_files(tool, install_dir):
    assert tool.run("--example", "--install-dir", install_dir, "deploy",
                    "--timeout", "60").returncode == 0
    real = int((install_dir / "run" / "supervisord-jaws.pid").read_text())
    decoy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    tool.extra_pids.append(decoy.pid)
    (install_dir / "run" / "supervisord-jaws.pid").write_text(f"{decoy.pid}\n")

    down = tool.run("--install-dir", install_dir, "down", "jaws", timeout=60)

    assert down.returncode == 0, down.stderr
    assert down.stderr.strip() == "jaws: stopped"
    assert not os.path.exists(f"/proc/{real}") or _is_zombie(real)
    assert decoy.poll() is None
    decoy.kill()
    decoy.wait()


def _is_zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_command_whose_build_was_removed_while_it_waited_says_so(tool, install_dir):
    assert tool.run("--example", "--install-dir", install_dir, "init").returncode == 0
    (build,) = (install_dir / "lib").iterdir()
    fd = os.open(str(install_dir / ".lock"), os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        waiting = subprocess.Popen(
            [tool.python, str(install_dir / "bin" / "jaws-bootstrap"), "--example",
             "--install-dir", str(install_dir), "init"],
            stderr=subprocess.PIPE, universal_newlines=True, env=tool.env)
        tool.extra_pids.append(waiting.pid)
        time.sleep(2)  # it has imported what it needs and waits for the lock
        # What a deploy of a newer build does to a build nothing uses any more.
        shutil.rmtree(str(build))
    finally:
        os.close(fd)
    _, err = waiting.communicate(timeout=60)

    assert waiting.returncode == 1
    assert f"build {build.name}, which this command runs from" in err
    assert "a newer build was deployed meanwhile; run the command again" in err
