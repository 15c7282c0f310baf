"""The single file end to end: deploy, status, launchers without the .pyz, down."""

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import (PYTHONS, children_of, pid_alive, program_pids, staging_site,
                      supervisorctl)


def supervisord_pids(install_dir):
    pids = []
    for name in ("jaws", "jtm"):
        path = Path(install_dir) / "run" / f"supervisord-{name}.pid"
        pids.append(int(path.read_text().strip()))
    return pids


def test_deploy_example_runs_both_instances_under_each_python(any_tool, install_dir,
                                                              tmp_path):
    own_copy = tmp_path / "jaws-bootstrap.pyz"
    shutil.copy(str(any_tool.pyz), str(own_copy))
    any_tool.pyz = own_copy

    deployed = any_tool.run("--example", "--install-dir", install_dir, "deploy",
                            "--timeout", "60")
    status = any_tool.run("--install-dir", install_dir, "status")

    assert deployed.returncode == 0, deployed.stderr
    daemons = supervisord_pids(install_dir)
    assert len(daemons) == 2 and all(pid_alive(p) for p in daemons)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert len(lines) == 4 and all(" RUNNING " in line for line in lines)
    programs = [p for d in daemons for p in children_of(d)]
    assert len(programs) >= 4

    own_copy.unlink()
    native = supervisorctl(install_dir, "jtm", "status")
    assert native.returncode == 0 and "jaws-example:jaws-cromwell" in native.stdout

    down = subprocess.run([any_tool.python, "-I", str(install_dir / "bin" / "jaws-bootstrap"),
                           "--install-dir", str(install_dir), "down"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert not [p for p in daemons + programs if pid_alive(p)]


@pytest.mark.parametrize("version", ["3.6", "3.7"])
def test_old_python_without_setuptools_deploys(version, tool, install_dir, tmp_path):
    if version not in PYTHONS:
        pytest.skip(f"Python {version} is not installed on this machine")
    venv = tmp_path / "bare"
    subprocess.run([PYTHONS[version], "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = str(venv / "bin" / "python")
    probe = subprocess.run([python, "-c", "import pkg_resources"], stderr=subprocess.PIPE,
                           timeout=60)
    assert probe.returncode != 0, "the bare venv must not reach setuptools"

    deployed = tool.run("--example", "--install-dir", install_dir, "deploy",
                        "--timeout", "60", python=python)
    status = tool.run("--install-dir", install_dir, "status", python=python)

    assert deployed.returncode == 0, deployed.stderr
    assert status.returncode == 0 and status.stdout.count(" RUNNING ") == 4


def test_staging_site_group_stops_with_bundled_supervisorctl(tool, install_dir, tmp_path):
    site = staging_site(tmp_path, install_dir)
    deployed = tool.run("--config", site, "deploy", "--timeout", "60")
    assert deployed.returncode == 0, deployed.stderr
    before = program_pids(install_dir, "jaws")
    assert set(before) == {"jaws-staging:jaws-site-daemon", "jaws-staging:jaws-site-jtm-rpc",
                           "jaws-staging:jaws-site-central-rpc"}
    assert set(program_pids(install_dir, "jtm")) == {"jaws-staging:jaws-jtm",
                                                     "jaws-staging:jaws-cromwell"}

    stopped = supervisorctl(install_dir, "jaws", "stop", "jaws-staging:*")
    status = tool.run("--install-dir", install_dir, "status")

    assert stopped.returncode == 0, stopped.stdout
    assert not [p for p in before.values() if pid_alive(p)]
    assert status.returncode == 3
    jaws_lines = [line for line in status.stdout.splitlines() if line.startswith("jaws ")]
    assert len(jaws_lines) == 3 and all(" STOPPED " in line for line in jaws_lines)


def test_status_exits_4_when_an_instance_is_down(tool, install_dir, tmp_path):
    site = staging_site(tmp_path, install_dir)
    assert tool.run("--config", site, "deploy", "--timeout", "60").returncode == 0
    assert tool.run("--install-dir", install_dir, "down", "jtm").returncode == 0

    status = tool.run("--install-dir", install_dir, "status")

    assert status.returncode == 4
    assert "jtm" in status.stderr and "no such file" in status.stderr
    assert status.stdout.count(" RUNNING ") == 3


def test_init_twice_changes_nothing_and_starts_nothing(tool, install_dir, tmp_path):
    site = staging_site(tmp_path, install_dir)
    first = tool.run("--config", site, "init")
    snapshot = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in install_dir.rglob("*")
                if p.is_file() and p.name != ".lock"}

    second = tool.run("--config", site, "init")

    assert first.returncode == 0 and second.returncode == 0, second.stderr
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in install_dir.rglob("*")
             if p.is_file() and p.name != ".lock"}
    assert after == snapshot
    assert not list((install_dir / "run").glob("*.pid"))


def test_init_compiles_supervisords_and_status_modules_once(tool, install_dir, tmp_path):
    site = staging_site(tmp_path, install_dir)
    # Even where the environment asks Python itself not to write bytecode.
    env = dict(tool.env, PYTHONDONTWRITEBYTECODE="1")
    tag = subprocess.run([tool.python, "-c", "import sys; print(sys.implementation.cache_tag)"],
                         stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()

    result = tool.run("--config", site, "init", env=env)

    assert result.returncode == 0, result.stderr
    (packages,) = install_dir.glob("lib/*/site-packages")
    for module in ("supervisor/supervisord", "supervisor/options", "supervisor/process",
                   "bootstrap/rpcext", "bootstrap/quick", "bootstrap/quickcall"):
        folder, name = module.split("/")
        assert (packages / folder / "__pycache__" / f"{name}.{tag}.pyc").is_file(), module
    assert not list((install_dir / "run").glob("*.pid"))


def test_init_writes_private_configs_keys_and_sockets(tool, install_dir, tmp_path):
    site = staging_site(tmp_path, install_dir)

    assert tool.run("--config", site, "deploy", "--timeout", "60").returncode == 0

    for name in ("jaws", "jtm"):
        conf = install_dir / f"supervisord-{name}.conf"
        key = install_dir / "keys" / f"{name}.key"
        sock = install_dir / "run" / f"supervisord-{name}.sock"
        assert oct(conf.stat().st_mode & 0o777) == "0o640"
        assert oct(key.stat().st_mode & 0o777) == "0o640"
        assert oct(sock.stat().st_mode & 0o777) == "0o770"
        assert len(key.read_text().strip()) >= 22  # >= 128 bits in url-safe base64
        assert "inet_http_server" not in conf.read_text()
    keys = {(install_dir / "keys" / f"{n}.key").read_text() for n in ("jaws", "jtm")}
    assert len(keys) == 2


def test_home_unset_or_unwritable_gets_nothing_written(tool, install_dir, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o555)
    no_home = {k: v for k, v in tool.env.items() if k != "HOME"}

    unset = tool.run("--example", "--install-dir", install_dir, "deploy", env=no_home)
    readonly = tool.run("--install-dir", install_dir, "status", env=dict(no_home, HOME=str(home)))

    assert unset.returncode == 0, unset.stderr
    assert readonly.returncode == 0, readonly.stderr
    assert list(home.iterdir()) == []


def test_long_install_dir_is_refused_before_anything_starts(tool, tmp_path):
    deep = tmp_path / ("d" * 90)

    result = tool.run("--example", "--install-dir", deep, "deploy")

    assert result.returncode == 2
    assert "too long" in result.stderr and "socket" in result.stderr
    assert not deep.exists()


def test_unknown_instance_is_a_usage_error(tool, install_dir):
    assert tool.run("--example", "--install-dir", install_dir, "init").returncode == 0

    result = tool.run("--install-dir", install_dir, "up", "nosuch")

    assert result.returncode == 2
    assert 'no instance "nosuch"' in result.stderr


def test_status_without_install_says_how_to_make_one(tool, install_dir):
    result = tool.run("--install-dir", install_dir, "status")

    assert result.returncode == 1
    assert "no install here" in result.stderr and "Traceback" not in result.stderr


def test_programs_do_not_inherit_ci_job_variables(tool, install_dir, tmp_path):
    env = dict(tool.env, CI_JOB_TOKEN="secret-token-xyz", PYTHONPATH="/nowhere",
               SHIV_ROOT="/nowhere", LANG="C.UTF-8")

    deployed = tool.run("--example", "--install-dir", install_dir, "deploy", env=env)

    assert deployed.returncode == 0, deployed.stderr
    daemons = supervisord_pids(install_dir)
    for pid in daemons + [p for d in daemons for p in children_of(d)]:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        names = {item.split(b"=", 1)[0] for item in environ if item}
        assert b"CI_JOB_TOKEN" not in names
        assert b"PYTHONPATH" not in names and b"SHIV_ROOT" not in names
        assert b"LANG=C.UTF-8" in environ


def test_logs_and_files_of_services_are_not_world_readable(tool, install_dir):
    assert tool.run("--example", "--install-dir", install_dir, "deploy").returncode == 0

    logs = list((install_dir / "logs").rglob("*.log"))

    assert logs
    assert all(p.stat().st_mode & 0o007 == 0 for p in logs)
