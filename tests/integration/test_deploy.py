"""deploy of the built .pyz: only changes restart, failures are loud, bad sites change nothing."""

import hashlib
import json
import socket
import subprocess
import sys
import threading
import zipfile

import pytest

from conftest import PYTHONS, free_port, program_pids, supervisorctl
from deploysites import basic_programs, config_bytes, program, write_site


def all_pids(install_dir):
    return {**program_pids(install_dir, "jaws"), **program_pids(install_dir, "jtm")}


def deploy(tool, site, install_dir, *more):
    return tool.run("--config", site, "--install-dir", install_dir, "deploy",
                    "--timeout", "60", *more)


@pytest.fixture
def deployed(tool, tmp_path, install_dir):
    """A deployed install of basic_programs; returns its pids."""
    site = write_site(tmp_path, install_dir, basic_programs(tmp_path))
    result = deploy(tool, site, install_dir)
    assert result.returncode == 0, result.stderr
    pids = all_pids(install_dir)
    assert len(pids) == 3
    return pids


def test_redeploy_without_change_keeps_every_pid(tool, tmp_path, install_dir, deployed):
    site = write_site(tmp_path, install_dir, basic_programs(tmp_path))

    result = deploy(tool, site, install_dir)

    assert result.returncode == 0, result.stderr
    assert all_pids(install_dir) == deployed
    assert "0 restarted, 0 added, 0 removed" in result.stderr


def test_changed_command_restarts_only_that_program(tool, tmp_path, install_dir, deployed):
    changed = basic_programs(tmp_path, beta=program(tmp_path, "beta", "--v2"))
    site = write_site(tmp_path, install_dir, changed)

    result = deploy(tool, site, install_dir)

    assert result.returncode == 0, result.stderr
    after = all_pids(install_dir)
    moved = {spec for spec in deployed if after.get(spec) != deployed[spec]}
    assert moved == {"jaws-dep:beta"}
    assert "1 restarted" in result.stderr


def test_added_and_removed_programs_start_and_stop(tool, tmp_path, install_dir, deployed):
    changed = basic_programs(tmp_path, alpha=None, delta=program(tmp_path, "delta"))
    site = write_site(tmp_path, install_dir, changed)

    result = deploy(tool, site, install_dir)

    assert result.returncode == 0, result.stderr
    after = all_pids(install_dir)
    assert set(after) == {"jaws-dep:beta", "jaws-dep:gamma", "jaws-dep:delta"}
    assert after["jaws-dep:beta"] == deployed["jaws-dep:beta"]
    assert after["jaws-dep:gamma"] == deployed["jaws-dep:gamma"]
    assert "jaws-dep:alpha" not in supervisorctl(install_dir, "jaws", "status").stdout


def test_program_exiting_at_once_fails_with_its_log_tail(tool, tmp_path, install_dir,
                                                          deployed):
    changed = basic_programs(tmp_path, gamma=program(tmp_path, "gamma", crash=True))
    site = write_site(tmp_path, install_dir, changed)

    result = deploy(tool, site, install_dir)

    assert result.returncode == 1
    assert "gamma" in result.stderr and "instance jtm" in result.stderr
    assert "crash-stdout: cannot open the database" in result.stderr
    assert "crash-stderr: giving up" in result.stderr
    assert "Traceback" not in result.stderr


def one_shot(code, exitcodes):
    return (f'command = ["{sys.executable}", "-c", "import sys; print(\'migrated\'); '
            f'sys.exit({code})"]\nstartsecs = 0\nautorestart = false\n'
            f"exitcodes = {exitcodes}\n")


def test_one_shot_program_that_exits_as_expected_lets_deploy_finish(tool, tmp_path,
                                                                      install_dir):
    programs = basic_programs(tmp_path)
    programs["jtm"]["migrate"] = one_shot(0, [0])
    site = write_site(tmp_path, install_dir, programs)

    result = deploy(tool, site, install_dir)

    assert result.returncode == 0, result.stderr
    lines = supervisorctl(install_dir, "jtm", "status").stdout.splitlines()
    assert [line.split()[1] for line in lines if ":migrate " in line] == ["EXITED"]
    assert len(all_pids(install_dir)) == 3


