"""rollback of the built .pyz: previous/ holds the last good set and only that."""

import pytest

from conftest import PYTHONS, Tool, program_pids
from deploysites import basic_programs, config_bytes, program, write_site


def deploy(tool, tmp_path, install_dir, programs, name):
    site = write_site(tmp_path, install_dir, programs, name=name)
    return tool.run("--config", site, "--install-dir", install_dir, "deploy",
                    "--timeout", "60")


def rollback(tool, install_dir):
    return tool.run("--install-dir", install_dir, "rollback", "--timeout", "60")


def running(install_dir):
    return set(program_pids(install_dir, "jaws")) | set(program_pids(install_dir, "jtm"))


def bad_programs(tmp_path):
    """alpha gone, a new crashing delta: a deploy of these fails."""
    return basic_programs(tmp_path, alpha=None, delta=program(tmp_path, "delta", crash=True))


def test_rollback_after_failed_deploy_brings_back_previous_programs(tool, tmp_path,
                                                                    install_dir):
    assert deploy(tool, tmp_path, install_dir, basic_programs(tmp_path), "a.toml").returncode == 0
    good = config_bytes(install_dir)
    assert deploy(tool, tmp_path, install_dir, bad_programs(tmp_path), "b.toml").returncode == 1

    result = rollback(tool, install_dir)

    assert result.returncode == 0, result.stderr
    assert running(install_dir) == {"jaws-dep:alpha", "jaws-dep:beta", "jaws-dep:gamma"}
    assert config_bytes(install_dir) == good
    status = tool.run("--install-dir", install_dir, "status")
    assert status.returncode == 0, status.stdout


def test_failed_deploys_never_overwrite_the_last_good_set(tool, tmp_path, install_dir):
    deploy(tool, tmp_path, install_dir, basic_programs(tmp_path), "a.toml")
    good = config_bytes(install_dir)
    changed = basic_programs(tmp_path, beta=program(tmp_path, "beta", "--v2"))
    assert deploy(tool, tmp_path, install_dir, changed, "b.toml").returncode == 0
    for name in ("c.toml", "d.toml"):
        crashing = basic_programs(tmp_path, beta=program(tmp_path, "beta", name, crash=True))
        assert deploy(tool, tmp_path, install_dir, crashing, name).returncode == 1

    result = rollback(tool, install_dir)

    assert result.returncode == 0, result.stderr
    assert config_bytes(install_dir) != good
    assert b"--v2" in config_bytes(install_dir)["supervisord-jaws.conf"]


def test_rejected_config_never_reaches_previous(tool, tmp_path, install_dir):
    deploy(tool, tmp_path, install_dir, basic_programs(tmp_path), "a.toml")
    good = config_bytes(install_dir)
    changed = basic_programs(tmp_path, beta=program(tmp_path, "beta", "--v2"))
    deploy(tool, tmp_path, install_dir, changed, "b.toml")
    rejected = basic_programs(tmp_path, beta=program(tmp_path, "beta",
                                                     options='stopsignal = "NOPE"\n'))
    assert deploy(tool, tmp_path, install_dir, rejected, "c.toml").returncode == 2

    result = rollback(tool, install_dir)

    assert result.returncode == 0, result.stderr
    assert config_bytes(install_dir) == good


def test_rollback_of_a_good_deploy_can_be_undone(tool, tmp_path, install_dir):
    deploy(tool, tmp_path, install_dir, basic_programs(tmp_path), "a.toml")
    first = config_bytes(install_dir)
    changed = basic_programs(tmp_path, beta=program(tmp_path, "beta", "--v2"))
    deploy(tool, tmp_path, install_dir, changed, "b.toml")
    second = config_bytes(install_dir)

    back = rollback(tool, install_dir)
    at_back = config_bytes(install_dir)
    forth = rollback(tool, install_dir)

    assert (back.returncode, forth.returncode) == (0, 0), back.stderr + forth.stderr
    assert at_back == first
    assert config_bytes(install_dir) == second


def test_rollback_without_previous_set_says_so(tool, tmp_path, install_dir):
    deploy(tool, tmp_path, install_dir, basic_programs(tmp_path), "a.toml")
    pids = program_pids(install_dir, "jaws")

    result = rollback(tool, install_dir)

    assert result.returncode == 1
    assert "no previous configs to roll back to" in result.stderr
    assert program_pids(install_dir, "jaws") == pids


def test_rollback_keeps_a_key_that_changed_since(tool, tmp_path, install_dir):
    deploy(tool, tmp_path, install_dir, basic_programs(tmp_path), "a.toml")
    tool.run("--install-dir", install_dir, "down")
    (install_dir / "keys" / "jaws.key").write_text("a-newer-key-of-enough-length-0123456789\n")
    assert deploy(tool, tmp_path, install_dir, basic_programs(tmp_path),
                  "a.toml").returncode == 0

    result = rollback(tool, install_dir)

    assert result.returncode == 0, result.stderr
    config = (install_dir / "supervisord-jaws.conf").read_text()
    assert "password=a-newer-key-of-enough-length-0123456789" in config
    assert program_pids(install_dir, "jaws")


def test_rollback_shuts_down_an_instance_the_previous_set_lacks(tool, tmp_path, install_dir):
    deploy(tool, tmp_path, install_dir, basic_programs(tmp_path), "a.toml")
    more = dict(basic_programs(tmp_path), aux={"omega": program(tmp_path, "omega")})
    assert deploy(tool, tmp_path, install_dir, more, "b.toml").returncode == 0
    aux_pid = int((install_dir / "run" / "supervisord-aux.pid").read_text())

    result = rollback(tool, install_dir)

    assert result.returncode == 0, result.stderr
    assert "aux: stopped" in result.stderr
    assert not (install_dir / "run" / "supervisord-aux.pid").exists()
    status = tool.run("--install-dir", install_dir, "status")
    assert status.returncode == 0 and "aux" not in status.stdout
    assert aux_pid not in tool.supervisord_pids()


@pytest.fixture
def oldest_tool(pyz):
    """The .pyz under the oldest CPython present (3.6 where there is one)."""
    version = min(PYTHONS, key=lambda v: int(v.split(".")[1]))
    oldest = Tool(pyz, PYTHONS[version], version)
    yield oldest
    oldest.cleanup()


def test_change_fail_and_rollback_under_the_oldest_python(oldest_tool, tmp_path,
                                                          install_dir):
    first = deploy(oldest_tool, tmp_path, install_dir, basic_programs(tmp_path), "a.toml")
    pids = program_pids(install_dir, "jaws")
    changed = basic_programs(tmp_path, beta=program(tmp_path, "beta", "--v2"))
    second = deploy(oldest_tool, tmp_path, install_dir, changed, "b.toml")
    moved = {s for s, p in program_pids(install_dir, "jaws").items() if pids.get(s) != p}
    failed = deploy(oldest_tool, tmp_path, install_dir, bad_programs(tmp_path), "c.toml")

    result = rollback(oldest_tool, install_dir)

    assert (first.returncode, second.returncode, failed.returncode) == (0, 0, 1)
    assert moved == {"jaws-dep:beta"}
    assert result.returncode == 0, result.stderr
    assert b"--v2" in config_bytes(install_dir)["supervisord-jaws.conf"]
    assert running(install_dir) == {"jaws-dep:alpha", "jaws-dep:beta", "jaws-dep:gamma"}
