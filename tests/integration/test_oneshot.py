"""deploy of one-shot programs (autorestart = false): waited for until they have exited."""

import json
import time

from conftest import staging_site, supervisorctl
from deploysites import config_bytes

MIG = "jaws-staging:mig"


def one_shot(script, startsecs=None):
    """Return the site-file table of a one-shot program mig on instance jaws."""
    table = (f"\n[instances.jaws.programs.mig]\n"
             f'command = ["/bin/sh", "-c", {json.dumps(script)}]\nautorestart = false\n')
    return table + (f"startsecs = {startsecs}\n" if startsecs is not None else "")


def deploy(tool, site, install_dir, timeout=60):
    return tool.run("--config", site, "--install-dir", install_dir, "deploy",
                    "--timeout", timeout)


def mig_state(install_dir):
    words = supervisorctl(install_dir, "jaws", "status", MIG).stdout.split()
    return words[1] if len(words) > 1 else None


def lines_of(path):
    return path.read_text().split() if path.exists() else []


def files_in(directory):
    return {p.name: p.read_bytes() for p in directory.iterdir()} if directory.is_dir() else {}


def test_failing_one_shot_fails_deploy_and_is_never_marked_good(tool, tmp_path, install_dir):
    site = staging_site(tmp_path, install_dir)
    assert deploy(tool, site, install_dir).returncode == 0
    mark = (install_dir / ".last-good").read_bytes()
    good = config_bytes(install_dir)
    site = staging_site(tmp_path, install_dir, extra=one_shot("sleep 3; echo boom; exit 5"))

    result = deploy(tool, site, install_dir)
    kept = files_in(install_dir / "previous")
    again = deploy(tool, site, install_dir)

    assert result.returncode == 1
    assert (f"one-shot program {MIG} of instance jaws is EXITED with exit status 5"
            in result.stderr)
    assert "  boom" in result.stderr
    assert (install_dir / ".last-good").read_bytes() == mark
    # The failing deploy replaced the good set, which previous/ keeps from then on.
    assert kept == good
    assert again.returncode == 1 and "exit status 5" in again.stderr
    assert f"'start -i jaws {MIG}' runs it again" in again.stderr
    assert files_in(install_dir / "previous") == kept
    assert (install_dir / ".last-good").read_bytes() == mark


def test_deploy_waits_for_one_shot_with_startsecs_0(tool, tmp_path, install_dir):
    runs = tmp_path / "runs"
    script = f"sleep 2; echo ran >> {runs}; exit 0"
    site = staging_site(tmp_path, install_dir, extra=one_shot(script, startsecs=0))

    began = time.monotonic()
    result = deploy(tool, site, install_dir)
    took = time.monotonic() - began

    assert result.returncode == 0, result.stderr
    assert took >= 2
    assert mig_state(install_dir) == "EXITED"
    assert lines_of(runs) == ["ran"]


def test_unchanged_redeploy_neither_waits_for_nor_reruns_one_shot(tool, tmp_path,
                                                                   install_dir):
    runs = tmp_path / "runs"
    script = f"sleep 2; echo ran >> {runs}; exit 0"
    site = staging_site(tmp_path, install_dir, extra=one_shot(script, startsecs=0))
    assert deploy(tool, site, install_dir).returncode == 0

    result = deploy(tool, site, install_dir)

    assert result.returncode == 0, result.stderr
    assert "jaws: 0 restarted, 0 added, 0 removed" in result.stderr
    assert "waiting" not in result.stderr
    assert mig_state(install_dir) == "EXITED"
    assert lines_of(runs) == ["ran"]


def test_one_shot_still_running_from_an_earlier_deploy_is_waited_for(tool, tmp_path,
                                                                      install_dir):
    runs = tmp_path / "runs"
    script = f"sleep 8; echo ran >> {runs}; exit 0"
    site = staging_site(tmp_path, install_dir, extra=one_shot(script, startsecs=0))

    first = deploy(tool, site, install_dir, timeout=3)
    second = deploy(tool, site, install_dir)

    assert first.returncode == 1
    assert f"one-shot program {MIG} of instance jaws is RUNNING after 3" in first.stderr
    assert second.returncode == 0, second.stderr
    assert (f"one-shot jaws:{MIG} to finish (RUNNING, not started by this run)"
            in second.stderr)
    assert lines_of(runs) == ["ran"]


def test_rollback_runs_the_one_shot_of_the_previous_set_again(tool, tmp_path, install_dir):
    runs = tmp_path / "runs"
    good_mig = one_shot(f"echo v1 >> {runs}; exit 0", startsecs=0)
    assert deploy(tool, staging_site(tmp_path, install_dir, extra=good_mig),
                  install_dir).returncode == 0
    good = config_bytes(install_dir)
    bad_mig = one_shot(f"echo v2 >> {runs}; echo boom; exit 5", startsecs=0)
    assert deploy(tool, staging_site(tmp_path, install_dir, extra=bad_mig),
                  install_dir).returncode == 1

    result = tool.run("--install-dir", install_dir, "rollback", "--timeout", "60")

    assert result.returncode == 0, result.stderr
    assert config_bytes(install_dir) == good
    assert mig_state(install_dir) == "EXITED"
    assert lines_of(runs) == ["v1", "v2", "v1"]