def test_one_shot_program_with_another_exit_code_fails_deploy_at_once(tool, tmp_path,
                                                                      install_dir):
    programs = basic_programs(tmp_path)
    programs["jtm"]["migrate"] = one_shot(3, [0])
    site = write_site(tmp_path, install_dir, programs)

    result = tool.run("--config", site, "--install-dir", install_dir, "deploy",
                      "--timeout", "60")

    assert result.returncode == 1
    # Not "after 60s": supervisord never starts it again, so deploy does not wait.
    assert ("program jaws-dep:migrate of instance jtm is EXITED with exit status 3 ("
            in result.stderr)
    assert "migrated" in result.stderr


def test_program_exiting_with_a_listed_code_is_done_without_autorestart_false(
        tool, tmp_path, install_dir):
    programs = basic_programs(tmp_path)
    programs["jtm"]["migrate"] = one_shot(3, [0, 3]).replace("autorestart = false",
                                                              'autorestart = "unexpected"')
    site = write_site(tmp_path, install_dir, programs)

    result = deploy(tool, site, install_dir)

    assert result.returncode == 0, result.stderr
    lines = supervisorctl(install_dir, "jtm", "status").stdout.splitlines()
    assert [line.split()[1] for line in lines if ":migrate " in line] == ["EXITED"]


@pytest.mark.parametrize("option", ['stopsignal = "NOPE"', 'umask = "999"'])
def test_rejected_site_changes_nothing(tool, tmp_path, install_dir, deployed, option):
    before = config_bytes(install_dir)
    launcher = (install_dir / "bin" / "supervisord").read_bytes()
    bad = basic_programs(tmp_path, beta=program(tmp_path, "beta", "--v2",
                                                options=option + "\n"))
    site = write_site(tmp_path, install_dir, bad)

    result = deploy(tool, site, install_dir)

    assert result.returncode == 2
    assert "supervisord rejects the config" in result.stderr
    assert "supervisord-jaws.conf" in result.stderr
    assert config_bytes(install_dir) == before
    assert (install_dir / "bin" / "supervisord").read_bytes() == launcher
    assert all_pids(install_dir) == deployed
    assert not list(install_dir.glob(".*.tmp-*"))


def test_four_concurrent_deploys_end_whole_and_up(tool, tmp_path, install_dir):
    site_a = write_site(tmp_path, install_dir, basic_programs(tmp_path), name="a.toml")
    site_b = write_site(tmp_path, install_dir,
                        basic_programs(tmp_path, beta=program(tmp_path, "beta", "--b"),
                                       delta=program(tmp_path, "delta")), name="b.toml")
    sets = []
    for site in (site_b, site_a):
        assert deploy(tool, site, install_dir).returncode == 0
        sets.append(config_bytes(install_dir))
    results = [None] * 4

    def run(i):
        results[i] = deploy(tool, (site_a, site_b)[i % 2], install_dir)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)

    assert all(r is not None for r in results)
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
    assert config_bytes(install_dir) in sets
    status = tool.run("--install-dir", install_dir, "status")
    assert status.returncode == 0, status.stdout + status.stderr


ECHO = (
    "import json, os, sys, time\n"
    "with open(sys.argv[1], 'w', encoding='utf-8') as fh:\n"
    "    json.dump({'argv': sys.argv[2:], 'env': dict(os.environ)}, fh)\n"
    "while True:\n"
    "    time.sleep(1)\n"
)
ODD_ARGS = ["100% done", "%(program_name)s", "it's", 'say "hi" now', "$HOME ${PATH}",
            "naïve café ✓", "two  spaces", "a #hash", "a ;semi", "", "back\\slash"]
ODD_ENV = {"PCT": "50%", "SQ": "it's", "DQ": 'say "hi" now', "DOLLAR": "$HOME",
           "UNI": "ünïcode ✓", "SPACES": "a  b", "COMMA": "a,b=c", "EMPTY": ""}


def test_odd_values_reach_the_program_unchanged(any_tool, tmp_path, install_dir):
    script = tmp_path / "echo.py"
    script.write_text(ECHO)
    out = tmp_path / "seen.json"
    command = [any_tool.python, str(script), str(out)] + ODD_ARGS
    table = (f"command = {json.dumps(command, ensure_ascii=False)}\nstartsecs = 1\n"
             f"environment = {toml_table(ODD_ENV)}\n")
    site = write_site(tmp_path, install_dir, {"jaws": {"echo": table}, "jtm": {}})

    result = deploy(any_tool, site, install_dir)

    assert result.returncode == 0, result.stderr
    seen = json.loads(out.read_text(encoding="utf-8"))
    assert seen["argv"] == ODD_ARGS
    assert {k: seen["env"].get(k) for k in ODD_ENV} == ODD_ENV


