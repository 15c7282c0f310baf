"""Edges an operator meets: redeploying without the site file, dropping an instance,
a symlinked parent, a config supervisord refuses, removed run and log directories,
the install's own launcher."""

import shutil
import subprocess
import sys

from conftest import pid_alive, program_pids, staging_site


def test_deploy_without_config_renders_the_installs_own_site(tool, install_dir, tmp_path):
    site = staging_site(tmp_path, install_dir)
    assert tool.run("--config", site, "deploy", "--timeout", "60").returncode == 0
    before = program_pids(install_dir, "jaws")

    again = tool.run("--install-dir", install_dir, "deploy", "--timeout", "60")

    assert again.returncode == 0, again.stderr
    assert "rendering" in again.stderr and "site.toml" in again.stderr
    assert program_pids(install_dir, "jaws") == before
    assert 'deployment = "staging"' in (install_dir / "site.toml").read_text()


def test_deploy_that_drops_an_instance_shuts_it_down(tool, install_dir, tmp_path):
    site = staging_site(tmp_path, install_dir)
    assert tool.run("--config", site, "deploy", "--timeout", "60").returncode == 0
    jtm_pid = int((install_dir / "run" / "supervisord-jtm.pid").read_text())
    jtm_programs = list(program_pids(install_dir, "jtm").values())
    text = site.read_text()
    site.write_text(text[:text.index("[instances.jtm]")])

    result = tool.run("--config", site, "deploy", "--timeout", "60")

    assert result.returncode == 0, result.stderr
    assert "jtm: not in the new site" in result.stderr
    assert not pid_alive(jtm_pid)
    assert not [p for p in jtm_programs if pid_alive(p)]


def test_parent_reached_through_a_symlink_is_checked_where_it_leads(tool, tmp_path):
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    link = tmp_path / "link"
    link.symlink_to(open_dir)

    result = tool.run("--example", "--install-dir", link / "inst", "init")

    assert result.returncode == 2
    assert "writable by other accounts" in result.stderr
    assert list(open_dir.iterdir()) == []


def test_up_names_supervisords_reason_and_starts_the_other(tool, install_dir, tmp_path):
    site = staging_site(tmp_path, install_dir)
    assert tool.run("--config", site, "deploy", "--timeout", "60").returncode == 0
    assert tool.run("--install-dir", install_dir, "down").returncode == 0
    (install_dir / "supervisord-jaws.conf").write_text("edited by hand\n")

    result = tool.run("--install-dir", install_dir, "up")

    assert result.returncode == 1
    assert "jtm: started (pid " in result.stderr
    assert ("error: supervisord of instance jaws did not start: Error: File contains no "
            "section headers") in result.stderr
    assert [p.name for p in (install_dir / "run").glob("*.pid")] == ["supervisord-jtm.pid"]


def test_up_recreates_removed_run_and_log_directories(tool, install_dir, tmp_path):
    site = staging_site(tmp_path, install_dir)
    assert tool.run("--config", site, "deploy", "--timeout", "60").returncode == 0
    assert tool.run("--install-dir", install_dir, "down").returncode == 0
    modes = {d: (install_dir / d).stat().st_mode for d in ("run", "logs", "logs/jtm")}
    shutil.rmtree(str(install_dir / "run"))
    shutil.rmtree(str(install_dir / "logs"))

    result = tool.run("--install-dir", install_dir, "up")

    assert result.returncode == 0, result.stderr
    assert f"recreated {install_dir}/run, {install_dir}/logs" in result.stderr
    assert {d: (install_dir / d).stat().st_mode for d in modes} == modes
    status = tool.run("--install-dir", install_dir, "status")
    assert "STARTING" in status.stdout or "RUNNING" in status.stdout


def test_installs_own_launcher_needs_no_install_dir(tool, install_dir):
    assert tool.run("--example", "--install-dir", install_dir, "deploy").returncode == 0

    result = subprocess.run([sys.executable, "-I", str(install_dir / "bin" / "jaws-bootstrap"),
                             "status"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=60, cwd="/")

    assert result.returncode == 0, result.stderr
    assert result.stdout.count(" RUNNING ") == 4


def test_deploy_refuses_a_missing_command_and_keeps_the_service(tool, install_dir, tmp_path):
    site = staging_site(tmp_path, install_dir)
    assert tool.run("--config", site, "deploy", "--timeout", "60").returncode == 0
    before = program_pids(install_dir, "jaws")
    config = (install_dir / "supervisord-jaws.conf").read_bytes()
    text = site.read_text()
    site.write_text(text.replace(f"{tmp_path}/shims/jaws-site-daemon", "/nonexistent/daemon"))

    result = tool.run("--config", site, "deploy", "--timeout", "60")

    assert result.returncode == 2
    assert "instances.jaws.programs.jaws-site-daemon.command" in result.stderr
    assert "/nonexistent/daemon: no such file" in result.stderr
    assert program_pids(install_dir, "jaws") == before
    assert (install_dir / "supervisord-jaws.conf").read_bytes() == config


def test_check_parses_the_configs_deploy_would_render(tool, install_dir, tmp_path):
    site = staging_site(tmp_path, install_dir)
    site.write_text(site.read_text().replace("stopwaitsecs = 20", 'stopsignal = "NOPE"'))

    checked = tool.run("--config", site, "check")

    assert checked.returncode == 1
    assert "instances.jtm: supervisord config" in checked.stdout
    assert "'NOPE' is not a valid signal name" in checked.stdout
    assert not install_dir.exists()
