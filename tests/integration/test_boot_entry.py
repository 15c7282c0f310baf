"""boot-entry of the built .pyz: the @reboot line works, and --install adds it once."""

import os
import pwd
import shutil
import subprocess

import pytest

from deploysites import basic_programs, write_site

CRONTAB = shutil.which("crontab")
needs_crontab = pytest.mark.skipif(CRONTAB is None, reason="no crontab command on this "
                                   "machine (.ci/run installs the cron package)")


def crontab(*args, input_text=None):
    return subprocess.run([CRONTAB] + list(args), input=input_text, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=30)


@pytest.fixture
def saved_crontab():
    """Give the test this account's crontab to change; put the original back after."""
    listed = crontab("-l")
    original = listed.stdout if listed.returncode == 0 else None
    yield
    if original is None:
        crontab("-r")
    else:
        crontab("-", input_text=original)


@pytest.fixture
def deployed(tool, tmp_path, install_dir):
    site = write_site(tmp_path, install_dir, basic_programs(tmp_path))
    result = tool.run("--config", site, "--install-dir", install_dir, "deploy")
    assert result.returncode == 0, result.stderr
    return install_dir


def test_boot_entry_line_brings_instances_back(tool, deployed):
    printed = tool.run("--install-dir", deployed, "boot-entry")
    tool.run("--install-dir", deployed, "down")
    command = printed.stdout.strip()[len("@reboot "):].replace("\\%", "%")
    # What cron gives a job: a bare environment and /bin/sh.
    account = pwd.getpwuid(os.getuid())
    cron_env = {"PATH": "/usr/bin:/bin", "HOME": account.pw_dir, "LOGNAME": account.pw_name,
                "SHELL": "/bin/sh"}

    subprocess.run(["/bin/sh", "-c", command], env=cron_env, timeout=120)
    tool.track_install_pids()

    assert printed.returncode == 0 and printed.stdout.startswith("@reboot ")
    assert f"--install-dir {deployed} up" in printed.stdout
    status = tool.run("--install-dir", deployed, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "started" in (deployed / "logs" / "boot.log").read_text()


@needs_crontab
def test_boot_entry_install_adds_the_line_once(tool, deployed, saved_crontab):
    crontab("-", input_text="# kept as it was\n")
    line = tool.run("--install-dir", deployed, "boot-entry").stdout.strip()

    first = tool.run("--install-dir", deployed, "boot-entry", "--install")
    second = tool.run("--install-dir", deployed, "boot-entry", "--install")

    assert first.returncode == 0 and "added to the crontab" in first.stderr, first.stderr
    assert second.returncode == 0 and "already in the crontab" in second.stderr
    rows = crontab("-l").stdout.splitlines()
    assert rows.count(line) == 1
    assert "# kept as it was" in rows


def test_boot_entry_install_without_crontab_says_so(tool, deployed):
    env = dict(tool.env, PATH="/nonexistent")

    result = tool.run("--install-dir", deployed, "boot-entry", "--install", env=env)

    assert result.returncode == 1
    assert "no crontab command" in result.stderr


@needs_crontab
def test_boot_entry_install_replaces_an_older_line_for_this_install(tool, deployed,
                                                                   saved_crontab):
    line = tool.run("--install-dir", deployed, "boot-entry").stdout.strip()
    older = f"@reboot /opt/old/python3 -I up # jaws-bootstrap boot-entry {deployed}"
    other = "@reboot /bin/true # jaws-bootstrap boot-entry /some/other/install"
    crontab("-", input_text=f"{older}\n{other}\n")

    result = tool.run("--install-dir", deployed, "boot-entry", "--install")

    assert result.returncode == 0, result.stderr
    assert crontab("-l").stdout.splitlines() == [other, line]
