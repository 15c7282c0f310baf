"""Security through the built .pyz: hostile install dirs, secret keys, network, check.

Hostile directories are refused with status 2 and left exactly as they were; the
key never shows on a command line, in a log, in output or in --json.
"""

import json
import os
import pwd
import re
import signal
import socket
import stat
import threading
import time
from pathlib import Path

import pytest

from conftest import children_of, free_port, staging_site

BROKEN = Path(__file__).resolve().parent.parent / "broken_sites"
NOBODY = "nobody"


def tracked_site(tool, directory, install_dir):
    """Write a staging site file; have tool stop whatever runs in install_dir at the end."""
    tool.track(install_dir)
    return staging_site(directory, install_dir)


def needs_root():
    if os.geteuid() != 0:
        pytest.skip("needs root: the test gives files to another account")


def snapshot(path):
    """Return every entry under path (path included) with its type, owner, mode, data."""
    path = Path(path)
    entries = {}
    todo = [path]
    while todo:
        current = todo.pop()
        st = os.lstat(str(current))
        rel = str(current.relative_to(path)) if current != path else "."
        info = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                st.st_mtime_ns)
        if stat.S_ISLNK(st.st_mode):
            info += (os.readlink(str(current)),)
        elif stat.S_ISREG(st.st_mode):
            info += (current.read_bytes(),)
        elif stat.S_ISDIR(st.st_mode):
            todo.extend(current.iterdir())
        entries[rel] = info
    return entries


def assert_refused(result, *words):
    """Assert a refusal: status 2, one line naming words, no traceback."""
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines()
             if not line.startswith("jaws-bootstrap: instance ")]
    assert len(lines) == 1 and lines[0].startswith("jaws-bootstrap: error: "), result.stderr
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in result.stderr


def read_keys(install_dir):
    return [p.read_text().strip() for p in (Path(install_dir) / "keys").glob("*.key")]


# Hostile install directories -------------------------------------------------


def hostile_owned_by_nobody(install_dir, elsewhere):
    install_dir.mkdir()
    (install_dir / "site.toml").write_text("planted\n")
    nobody = pwd.getpwnam(NOBODY)
    for path in (install_dir, install_dir / "site.toml"):
        os.chown(str(path), nobody.pw_uid, nobody.pw_gid)
    return install_dir, "belongs to another account (nobody)"


def hostile_symlink(install_dir, elsewhere):
    elsewhere.mkdir()
    (elsewhere / "precious").write_text("do not touch\n")
    install_dir.symlink_to(elsewhere)
    return install_dir.parent, "is a symbolic link"


def hostile_world_writable(install_dir, elsewhere):
    install_dir.mkdir()
    install_dir.chmod(0o777)
    return install_dir, "is writable by every account (mode 0777)"


@pytest.mark.parametrize("make", [hostile_owned_by_nobody, hostile_symlink,
                                  hostile_world_writable], ids=lambda f: f.__name__)
def test_hostile_install_dir_is_refused_and_left_untouched(tool, install_dir, tmp_path,
                                                           make):
    needs_root()
    watched, words = make(install_dir, install_dir.parent / "elsewhere")
    before = snapshot(watched)

    result = tool.run("--example", "--install-dir", install_dir, "deploy", "--timeout", "60")

    assert_refused(result, str(install_dir), words, "choose another install_dir")
    assert snapshot(watched) == before


def plant_symlinked_site_file(install_dir, tmp_path):
    target = tmp_path / "target.toml"
    target.write_text("mine\n")
    (install_dir / "site.toml").unlink()
    (install_dir / "site.toml").symlink_to(target)
    return "site.toml", "is a symbolic link"


def plant_symlinked_key(install_dir, tmp_path):
    (install_dir / "keys" / "jtm.key").unlink()
    (install_dir / "keys" / "jtm.key").symlink_to("/etc/passwd")
    return "keys/jtm.key", "is a symbolic link"


