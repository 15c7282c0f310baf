"""The mirrored verbs against real supervisords: the same exit codes as supervisorctl.

One deployed install serves the module (setting up each case's state over
XML-RPC is quicker than a deploy per case); a second, initialised but never
started, stands for instances that are down.
"""

import functools
import json
import os
import re
import signal
import subprocess
import sys

import pytest

from conftest import _PYTHONS_RAN, PYTHONS
from mirrorsites import (PROGRAMS, install_for, kill_group, normalised, unprefixed,
                         wait_all_running, wait_socket_gone)

P = "jaws-staging:jaws-site-daemon"
S = "jaws-staging:jaws-site-central-rpc"


@pytest.fixture(scope="module")
def live(pyz):
    """Both instances deployed and RUNNING, shared by the module's tests."""
    yield from install_for(pyz, ["deploy", "--timeout", "60"])


@pytest.fixture(scope="module")
def idle(pyz):
    """An install that init wrote but whose supervisords never started."""
    yield from install_for(pyz, ["init"])


@pytest.fixture
def fresh(live):
    """live, with every program running again and S stopped on request."""
    for instance in PROGRAMS:
        live.proxy(instance).supervisor.startAllProcesses()
    return live


# (args on instance jaws, stop S first, compare the output too)
CASES = [
    (["status"], False, True),
    (["status"], True, True),
    (["status", P], False, True),
    (["status", "jaws-staging:*"], False, True),
    (["status", "all"], True, True),
    (["status", S], True, True),
    (["status", "bogus"], False, True),
    (["status", "nogroup:*"], False, True),
    (["status", "bogus", S], True, True),
    (["start"], False, True),
    (["start", P], False, True),
    (["start", S], True, True),
    (["start", "bogus"], False, True),
    (["start", "nogroup:*"], False, True),
    (["start", "all"], True, True),
    (["stop"], False, True),
    (["stop", P], False, True),
    (["stop", S], True, True),
    (["stop", "bogus"], False, True),
    (["stop", "nogroup:*"], False, True),
    (["restart"], False, True),
    (["restart", P], False, True),
    (["restart", "bogus"], False, True),
    (["reread"], False, True),
    (["reread", "extra"], False, True),
    (["update"], False, True),
    (["update", "nogroup"], False, True),
    (["tail", P], False, True),
    (["tail", P, "stderr"], False, True),
    (["tail", "-100", P], False, True),
    (["tail"], False, True),
    (["tail", "bogus"], False, True),
    (["tail", P, "sideways"], False, True),
    (["tail", "-x", P], False, True),
    (["pid"], False, True),
    (["pid", P], False, True),
    (["pid", S], True, True),
    (["pid", "bogus"], False, True),
    (["pid", "all"], True, True),
    (["signal", "HUP", P], False, True),
    (["signal", "HUP", S], True, True),
    (["signal", "HUP"], False, True),
    (["signal", "BOGUS", P], False, True),
    (["signal", "HUP", "bogus"], False, True),
    (["clear", P], False, True),
    (["clear", "bogus"], False, True),
    (["clear", "all"], False, True),
    (["avail"], False, True),
    (["avail", "extra"], False, True),
    (["maintail"], False, False),
    (["maintail", "-100"], False, False),
    (["maintail", "bad"], False, True),
    (["reload", "extra"], False, True),
    (["shutdown", "extra"], False, True),
]


@pytest.mark.parametrize("args, stop_s, same_output", CASES,
                         ids=[" ".join(c[0]) + (" (S stopped)" if c[1] else "") for c in CASES])
def test_verb_exits_like_supervisorctl(fresh, args, stop_s, same_output):
    results = []
    for run in (lambda: fresh.native("jaws", *args),
                lambda: fresh.run(args[0], "-i", "jaws", *args[1:])):
        fresh.proxy("jaws").supervisor.startAllProcesses()
        if stop_s:
            fresh.proxy("jaws").supervisor.stopProcess(S)
        results.append(run())

    native, tool = results
    assert tool.returncode == native.returncode, (native.stdout, tool.stdout, tool.stderr)
    if same_output:
        assert unprefixed(tool.stdout) == normalised(native.stdout)