def toml_table(values):
    return "{ " + ", ".join(f"{k} = {json.dumps(v, ensure_ascii=False)}"
                            for k, v in values.items()) + " }"


NEWER = "site-packages/bootstrap/payload/NEWER"


def newer_build(pyz, target):
    """Copy the .pyz as another build: one more file and a new build id; return the id."""
    data = pyz.read_bytes()
    with zipfile.ZipFile(str(pyz)) as src, open(str(target), "wb") as out:
        out.write(data[:data.index(b"PK\x03\x04")])
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                if info.filename == NEWER:
                    continue
                body = src.read(info)
                if info.filename == "environment.json":
                    env = json.loads(body.decode("utf-8"))
                    env["build_id"] = hashlib.sha256(body).hexdigest()
                    new_id = env["build_id"][:16]
                    body = json.dumps(env).encode("utf-8")
                dst.writestr(info, body)
            dst.writestr(NEWER, "a newer build\n")
    return new_id


def test_newer_build_switches_launchers_and_keeps_instances(tool, tmp_path, install_dir,
                                                            deployed):
    old_ids = [p.name for p in (install_dir / "lib").iterdir()]
    new_pyz = tmp_path / "newer.pyz"
    new_id = newer_build(tool.pyz, new_pyz)
    site = write_site(tmp_path, install_dir, basic_programs(tmp_path))
    tool.pyz = new_pyz

    result = deploy(tool, site, install_dir)

    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (install_dir / "lib").iterdir()) == sorted(old_ids + [new_id])
    assert f"lib/{new_id}/" in (install_dir / "bin" / "supervisord").read_text()
    assert (install_dir / "lib" / new_id / "site-packages/bootstrap/payload/NEWER").is_file()
    assert all_pids(install_dir) == deployed
    for instance in ("jaws", "jtm"):
        assert f"{instance}: supervisord (pid" in result.stderr
    assert f"still runs build {old_ids[0]}" in result.stderr
    assert supervisorctl(install_dir, "jtm", "status").returncode == 0


def test_restart_supervisors_moves_them_to_the_new_build(tool, tmp_path, install_dir,
                                                         deployed):
    new_pyz = tmp_path / "newer.pyz"
    new_id = newer_build(tool.pyz, new_pyz)
    site = write_site(tmp_path, install_dir, basic_programs(tmp_path))
    tool.pyz = new_pyz
    supervisord_pids = tool.supervisord_pids()

    moved = deploy(tool, site, install_dir, "--restart-supervisors")
    again = deploy(tool, site, install_dir)

    assert moved.returncode == 0, moved.stderr
    assert "restarting supervisord" in moved.stderr
    assert set(tool.supervisord_pids()).isdisjoint(supervisord_pids)
    assert len(all_pids(install_dir)) == 3
    assert again.returncode == 0 and "still runs" not in again.stderr
    # Nothing runs the old build any more: the deploy that moved them removed it.
    assert [p.name for p in (install_dir / "lib").iterdir()] == [new_id]


def test_builds_nothing_uses_are_removed_and_one_in_use_is_kept(tool, tmp_path, install_dir,
                                                               deployed):
    (first_id,) = [p.name for p in (install_dir / "lib").iterdir()]
    site = write_site(tmp_path, install_dir, basic_programs(tmp_path))
    # Left by an unpack or a removal whose process died.
    (install_dir / "lib" / "0123456789abcdef.tmp-999999" / "site-packages").mkdir(parents=True)
    ids = []
    for n in range(3):
        # Each build made from the one before, so that each has its own id.
        older, tool.pyz = tool.pyz, tmp_path / f"newer{n}.pyz"
        ids.append(newer_build(older, tool.pyz))
        result = deploy(tool, site, install_dir)
        assert result.returncode == 0, result.stderr

    # The supervisords still run the first build; the launchers name the last.
    assert len(set(ids)) == 3
    assert sorted(p.name for p in (install_dir / "lib").iterdir()) == sorted([first_id, ids[-1]])
    assert supervisorctl(install_dir, "jaws", "status").returncode == 0