def plant_symlinked_run_dir(install_dir, tmp_path):
    (tmp_path / "run-elsewhere").mkdir()
    os.rmdir(str(install_dir / "run"))
    (install_dir / "run").symlink_to(tmp_path / "run-elsewhere")
    return "run", "is a symbolic link"


def plant_foreign_keys_dir(install_dir, tmp_path):
    os.chown(str(install_dir / "keys"), pwd.getpwnam(NOBODY).pw_uid, -1)
    return "keys", "belongs to another account (nobody)"


def plant_world_writable_logs(install_dir, tmp_path):
    (install_dir / "logs" / "jaws").chmod(0o777)
    return "logs/jaws", "is writable by every account"


def plant_world_writable_config(install_dir, tmp_path):
    (install_dir / "supervisord-jtm.conf").chmod(0o666)
    return "supervisord-jtm.conf", "is writable by every account"


def plant_foreign_launcher(install_dir, tmp_path):
    os.chown(str(install_dir / "bin" / "supervisord"), pwd.getpwnam(NOBODY).pw_uid, -1)
    return "bin/supervisord", "belongs to another account"


@pytest.mark.parametrize("plant", [
    plant_symlinked_site_file, plant_symlinked_key, plant_symlinked_run_dir,
    plant_foreign_keys_dir, plant_world_writable_logs, plant_world_writable_config,
    plant_foreign_launcher], ids=lambda f: f.__name__)
def test_hostile_entry_inside_install_dir_is_refused(tool, install_dir, tmp_path, plant):
    needs_root()
    assert tool.run("--example", "--install-dir", install_dir, "init").returncode == 0
    relative, words = plant(install_dir, tmp_path)
    before = snapshot(install_dir)

    result = tool.run("--example", "--install-dir", install_dir, "init")

    assert_refused(result, str(install_dir / relative), words)
    assert snapshot(install_dir) == before


def test_install_dir_under_a_foreign_parent_is_refused(tool, install_dir):
    needs_root()
    parent = install_dir.parent / "foreign"
    parent.mkdir()
    os.chown(str(parent), pwd.getpwnam(NOBODY).pw_uid, -1)

    result = tool.run("--example", "--install-dir", parent / "inst", "init")

    assert_refused(result, f"its parent {parent} belongs to another account (nobody)")
    assert list(parent.iterdir()) == []


@pytest.mark.parametrize("args", [["up"], ["ctl", "jaws", "status"], ["rotate-key", "jaws"]])
def test_planted_install_is_not_run_by_root(tool, install_dir, args):
    needs_root()
    assert tool.run("--example", "--install-dir", install_dir, "init").returncode == 0
    nobody = pwd.getpwnam(NOBODY)
    for path in [install_dir] + list(install_dir.rglob("*")):
        os.lchown(str(path), nobody.pw_uid, nobody.pw_gid)
    before = snapshot(install_dir)

    result = tool.run("--install-dir", install_dir, *args)

    assert_refused(result, str(install_dir), "belongs to another account (nobody)")
    assert snapshot(install_dir) == before
    assert not list((install_dir / "run").iterdir())


def test_new_install_dir_has_safe_modes_and_no_readable_key(tool, install_dir):
    result = tool.run("--example", "--install-dir", install_dir, "init")

    assert result.returncode == 0, result.stderr
    modes = {name: stat.S_IMODE(os.lstat(str(install_dir / name)).st_mode)
             for name in (".", "bin", "lib", "run", "logs", "keys", "previous",
                          "keys/jaws.key", "supervisord-jaws.conf", "logs/jtm")}
    assert modes == {".": 0o755, "bin": 0o755, "lib": 0o755, "run": 0o3770,
                     "logs": 0o3770, "keys": 0o751, "previous": 0o700,
                     "keys/jaws.key": 0o640, "supervisord-jaws.conf": 0o640,
                     "logs/jtm": 0o2770}
    keys = read_keys(install_dir)
    for path in install_dir.rglob("*"):
        st = os.lstat(str(path))
        assert not st.st_mode & stat.S_IWOTH, path
        if stat.S_ISREG(st.st_mode) and st.st_mode & stat.S_IROTH:
            data = path.read_bytes()
            assert not any(key.encode() in data for key in keys), path


