"""When control of a running supervisord is lost or contested: run/ removed under it,
a key it refuses, two ups at once, a deploy cancelled with SIGTERM, nonsense waits."""

import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import pid_alive, program_pids


def supervisords_running(install_dir, instance):
    """Return the pids of live processes running instance's config, from /proc."""
    config = str(install_dir / f"supervisord-{instance}.conf")
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                argv = fh.read().decode().split("\0")
        except (OSError, ValueError):
            continue
        if "-c" in argv and config in argv:
            found.append(int(entry))
    return found


def deployed_example(tool, install_dir):
    assert tool.run("--example", "--install-dir", install_dir, "deploy",
                    "--timeout", "60").returncode == 0
    # The pid files may go; the test still stops everything by pid.
    tool.track_install_pids()


def test_up_after_run_was_removed_starts_no_second_supervisord(tool, install_dir):
    deployed_example(tool, install_dir)
    first = {name: supervisords_running(install_dir, name) for name in ("jaws", "jtm")}
    programs = program_pids(install_dir, "jaws")
    shutil.rmtree(str(install_dir / "run"))

    up = tool.run("--install-dir", install_dir, "up")
    status = tool.run("--install-dir", install_dir, "status")
    again = {name: supervisords_running(install_dir, name) for name in ("jaws", "jtm")}
    kept = [pid for pid in programs.values() if pid_alive(pid)]
    down = tool.run("--install-dir", install_dir, "down")

    assert up.returncode == 4, up.stderr
    pid = first["jaws"][0]
    assert (f"supervisord of instance jaws (pid {pid}) runs, but its socket "
            f"{install_dir}/run/supervisord-jaws.sock was removed") in up.stderr
    assert "'down' stops it by its pid" in up.stderr and f"'kill -HUP {pid}'" in up.stderr
    # Both named in one go, not the first alone.
    assert f"supervisord of instance jtm (pid {first['jtm'][0]}) runs, but" in up.stderr
    assert again == first and all(len(pids) == 1 for pids in first.values())
    assert status.returncode == 4
    assert (f"jaws  unix://{install_dir}/run/supervisord-jaws.sock no such file: supervisord "
            f"of instance jaws (pid {pid}) runs, but its socket") in status.stderr
    assert kept == list(programs.values()) and len(kept) == 2
    assert down.returncode == 0, down.stderr
    assert f"jaws: socket removed; sent SIGTERM to its supervisord (pid {pid})" in down.stderr
    assert supervisords_running(install_dir, "jaws") == []
    assert supervisords_running(install_dir, "jtm") == []
    assert not any(pid_alive(p) for p in programs.values())


def test_a_removed_install_dir_names_the_supervisords_still_running_from_it(tool,
                                                                            install_dir):
    deployed_example(tool, install_dir)
    pids = {name: supervisords_running(install_dir, name)[0] for name in ("jaws", "jtm")}
    shutil.rmtree(str(install_dir))

    status = tool.run("--install-dir", install_dir, "status")
    down = tool.run("--install-dir", install_dir, "down")

    for result in (status, down):
        assert result.returncode == 4, result.stderr
        assert (f"no install here, yet supervisords started from it still run: jaws (pid "
                f"{pids['jaws']}), jtm (pid {pids['jtm']})") in result.stderr
        assert f"'kill {pids['jaws']} {pids['jtm']}' stops them" in result.stderr


def test_a_supervisord_refusing_a_rotated_key_is_named_and_down_stops_it(tool, install_dir):
    deployed_example(tool, install_dir)
    pid = supervisords_running(install_dir, "jtm")[0]
    assert tool.run("--install-dir", install_dir, "rotate-key", "jtm").returncode == 0

    up = tool.run("--install-dir", install_dir, "up")
    restart = tool.run("--install-dir", install_dir, "restart", "all")
    status = tool.run("--install-dir", install_dir, "status")
    down = tool.run("--install-dir", install_dir, "down")

    assert status.returncode == 4 and status.stdout.count(" RUNNING ") == 2
    assert ("jtm   Server requires authentication: supervisord of instance jtm (pid "
            f"{pid}) refuses the key") in status.stderr
    refused = (f"supervisord of instance jtm (pid {pid}) refuses the key in "
               f"{install_dir}/keys/jtm.key")
    assert up.returncode == 4 and refused in up.stderr and f"'kill -HUP {pid}'" in up.stderr
    assert restart.returncode == 4 and refused in restart.stderr
    assert down.returncode == 0, down.stderr
    assert f"jtm: key refused; sent SIGTERM to its supervisord (pid {pid})" in down.stderr
    assert supervisords_running(install_dir, "jtm") == []