def test_a_supervisord_that_cannot_say_its_build_keeps_every_build(tool, tmp_path,
                                                                   install_dir, deployed):
    site = write_site(tmp_path, install_dir, basic_programs(tmp_path))
    # A live process that holds an instance's pid file and config, and does not answer.
    hung = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)",
                             str(install_dir / "supervisord-ghost.conf")])
    tool.extra_pids.append(hung.pid)
    (install_dir / "run" / "supervisord-ghost.pid").write_text(f"{hung.pid}\n")
    for n in range(2):
        older, tool.pyz = tool.pyz, tmp_path / f"newer{n}.pyz"
        newer_build(older, tool.pyz)
        assert deploy(tool, site, install_dir).returncode == 0

    assert len(list((install_dir / "lib").iterdir())) == 3
    hung.kill()
    hung.wait()
    assert deploy(tool, site, install_dir).returncode == 0
    assert len(list((install_dir / "lib").iterdir())) == 2


def test_second_deploy_waits_until_the_first_has_applied_and_waited(tool, tmp_path,
                                                                     install_dir, deployed):
    slow = basic_programs(tmp_path, beta=program(tmp_path, "beta", "--slow",
                                                 options="startsecs = 6\n"))
    slow = {i: {p: t.replace("startsecs = 1\n", "") for p, t in progs.items()}
            for i, progs in slow.items()}
    site_slow = write_site(tmp_path, install_dir, slow, name="slow.toml")
    site_quick = write_site(tmp_path, install_dir, basic_programs(tmp_path), name="q.toml")
    argv = [tool.python, str(tool.pyz), "--config", str(site_slow), "--install-dir",
            str(install_dir), "deploy", "--timeout", "60"]
    first = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             universal_newlines=True, env=tool.env)
    try:
        lines = []
        while not any("1 restarted" in line for line in lines):
            lines.append(first.stderr.readline())
            assert lines[-1], "".join(lines)

        second = deploy(tool, site_quick, install_dir)
        first_status = first.wait(60)
    finally:
        if first.poll() is None:
            first.kill()
        first.stderr.close()

    assert first_status == 0
    assert second.returncode == 0, second.stderr
    assert "waiting for another jaws-bootstrap" in second.stderr


@pytest.mark.skipif("3.6" not in PYTHONS, reason="no Python 3.6 on this machine")
def test_non_ascii_under_python36_ascii_locale_is_refused(tool, tmp_path, install_dir):
    table = 'command = ["/bin/sleep", "100"]\nenvironment = { U = "ünï" }\n'
    site = write_site(tmp_path, install_dir, {"jaws": {"p": table}, "jtm": {}})
    env = {k: v for k, v in tool.env.items() if not k.startswith(("LANG", "LC_"))}

    result = tool.run("--config", site, "--install-dir", install_dir, "deploy",
                      env=env, python=PYTHONS["3.6"])

    assert result.returncode == 2
    assert "set LANG=C.UTF-8" in result.stderr and "supervisord-jaws.conf" in result.stderr
    assert not (install_dir / "supervisord-jaws.conf").exists()


def listens(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_start_only_settings_are_named_until_restart_supervisors_applies_them(
        tool, tmp_path, install_dir, deployed):
    first, second = free_port(), free_port()
    programs = basic_programs(tmp_path)
    site_first = write_site(tmp_path, install_dir, programs, name="a.toml")
    site_first.write_text(site_first.read_text().replace(
        "[instances.jtm]\n", f'[instances.jtm]\ninet = "127.0.0.1:{first}"\n', 1))
    site_second = tmp_path / "b.toml"
    site_second.write_text(site_first.read_text().replace(str(first), str(second)))

    added = deploy(tool, site_first, install_dir)
    moved = deploy(tool, site_second, install_dir)
    again = deploy(tool, site_second, install_dir)
    still = listens(first), listens(second)
    applied = deploy(tool, site_second, install_dir, "--restart-supervisors")

    for result in (added, moved, again, applied):
        assert result.returncode == 0, result.stderr
    notice = "jtm: supervisord (pid"
    # A new [inet_http_server] section, then a changed one: named until applied.
    assert notice in added.stderr and "[inet_http_server]" in added.stderr
    assert notice in moved.stderr and notice in again.stderr
    assert "'deploy --restart-supervisors' restarts it" in again.stderr
    assert "jaws: supervisord (pid" not in again.stderr
    assert still == (False, False)
    assert "jtm: restarting supervisord (new [inet_http_server] settings)" in applied.stderr
    assert notice not in applied.stderr
    assert listens(second) and not listens(first)
    assert len(all_pids(install_dir)) == 3