# Keys ------------------------------------------------------------------------


class CmdlineScanner:
    """Reads /proc/*/cmdline over and over in a thread, keeping each one seen."""

    def __init__(self):
        self.seen = set()
        self.passes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._scan, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)

    def _scan(self):
        while not self._stop.is_set():
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    with open(f"/proc/{entry}/cmdline", "rb") as fh:
                        self.seen.add(fh.read())
                except OSError:
                    continue
            self.passes += 1


def test_no_key_on_any_command_line_during_deploy(tool, install_dir, tmp_path):
    site = tracked_site(tool, tmp_path, install_dir)

    with CmdlineScanner() as scanner:
        result = tool.run("--config", site, "-vv", "deploy", "--timeout", "90")

    assert result.returncode == 0, result.stderr
    keys = read_keys(install_dir)
    assert len(keys) == 2 and all(len(k) >= 22 for k in keys)
    # The scan did see the tool and the supervisords it started.
    assert any(str(install_dir).encode() in line and b"supervisord" in line
               for line in scanner.seen)
    assert scanner.passes > 5
    leaked = [line for line in scanner.seen if any(k.encode() in line for k in keys)]
    assert leaked == []
    assert not any(k in result.stdout + result.stderr for k in keys)


def test_no_key_on_command_lines_or_environments_of_other_commands(tool, install_dir,
                                                                    tmp_path):
    site = tracked_site(tool, tmp_path, install_dir)
    assert tool.run("--config", site, "deploy", "--timeout", "90").returncode == 0
    keys = read_keys(install_dir)
    daemons = [supervisord_pid(install_dir, name) for name in ("jaws", "jtm")]
    environs = []
    for pid in daemons + [p for d in daemons for p in children_of(d)]:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            environs.append(fh.read())

    with CmdlineScanner() as scanner:
        runs = [tool.run("--install-dir", install_dir, *args) for args in (
            ["ctl", "jaws", "status"], ["restart", "all"], ["tail", "jaws-jtm"],
            ["rotate-key", "jtm"])]
        # What rotate-key asks for, so that the new key is in force for the rest.
        os.kill(daemons[1], signal.SIGHUP)
        assert wait_until(lambda: tool.run("--install-dir", install_dir, "status", "-i",
                                           "jtm").returncode == 0)
        runs += [tool.run("--install-dir", install_dir, *args) for args in (["down"], ["up"])]

    keys += read_keys(install_dir)
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    assert any(b"bin/supervisorctl" in line for line in scanner.seen)
    assert not [line for line in scanner.seen if any(k.encode() in line for k in keys)]
    assert not [env for env in environs if any(k.encode() in env for k in keys)]


def test_no_key_in_logs_output_or_json(tool, install_dir, tmp_path):
    site = tracked_site(tool, tmp_path, install_dir)
    runs = [tool.run("--config", site, "-vv", "deploy", "--timeout", "90")]

    for args in (["status"], ["status", "--json"], ["check", "--json"], ["version", "--json"],
                 ["-vv", "status"], ["-vv", "check"], ["avail"], ["pid", "all"]):
        runs.append(tool.run("--install-dir", install_dir, *args))

    keys = read_keys(install_dir)
    assert runs[0].returncode == 0, runs[0].stderr
    for run in runs:
        assert not any(k in run.stdout + run.stderr for k in keys), run.args
    for log in (install_dir / "logs").rglob("*"):
        if log.is_file():
            assert not any(k.encode() in log.read_bytes() for k in keys), log