def test_reload_exits_like_supervisorctl(live):
    codes = []
    for run in (lambda: live.native("jaws", "reload"),
                lambda: live.run("reload", "-i", "jaws")):
        codes.append(run().returncode)
        wait_all_running(live, "jaws")

    assert codes == [0, 0]


def test_shutdown_exits_like_supervisorctl_and_up_restores(live):
    native = live.native("jtm", "shutdown")
    live.run("up", "jtm")
    tool = live.run("shutdown", "-i", "jtm")
    wait_socket_gone(live, "jtm")
    down_status = live.run("status")
    restored = live.run("up", "jtm")

    assert tool.returncode == native.returncode == 0
    assert tool.stdout.startswith("jtm  Shut down")
    assert down_status.returncode == 4
    assert restored.returncode == 0, restored.stderr
    wait_all_running(live, "jtm")


DOWN_CASES = [["status"], ["status", P], ["start", P], ["stop", P], ["restart", P],
              ["reread"], ["update"], ["tail", P], ["pid"], ["signal", "HUP", P],
              ["clear", P], ["avail"], ["maintail"], ["reload"], ["shutdown"]]


@pytest.mark.parametrize("args", DOWN_CASES, ids=[" ".join(a) for a in DOWN_CASES])
def test_verb_on_instance_down_exits_like_supervisorctl(idle, args):
    native = idle.native("jaws", *args)
    tool = idle.run(args[0], "-i", "jaws", *args[1:])

    # status says an instance is unreachable on stderr, as an error; the others
    # relay supervisorctl's stdout as it is.
    said = tool.stderr if args[0] == "status" else tool.stdout
    assert tool.returncode == native.returncode, (native.stdout, tool.stdout, tool.stderr)
    assert unprefixed(said) == normalised(native.stdout)


def test_status_of_both_instances_down_exits_4(idle):
    result = idle.run("status")

    assert result.returncode == 4 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"jaws  unix://{idle.root}/run/supervisord-jaws.sock no such file",
        f"jtm   unix://{idle.root}/run/supervisord-jtm.sock no such file"]


def test_status_json_reports_unreachable_instances(idle):
    result = idle.run("status", "--json")

    assert result.returncode == 4
    assert json.loads(result.stdout) == [
        {"instance": "jaws", "error": f"unix://{idle.root}/run/supervisord-jaws.sock "
                                      "no such file"},
        {"instance": "jtm", "error": f"unix://{idle.root}/run/supervisord-jtm.sock "
                                     "no such file"}]


def test_status_shows_both_instances_prefixed(fresh):
    result = fresh.run("status")

    assert result.returncode == 0, result.stderr
    prefixes = [line.split()[0] for line in result.stdout.splitlines()]
    assert prefixes == ["jaws"] * 3 + ["jtm"] * 2


def test_status_json_has_one_object_per_program_and_no_key(fresh):
    result = fresh.run("status", "--json")

    records = json.loads(result.stdout)
    assert result.returncode == 0
    assert sorted((r["instance"], r["name"]) for r in records) == sorted(
        (inst, name) for inst, names in PROGRAMS.items() for name in names)
    assert all(set(r) == {"instance", "group", "name", "state", "pid", "uptime",
                          "exitstatus", "description"} for r in records)
    assert all(r["state"] == "RUNNING" and r["pid"] > 0 and r["uptime"] >= 0
               for r in records)
    for instance in PROGRAMS:
        key = (fresh.root / "keys" / f"{instance}.key").read_text().strip()
        assert key not in result.stdout


def test_bare_name_goes_to_its_instance_and_group(fresh):
    before = fresh.proxy("jtm").supervisor.getProcessInfo("jaws-staging:jaws-cromwell")["pid"]

    result = fresh.run("restart", "jaws-cromwell")

    after = fresh.proxy("jtm").supervisor.getProcessInfo("jaws-staging:jaws-cromwell")["pid"]
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["jtm   jaws-staging:jaws-cromwell: stopped",
                                          "jtm   jaws-staging:jaws-cromwell: started"]
    assert after != before