def test_two_ups_at_once_take_turns_and_start_each_supervisord_once(tool, install_dir):
    deployed_example(tool, install_dir)
    assert tool.run("--install-dir", install_dir, "down").returncode == 0
    argv = [tool.python, str(tool.pyz), "--install-dir", str(install_dir), "up"]

    ups = [subprocess.Popen(argv, stderr=subprocess.PIPE, universal_newlines=True,
                            env=tool.env) for _ in range(3)]
    for up in ups:
        tool.extra_pids.append(up.pid)
    results = [(up.wait(timeout=120), up.stderr.read()) for up in ups]
    tool.track_install_pids()

    assert [code for code, _ in results] == [0, 0, 0], results
    texts = "".join(text for _, text in results)
    assert texts.count("jaws: started") == 1 and texts.count("jaws: already running") == 2
    for name in ("jaws", "jtm"):
        assert len(supervisords_running(install_dir, name)) == 1


def test_a_deploy_cancelled_with_sigterm_says_so_and_lets_go_of_the_lock(tool, install_dir,
                                                                         tmp_path):
    site = tmp_path / "slow.toml"
    site.write_text(f'deployment = "slow"\ninstall_dir = "{install_dir}"\n'
                    "[instances.jaws.programs.slow]\n"
                    'command = "/bin/sleep 300"\nstartsecs = 60\n'
                    "[instances.jtm.programs.other]\n"
                    'command = "/bin/sleep 300"\n')
    tool.track(install_dir)
    deploy = subprocess.Popen([tool.python, str(tool.pyz), "--config", str(site), "deploy",
                               "--timeout", "90"], stderr=subprocess.PIPE,
                              universal_newlines=True, env=tool.env)
    tool.extra_pids.append(deploy.pid)
    deadline = time.monotonic() + 60
    while not list(install_dir.glob("run/*.pid")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)
    deploy.send_signal(signal.SIGTERM)
    code = deploy.wait(timeout=60)
    stderr = deploy.stderr.read()
    init = tool.run("--config", site, "init", env=dict(tool.env,
                                                       JAWS_BOOTSTRAP_LOCK_TIMEOUT="5"))

    assert code == 143, stderr
    assert stderr.rstrip().endswith("jaws-bootstrap: terminated (SIGTERM)"), stderr
    assert init.returncode == 0, init.stderr
    assert "waiting for another" not in init.stderr


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_a_wait_must_be_a_number_of_seconds_above_zero(tool, install_dir, value):
    result = tool.run("--example", "--install-dir", install_dir, "deploy",
                      "--timeout", value)

    assert result.returncode == 2
    assert f"argument --timeout: '{value}' is not a number of seconds above 0" \
        in result.stderr
    assert not install_dir.exists()


def test_a_symlink_among_program_logs_does_not_stop_down(tool, install_dir):
    deployed_example(tool, install_dir)
    (install_dir / "logs" / "jaws" / "current").symlink_to("/nonexistent")

    status = tool.run("--install-dir", install_dir, "restart", "all")
    down = tool.run("--install-dir", install_dir, "down")
    up = tool.run("--install-dir", install_dir, "up")

    assert status.returncode == 0, status.stderr
    assert down.returncode == 0, down.stderr
    # up starts supervisords, which open files in there: it still refuses.
    assert up.returncode == 2
    assert f"{install_dir}/logs/jaws/current: is a symbolic link" in up.stderr
