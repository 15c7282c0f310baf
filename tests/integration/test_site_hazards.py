"""Awkward site files and install directories through the built .pyz.

A site file that cannot work is one sentence naming the file, status 2, before
anything is created; an install directory with a "%" in its path works end to end.
"""

import os
import re

import pytest

from conftest import PYTHONS, free_port, staging_site, supervisorctl

ERROR = "jaws-bootstrap: error: "


def refusal(result):
    """Return the one error line of a refused run (status 2, no traceback)."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    # Running as root adds one warning line per instance; nothing else may show.
    lines = [line for line in result.stderr.splitlines()
             if not line.startswith("jaws-bootstrap: instance ")]
    assert len(lines) == 1 and lines[0].startswith(ERROR), result.stderr
    return lines[0][len(ERROR):]


def test_deploy_into_install_dir_with_percent_runs_every_program(tool, install_dir, tmp_path):
    target = install_dir.parent / "p%d"
    site = staging_site(tmp_path, target)

    deployed = tool.run("--config", site, "--install-dir", target, "deploy", "--timeout", "60")
    status = tool.run("--install-dir", target, "status")
    native = supervisorctl(target, "jtm", "status")

    assert deployed.returncode == 0, deployed.stderr
    assert status.returncode == 0, status.stderr
    assert len(re.findall(r"\bRUNNING\b", status.stdout)) == 5, status.stdout
    assert native.returncode == 0 and native.stdout.count("RUNNING") == 2, native.stderr
    assert (target / "logs" / "jaws" / "jaws-site-daemon.log").is_file()


@pytest.mark.parametrize("jtm_host", ["localhost", "127.0.0.1"])
def test_two_instances_on_one_port_stop_deploy_and_check(tool, install_dir, tmp_path,
                                                         jtm_host):
    port = free_port()
    site = staging_site(tmp_path, install_dir)
    text = site.read_text()
    text = text.replace("[instances.jaws]\n", f'[instances.jaws]\ninet = "127.0.0.1:{port}"\n')
    text = text.replace("[instances.jtm]\n", f'[instances.jtm]\ninet = "{jtm_host}:{port}"\n')
    site.write_text(text)

    deployed = tool.run("--config", site, "deploy", "--timeout", "30")
    checked = tool.run("--config", site, "check")

    message = refusal(deployed)
    assert message.startswith(f"{site}: instances.jaws.inet and instances.jtm.inet: "
                              f"both use port {port}")
    assert refusal(checked) == message
    assert not install_dir.exists()


def test_site_file_that_is_a_fifo_is_refused_at_once(tool, install_dir, tmp_path):
    fifo = tmp_path / "site.toml"
    os.mkfifo(str(fifo))

    result = tool.run("--config", fifo, "--install-dir", install_dir, "deploy", timeout=30)

    assert refusal(result) == (f"{fifo}: the site file is a FIFO, not a regular file; "
                               "give --config the path of a TOML file")
    assert not install_dir.exists()


def test_deeply_nested_site_is_a_site_error_under_each_python(any_tool, install_dir,
                                                              tmp_path):
    site = tmp_path / "site.toml"
    site.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")

    result = any_tool.run("--config", site, "--install-dir", install_dir, "check")

    assert refusal(result).startswith(f"{site}: the site file nests arrays or tables")


def test_environment_value_error_names_file_and_creates_nothing(tool, install_dir, tmp_path):
    site = staging_site(tmp_path, install_dir)
    site.write_text(site.read_text().replace('LC_ALL = "C.UTF-8"', "X = \"'quoted'\""))

    result = tool.run("--config", site, "init")

    assert refusal(result).startswith(
        f"{site}: instances.jaws.programs.jaws-site-daemon.environment.X: may not start")
    assert not install_dir.exists()


def test_missing_control_group_names_the_site_file(tool, install_dir, tmp_path):
    site = staging_site(tmp_path, install_dir)
    site.write_text(site.read_text().replace(
        "[instances.jaws]\n", '[instances.jaws]\ncontrol_group = "jb-no-such-group"\n'))

    result = tool.run("--config", site, "init")

    assert refusal(result) == (f'{site}: instances.jaws.control_group: no group '
                               '"jb-no-such-group" on this host')
    assert not install_dir.exists()


def c_locale_36(tool):
    """Return (python3.6, an environment with the C locale) or skip."""
    if "3.6" not in PYTHONS:
        pytest.skip("needs CPython 3.6, whose C locale is ASCII (3.7+ coerce it to UTF-8)")
    return PYTHONS["3.6"], {"PATH": "/usr/bin:/bin", "LANG": "C"}


def test_non_ascii_install_dir_option_under_c_locale_asks_for_utf8(tool, install_dir):
    python, env = c_locale_36(tool)
    target = install_dir.parent / "xx" / "ü6"

    result = tool.run("--example", "--install-dir", target, "deploy", python=python,
                      env=env)

    message = refusal(result)
    assert message.startswith("--install-dir: ") and "holds non-ASCII text" in message
    assert "set LANG=C.UTF-8" in message
    assert not target.parent.exists()


def test_non_ascii_install_dir_in_site_under_c_locale_asks_for_utf8(tool, install_dir,
                                                                     tmp_path):
    python, env = c_locale_36(tool)
    target = install_dir.parent / "xx" / "ü6"
    site = staging_site(tmp_path, target)

    result = tool.run("--config", site, "deploy", python=python, env=env)

    message = refusal(result)
    assert message.startswith(f"{site}: install_dir: ") and "set LANG=C.UTF-8" in message
    assert not target.parent.exists()
