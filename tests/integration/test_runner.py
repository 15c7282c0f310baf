"""The GitLab runner: `runner run` in the foreground and the supervised program.

gitlab-runner itself is the stand-in tests/standin_gitlab_runner.py, which records
its arguments, environment and the signals it gets beside its config file.
"""

import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import pid_alive, program_pids, staging_site, supervisorctl

STANDIN = Path(__file__).resolve().parent.parent / "standin_gitlab_runner.py"
WAIT = 120


class RunnerFiles:
    """The stand-in binary, its config and working directory, and what it recorded."""

    def __init__(self, directory):
        directory = Path(directory)
        self.binary = directory / "ci" / "bin" / "gitlab-runner"
        self.config = directory / "ci" / "config" / "config.toml"
        self.state = self.config.parent
        self.work = directory / "ci" / "work"
        for path in (self.binary.parent, self.state, self.work):
            path.mkdir(parents=True, exist_ok=True)
        self.binary.write_text(f"#!{sys.executable}\n" + STANDIN.read_text())
        self.binary.chmod(0o755)
        self.config.write_text('concurrent = 1\ncheck_interval = 0\n')

    def section(self, supervised=True, mark="one", extra=""):
        return (f'\n[runner]\ncommand = "{self.binary}"\nconfig = "{self.config}"\n'
                f'working_directory = "{self.work}"\nsupervised = {str(supervised).lower()}\n'
                f"stopwaitsecs = 30\n"
                f'environment = {{ RUNNER_MARK = "{mark}", RATE = "100%" }}\n' + extra)

    def records(self, event=None):
        path = self.state / "record.jsonl"
        if not path.exists():
            return []
        rows = [json.loads(line) for line in path.read_text().splitlines() if line]
        return [r for r in rows if event is None or r["event"] == event]

    def wait_for(self, what, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = what()
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting; records: {self.records()}")

    def run_job(self, argv, timeout=WAIT):
        """Have the running stand-in start argv as its job; return the job's result."""
        result = self.state / "job-result.json"
        tmp = self.state / "job.json.tmp"
        tmp.write_text(json.dumps({"argv": [str(a) for a in argv]}))
        os.replace(str(tmp), str(self.state / "job.json"))
        self.wait_for(result.exists, timeout)
        return json.loads(result.read_text())

    def job_stderr(self):
        return (self.state / "job-stderr.txt").read_text()


@pytest.fixture
def ci(tmp_path):
    return RunnerFiles(tmp_path)


@pytest.fixture
def supervised(tool, install_dir, tmp_path, ci):
    """A staging deploy whose jaws instance supervises the stand-in runner."""
    tool.env["CI_JOB_TOKEN"] = "job-token-that-must-not-leak"
    site = staging_site(tmp_path, install_dir, extra=ci.section())
    deployed = tool.run("--config", site, "deploy", "--timeout", "90")
    assert deployed.returncode == 0, deployed.stderr
    ci.wait_for(lambda: ci.records("start"))
    return site


def runner_pid(install_dir):
    return program_pids(install_dir, "jaws").get("gitlab-runner")


def test_supervised_runner_gets_arguments_and_environment(supervised, install_dir, ci):
    start, = ci.records("start")

    assert start["argv"] == [str(ci.binary), "run", "--config", str(ci.config),
                             "--working-directory", str(ci.work)]
    assert start["cwd"] == str(ci.work)
    assert start["env"]["RUNNER_MARK"] == "one" and start["env"]["RATE"] == "100%"
    assert "CI_JOB_TOKEN" not in start["env"]
    assert runner_pid(install_dir) == start["pid"]


def test_runner_status_reports_running_runner(supervised, tool, install_dir, ci):
    status = tool.run("--install-dir", install_dir, "runner", "status")

    assert status.returncode == 0, status.stderr
    assert "gitlab-runner" in status.stdout and " RUNNING " in status.stdout
    assert f"pid {ci.records('start')[0]['pid']}," in status.stdout


def test_runner_stop_sends_sigquit_and_waits_for_exit(supervised, tool, install_dir, ci):
    pid = ci.records("start")[0]["pid"]

    stopped = tool.run("--install-dir", install_dir, "runner", "stop")
    status = tool.run("--install-dir", install_dir, "runner", "status")

    assert stopped.returncode == 0, stopped.stderr
    assert "SIGQUIT sent to pid" in stopped.stderr
    assert not pid_alive(pid)
    assert [r["signal"] for r in ci.records("signal")] == ["SIGQUIT"]
    assert ci.records("exit") == [{"event": "exit", "status": 0, "pid": pid}]
    assert status.returncode == 3 and " STOPPED " in status.stdout


def test_group_stop_leaves_runner_running(supervised, install_dir, ci):
    pid = ci.records("start")[0]["pid"]

    result = supervisorctl(install_dir, "jaws", "stop", "jaws-staging:*")

    assert result.returncode == 0, result.stdout
    assert runner_pid(install_dir) == pid and not ci.records("signal")


def test_runner_logs_show_runner_output(supervised, tool, install_dir, ci):
    pid = ci.records("start")[0]["pid"]

    logs = tool.run("--install-dir", install_dir, "runner", "logs", "-n", "5")

    assert logs.returncode == 0, logs.stderr
    assert f"stand-in gitlab-runner: running (pid {pid})" in logs.stdout


def test_runner_start_after_stop_starts_new_process(supervised, tool, install_dir, ci):
    tool.run("--install-dir", install_dir, "runner", "stop")

    started = tool.run("--install-dir", install_dir, "runner", "start")

    assert started.returncode == 0, started.stderr
    first, second = ci.records("start")
    assert runner_pid(install_dir) == second["pid"] != first["pid"]


def test_deploy_from_outside_restarts_changed_runner(supervised, tool, install_dir,
                                                      tmp_path, ci):
    old = ci.records("start")[0]["pid"]
    site = staging_site(tmp_path, install_dir, extra=ci.section(mark="two"))

    deployed = tool.run("--config", site, "deploy", "--timeout", "90")

    assert deployed.returncode == 0, deployed.stderr
    assert ci.records("signal") == [{"event": "signal", "signal": "SIGQUIT", "pid": old}]
    new = ci.records("start")[-1]
    assert new["env"]["RUNNER_MARK"] == "two" and runner_pid(install_dir) == new["pid"]


def deploy_from_runner_job(tool, install_dir, tmp_path, ci):
    """Change the runner's environment with a deploy run as a job of the runner."""
    site = staging_site(tmp_path, install_dir, extra=ci.section(mark="two"))
    return ci.run_job([tool.python, tool.pyz, "--config", site, "deploy", "--timeout", "90"])


def test_deploy_inside_runner_job_keeps_runner_pid(supervised, tool, install_dir,
                                                    tmp_path, ci):
    pid = ci.records("start")[0]["pid"]

    result = deploy_from_runner_job(tool, install_dir, tmp_path, ci)

    assert result["status"] == 0, ci.job_stderr()
    assert "left gitlab-runner as it is" in ci.job_stderr()
    assert "runner restart" in ci.job_stderr()
    assert runner_pid(install_dir) == pid and pid_alive(pid)
    assert not ci.records("signal") and len(ci.records("start")) == 1
    status = tool.run("--install-dir", install_dir, "runner", "status")
    assert status.returncode == 0 and "waits for 'runner restart'" in status.stdout


def test_runner_restart_applies_config_a_deploy_kept(supervised, tool, install_dir,
                                                      tmp_path, ci):
    old = ci.records("start")[0]["pid"]
    deploy_from_runner_job(tool, install_dir, tmp_path, ci)

    restarted = tool.run("--install-dir", install_dir, "runner", "restart")

    assert restarted.returncode == 0, restarted.stderr
    assert ci.records("signal") == [{"event": "signal", "signal": "SIGQUIT", "pid": old}]
    new = ci.records("start")[-1]
    assert new["env"]["RUNNER_MARK"] == "two" and runner_pid(install_dir) == new["pid"]


def test_runner_run_replaces_the_tool_process(any_tool, install_dir, tmp_path, ci):
    site = staging_site(tmp_path, install_dir, extra=ci.section(supervised=False))
    env = dict(any_tool.env, CI_JOB_TOKEN="job-token-that-must-not-leak")
    child = any_tool.popen("--config", site, "runner", "run", env=env,
                           stderr=subprocess.PIPE, universal_newlines=True)
    start, = ci.wait_for(lambda: ci.records("start"))
    os.kill(child.pid, signal.SIGQUIT)
    status = child.wait(timeout=WAIT)

    assert start["pid"] == child.pid
    assert start["argv"] == [str(ci.binary), "run", "--config", str(ci.config),
                             "--working-directory", str(ci.work)]
    assert start["cwd"] == str(ci.work) and start["env"]["RUNNER_MARK"] == "one"
    assert "CI_JOB_TOKEN" not in start["env"]
    assert status == 0, child.stderr.read()


def drop_file_access_override():
    # Root reads every file; without these two capabilities it obeys modes.
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def break_missing_binary(ci):
    ci.binary.unlink()
    return "runner.command", ci.binary, "no such file"


def break_binary_mode(ci):
    ci.binary.chmod(0o644)
    return "runner.command", ci.binary, "not a file executable"


def break_missing_config(ci):
    ci.config.unlink()
    return "runner.config", ci.config, "no such file"


def break_config_mode(ci):
    ci.config.chmod(0o000)
    return "runner.config", ci.config, "not a file readable"


@pytest.mark.parametrize("breakage", [break_missing_binary, break_binary_mode,
                                      break_missing_config, break_config_mode])
def test_runner_run_names_unusable_file_and_exits_2(breakage, tool, install_dir, tmp_path,
                                                    ci):
    site = staging_site(tmp_path, install_dir, extra=ci.section(supervised=False))
    key, path, reason = breakage(ci)

    result = subprocess.run([tool.python, str(tool.pyz), "--config", str(site), "runner",
                             "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=WAIT, env=tool.env,
                            preexec_fn=drop_file_access_override if os.geteuid() == 0
                            else None)

    assert result.returncode == 2, result.stderr
    assert f"error: {key}: {path}: {reason}" in result.stderr
    assert "Traceback" not in result.stderr and not ci.records()


def test_deploy_with_missing_runner_binary_exits_2(tool, install_dir, tmp_path, ci):
    site = staging_site(tmp_path, install_dir, extra=ci.section())
    ci.binary.unlink()

    result = tool.run("--config", site, "deploy", "--timeout", "60")

    assert result.returncode == 2
    assert f"runner.command: {ci.binary}: no such file" in result.stderr
    assert not (Path(install_dir) / "run" / "supervisord-jaws.pid").exists()


def test_runner_stop_inside_its_own_job_refuses(supervised, tool, install_dir, ci):
    pid = ci.records("start")[0]["pid"]

    result = ci.run_job([tool.python, tool.pyz, "--install-dir", install_dir,
                         "runner", "stop"])

    assert result["status"] == 1
    assert f"runs inside a job of gitlab-runner (pid {pid})" in ci.job_stderr()
    assert runner_pid(install_dir) == pid and not ci.records("signal")


@pytest.mark.parametrize("extra, message", [
    ('user = "jaws"\n', "runner.user: the runner runs as the account of its instance"),
    ('instance = "nowhere"\n', 'runner.instance: no instance "nowhere"'),
])
def test_runner_section_mistake_exits_2(extra, message, tool, install_dir, tmp_path, ci):
    site = staging_site(tmp_path, install_dir, extra=ci.section(extra=extra))

    result = tool.run("--config", site, "runner", "run")

    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_relative_runner_config_exits_2(tool, install_dir, tmp_path, ci):
    section = ci.section().replace(f'config = "{ci.config}"', 'config = "config.toml"')
    site = staging_site(tmp_path, install_dir, extra=section)

    result = tool.run("--config", site, "runner", "run")

    assert result.returncode == 2
    assert 'runner.config: "config.toml" must be an absolute path' in result.stderr


def test_deploy_inside_job_dropping_supervision_exits_2(supervised, tool, install_dir,
                                                        tmp_path, ci):
    pid = ci.records("start")[0]["pid"]
    site = staging_site(tmp_path, install_dir, extra=ci.section(supervised=False))

    result = ci.run_job([tool.python, tool.pyz, "--config", site, "deploy"])

    assert result["status"] == 2
    assert "which the site file no longer supervises there" in ci.job_stderr()
    assert runner_pid(install_dir) == pid and not ci.records("signal")


def test_runner_status_exits_4_when_instance_down(supervised, tool, install_dir, ci):
    down = tool.run("--install-dir", install_dir, "down", "jaws")

    status = tool.run("--install-dir", install_dir, "runner", "status")

    assert down.returncode == 0, down.stderr
    assert [r["signal"] for r in ci.records("signal")] == ["SIGQUIT"]
    assert status.returncode == 4 and "instance jaws does not answer" in status.stderr


def test_runner_status_of_unsupervised_runner_exits_2(tool, install_dir, tmp_path, ci):
    site = staging_site(tmp_path, install_dir, extra=ci.section(supervised=False))
    assert tool.run("--config", site, "init").returncode == 0

    status = tool.run("--install-dir", install_dir, "runner", "status")

    assert status.returncode == 2 and "runner.supervised is false" in status.stderr


def read_until(stream, text, timeout=WAIT):
    """Return what stream gave until text appeared in it."""
    seen = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {text!r} in {seen!r}"
        if select.select([stream], [], [], left)[0]:
            chunk = os.read(stream.fileno(), 4096)
            assert chunk, f"stream ended before {text!r}: {seen!r}"
            seen += chunk
    return seen.decode()


def test_runner_logs_follow_prints_new_lines(supervised, tool, install_dir, ci):
    pid = ci.records("start")[0]["pid"]
    follower = tool.popen("--install-dir", install_dir, "runner", "logs", "-f",
                          stdout=subprocess.PIPE)

    first = read_until(follower.stdout, "running (pid")
    os.kill(pid, signal.SIGHUP)
    later = read_until(follower.stdout, "got SIGHUP")
    follower.terminate()
    follower.wait(timeout=WAIT)

    assert f"running (pid {pid})" in first and "got SIGHUP" in later


def test_runner_restart_with_missing_config_keeps_runner(supervised, tool, install_dir, ci):
    pid = ci.records("start")[0]["pid"]
    ci.config.unlink()

    result = tool.run("--install-dir", install_dir, "runner", "restart")

    assert result.returncode == 2
    assert f"runner.config: {ci.config}: no such file" in result.stderr
    assert runner_pid(install_dir) == pid and not ci.records("signal")