def test_stopped_program_in_one_instance_makes_status_3(fresh):
    stopped = fresh.run("stop", "jaws-jtm")

    status = fresh.run("status")
    one = fresh.run("status", "jaws-site-daemon")

    assert stopped.returncode == 0
    assert status.returncode == 3
    assert re.search(r"^jtm   jaws-staging:jaws-jtm +STOPPED ", status.stdout, re.M)
    assert one.returncode == 0 and one.stdout.startswith("jaws  jaws-staging:jaws-site-daemon")


def test_names_of_two_instances_go_to_each(fresh):
    result = fresh.run("pid", "jaws-site-daemon", "jaws-jtm")

    lines = result.stdout.splitlines()
    assert result.returncode == 0
    assert [line.split()[0] for line in lines] == ["jaws", "jtm"]
    assert all(int(line.split()[1]) > 0 for line in lines)


def test_unknown_instance_is_bad_usage(fresh):
    result = fresh.run("status", "-i", "nosuch")

    assert result.returncode == 2
    assert 'no instance "nosuch" in this site' in result.stderr


def test_tail_follow_needs_one_instance_for_unknown_name(fresh):
    result = fresh.run("tail", "-f", "bogus")

    assert result.returncode == 2
    assert "choose one of jaws, jtm with -i" in result.stderr


def test_tail_follow_streams_until_interrupted(fresh):
    argv = [sys.executable, str(fresh.tool.pyz), "--install-dir", str(fresh.root),
            "tail", "-f", "jaws-site-daemon"]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, start_new_session=True,
                             universal_newlines=True)
    try:
        seen = [child.stdout.readline() for _ in range(2)]
        os.killpg(child.pid, signal.SIGINT)
        child.wait(timeout=30)
    finally:
        kill_group(child.pid)

    assert "jaws-site-daemon up" in "".join(seen)
    assert "==> instance jaws <==" in child.stderr.read()


def test_ctl_runs_supervisorctl_with_arguments(fresh):
    ok = fresh.run("ctl", "jtm", "status")
    bad = fresh.run("ctl", "jtm", "status", "bogus")

    assert ok.returncode == 0 and ok.stdout.count("RUNNING") == 2
    assert bad.returncode == 4 and "bogus: ERROR (no such process)" in bad.stdout


def test_ctl_scripted_interactive_session(fresh):
    result = fresh.run("ctl", "jaws", input_text="pid jaws-staging:jaws-site-daemon\n"
                                                  "status\nexit\n")

    pid = fresh.proxy("jaws").supervisor.getProcessInfo(P)["pid"]
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("RUNNING") >= 6
    assert str(pid) in result.stdout


def test_ctl_unknown_instance_is_bad_usage(fresh):
    result = fresh.run("ctl", "nosuch", "status")

    assert result.returncode == 2 and 'no instance "nosuch"' in result.stderr


@pytest.mark.parametrize("python", list(PYTHONS), ids=lambda v: f"py{v}")
def test_mirrored_verbs_under_every_python(fresh, python):
    _PYTHONS_RAN.add(python)
    run = functools.partial(fresh.run, python=PYTHONS[python])

    status = run("status", "jaws-cromwell", "bogus")
    pid = run("pid", "-i", "jaws", S)
    signalled = run("signal", "HUP", "jaws-site-daemon")
    ctl = run("ctl", "jtm", "avail")

    assert status.returncode == 4, status.stderr
    assert status.stdout.splitlines()[:2] == ["jaws  bogus: ERROR (no such process)",
                                              "jtm   bogus: ERROR (no such process)"]
    assert pid.returncode == 0 and int(pid.stdout.split()[1]) > 0, pid.stderr
    assert signalled.returncode == 0, signalled.stderr
    assert signalled.stdout == "jaws  jaws-staging:jaws-site-daemon: signalled\n"
    assert ctl.returncode == 0 and ctl.stdout.count("in use") == 2, ctl.stderr