def wait_until(predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_rotate_key_replaces_one_key_and_names_the_restart(tool, install_dir, tmp_path):
    site = tracked_site(tool, tmp_path, install_dir)
    assert tool.run("--config", site, "deploy", "--timeout", "90").returncode == 0
    old = {p.stem: p.read_text() for p in (install_dir / "keys").glob("*.key")}
    config_before = (install_dir / "supervisord-jaws.conf").read_bytes()

    result = tool.run("--install-dir", install_dir, "rotate-key", "jtm")

    assert result.returncode == 0, result.stderr
    new = {p.stem: p.read_text() for p in (install_dir / "keys").glob("*.key")}
    assert new["jaws"] == old["jaws"] and new["jtm"] != old["jtm"]
    assert (install_dir / "supervisord-jaws.conf").read_bytes() == config_before
    config = (install_dir / "supervisord-jtm.conf").read_text()
    assert f"password={new['jtm'].strip()}" in config and old["jtm"].strip() not in config
    assert stat.S_IMODE(os.stat(str(install_dir / "keys" / "jtm.key")).st_mode) == 0o640
    assert not any(k.strip() in result.stderr + result.stdout
                   for k in list(old.values()) + list(new.values()))
    pid = int((install_dir / "run" / "supervisord-jtm.pid").read_text())
    assert f"'kill -HUP {pid}'" in result.stderr

    os.kill(pid, signal.SIGHUP)

    assert wait_until(lambda: tool.run("--install-dir", install_dir, "status", "-i",
                                       "jtm").returncode == 0)


def test_rotate_key_of_stopped_instance_says_next_start(tool, install_dir):
    assert tool.run("--example", "--install-dir", install_dir, "init").returncode == 0

    result = tool.run("--install-dir", install_dir, "rotate-key", "jaws")

    assert result.returncode == 0, result.stderr
    assert "it is not running, so it uses the new key from its next start" in result.stderr


def test_rotate_key_of_unknown_instance_is_bad_usage(tool, install_dir):
    assert tool.run("--example", "--install-dir", install_dir, "init").returncode == 0

    result = tool.run("--install-dir", install_dir, "rotate-key", "ghost")

    assert_refused(result, 'no instance "ghost"')


# Network -----------------------------------------------------------------------


def listening_tcp(pid):
    """Return the (address, port) TCP sockets pid listens on, from /proc."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            for row in fh.read().splitlines()[1:]:
                fields = row.split()
                if fields[3] == "0A" and fields[9] in inodes:
                    address, port = fields[1].split(":")
                    found.append((address, int(port, 16)))
    return found


def supervisord_pid(install_dir, name):
    return int((Path(install_dir) / "run" / f"supervisord-{name}.pid").read_text())


def test_no_tcp_listener_without_inet(tool, install_dir):
    result = tool.run("--example", "--install-dir", install_dir, "deploy", "--timeout", "90")

    assert result.returncode == 0, result.stderr
    for name in ("jaws", "jtm"):
        assert listening_tcp(supervisord_pid(install_dir, name)) == []
    assert "[inet_http_server]" not in (install_dir / "supervisord-jaws.conf").read_text()


def test_loopback_inet_listens_only_there_and_check_knows_it(tool, install_dir, tmp_path):
    port = free_port()
    site = tracked_site(tool, tmp_path, install_dir)
    text = site.read_text().replace("[instances.jaws]\n",
                                    f'[instances.jaws]\ninet = "127.0.0.1:{port}"\n', 1)
    site.write_text(text)

    result = tool.run("--config", site, "deploy", "--timeout", "90")
    checked = tool.run("--config", site, "check", "--json")

    assert result.returncode == 0, result.stderr
    assert listening_tcp(supervisord_pid(install_dir, "jaws")) == [("0100007F", port)]
    assert listening_tcp(supervisord_pid(install_dir, "jtm")) == []
    items = {i["check"]: i for i in json.loads(checked.stdout)["checks"]}
    assert items["instances.jaws.inet"]["status"] == "ok"
    assert "in use by this instance" in items["instances.jaws.inet"]["detail"]


def test_check_does_not_take_another_process_port_for_its_supervisords(tool, install_dir,
                                                                      tmp_path):
    port = free_port()
    site = tracked_site(tool, tmp_path, install_dir)
    text = site.read_text().replace("[instances.jaws]\n",
                                    f'[instances.jaws]\ninet = "127.0.0.1:{port}"\n', 1)
    site.write_text(text)
    assert tool.run("--config", site, "deploy", "--timeout", "90").returncode == 0
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    other.listen(1)
    moved = tmp_path / "moved.toml"
    moved.write_text(text.replace(str(port), str(other.getsockname()[1])))
    try:
        checked = tool.run("--config", moved, "check", "--json")
    finally:
        other.close()

    items = {i["check"]: i for i in json.loads(checked.stdout)["checks"]}
    assert items["instances.jaws.inet"]["status"] == "fail"
    assert f"is in use by pid {os.getpid()} (" in items["instances.jaws.inet"]["detail"]


def held_port():
    """Return a socket listening on a free loopback port (the test's own process)."""
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    other.listen(1)
    return other


def with_inet(site, instance, port):
    text = site.read_text().replace(f"[instances.{instance}]\n",
                                    f'[instances.{instance}]\ninet = "127.0.0.1:{port}"\n', 1)
    site.write_text(text)


def test_first_deploy_on_a_busy_port_names_its_holder_and_starts_nothing(tool, install_dir,
                                                                         tmp_path):
    other = held_port()
    port = other.getsockname()[1]
    site = tracked_site(tool, tmp_path, install_dir)
    with_inet(site, "jtm", port)
    try:
        result = tool.run("--config", site, "deploy", "--timeout", "90")
    finally:
        other.close()

    assert result.returncode == 1, result.stderr
    error = [line for line in result.stderr.splitlines() if "error:" in line]
    assert error == [f"jaws-bootstrap: error: instances.jtm.inet: 127.0.0.1:{port} is in "
                     f"use by pid {os.getpid()} ({error[0].split(' (', 1)[1]}"], result.stderr
    assert error[0].endswith("; deploy changed nothing")
    assert tool.supervisord_pids() == []
    assert not install_dir.exists()


def test_up_on_a_busy_port_starts_no_instance_and_names_the_one_that_can(tool, install_dir,
                                                                          tmp_path):
    site = tracked_site(tool, tmp_path, install_dir)
    port = free_port()
    with_inet(site, "jtm", port)
    assert tool.run("--config", site, "deploy", "--timeout", "90").returncode == 0
    assert tool.run("--install-dir", install_dir, "down").returncode == 0
    other = held_port()
    site.write_text(site.read_text().replace(f":{port}", f":{other.getsockname()[1]}"))
    try:
        assert tool.run("--config", site, "init").returncode == 0
        refused = tool.run("--install-dir", install_dir, "up")
        alone = tool.run("--install-dir", install_dir, "up", "jaws")
    finally:
        other.close()

    assert refused.returncode == 1, refused.stderr
    assert f"is in use by pid {os.getpid()} (" in refused.stderr
    assert refused.stderr.rstrip().endswith(
        "no supervisord was started ('up jaws' starts jaws alone)"), refused.stderr
    assert alone.returncode == 0, alone.stderr
    assert [p.name for p in (install_dir / "run").glob("*.pid")] == ["supervisord-jaws.pid"]


def test_remote_inet_is_refused_without_allow_remote(tool, install_dir, tmp_path):
    site = tracked_site(tool, tmp_path, install_dir)
    site.write_text(site.read_text().replace("[instances.jtm]\n",
                                             '[instances.jtm]\ninet = "0.0.0.0:9001"\n', 1))

    result = tool.run("--config", site, "deploy")

    assert_refused(result, "instances.jtm.inet", "not a loopback address", "allow_remote")
    assert not install_dir.exists()


def test_allow_remote_warns_that_http_is_not_encrypted(tool, install_dir, tmp_path):
    site = tracked_site(tool, tmp_path, install_dir)
    site.write_text(site.read_text().replace(
        "[instances.jtm]\n", '[instances.jtm]\ninet = "0.0.0.0:9001"\nallow_remote = true\n', 1))

    # init only: the test binds nothing but loopback and unix sockets.
    result = tool.run("--config", site, "init")

    assert result.returncode == 0, result.stderr
    assert re.search(r"instance jtm: listens on 0\.0\.0\.0:9001, beyond this host.*"
                     r"not encrypted", result.stderr)


# check -------------------------------------------------------------------------------


def test_check_json_changes_nothing_and_reports_host(tool, install_dir):
    result = tool.run("--example", "--install-dir", install_dir, "check", "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    names = {item["check"] for item in report["checks"]}
    assert {"site", "python", "install_dir", "instances.jaws", "instances.jaws.socket",
            "instances.jtm.programs.jaws-cromwell.command"} <= names
    assert report["ok"] is True
    assert not install_dir.exists()


def test_check_json_of_a_broken_site_file_is_json_too(tool, tmp_path):
    site = tmp_path / "site.toml"
    site.write_text('deployment = "x"\n[instances.jaws.programs.p]\ncomand = "/bin/true"\n')

    result = tool.run("--config", site, "check", "--json")

    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert [item["check"] for item in report["checks"]] == ["site"]
    assert 'comand: unknown key; did you mean "command"?' in report["checks"][0]["detail"]
    assert report["checks"][0]["detail"] in result.stderr


def test_check_fails_for_missing_command_and_foreign_dir(tool, install_dir, tmp_path):
    needs_root()
    site = tracked_site(tool, tmp_path, install_dir)
    (tmp_path / "shims" / "jaws-cromwell").unlink()
    (tmp_path / "shims" / "jaws-jtm").chmod(0o644)
    install_dir.mkdir()
    os.chown(str(install_dir), pwd.getpwnam(NOBODY).pw_uid, -1)
    before = snapshot(install_dir)

    result = tool.run("--config", site, "check")

    assert result.returncode == 1, result.stderr
    assert re.search(r"^FAIL +instances\.jtm\.programs\.jaws-cromwell\.command: .*"
                     r"no such file$", result.stdout, re.M)
    assert re.search(r"^FAIL +instances\.jtm\.programs\.jaws-jtm\.command: .*"
                     r"not executable$", result.stdout, re.M)
    assert re.search(r"^FAIL +install_dir: .*belongs to another account", result.stdout, re.M)
    assert snapshot(install_dir) == before


def test_check_of_broken_site_is_status_2(tool, tmp_path):
    result = tool.run("--config", BROKEN / "unknown_instance_key.toml", "check", "--json")

    assert_refused(result, 'did you mean "control_group"')


# Broken site files through the .pyz ----------------------------------------------

SAMPLE = ["syntax_unterminated_string", "unknown_program_key", "program_name_colon",
          "command_empty", "program_in_both_instances", "inet_remote", "not_utf8"]


@pytest.mark.parametrize("name", SAMPLE)
def test_broken_site_through_pyz_is_one_line_status_2(tool, install_dir, name):
    path = BROKEN / f"{name}.toml"
    expected = path.read_bytes().split(b"\n", 1)[0].decode()[len("# expect: "):]

    result = tool.run("--config", path, "--install-dir", install_dir, "deploy")

    assert_refused(result, str(path), expected)
    assert not install_dir.exists()


def test_check_and_site_errors_under_each_python(any_tool, install_dir):
    broken = BROKEN / "unknown_program_key.toml"

    checked = any_tool.run("--example", "--install-dir", install_dir, "check", "--json")
    refused = any_tool.run("--config", broken, "--install-dir", install_dir, "init")

    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["ok"] is True
    assert_refused(refused, 'comand: unknown key; did you mean "command"?')
    assert not install_dir.exists()
