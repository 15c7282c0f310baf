"""The GitLab CI example, run for real with gitlab-ci-local: each site its own install."""

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT, program_pids

GITLAB_CI_LOCAL = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "gitlab-ci-local"
SITES = {"perlmutter-staging": "staging", "dori-prod": "prod"}

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="no node on this machine "
                       "(gitlab-ci-local needs Node 20)"),
    pytest.mark.skipif(not GITLAB_CI_LOCAL.exists(), reason=f"no {GITLAB_CI_LOCAL} "
                       "(.ci/run installs gitlab-ci-local with npm)"),
    pytest.mark.skipif(shutil.which("rsync") is None, reason="no rsync (gitlab-ci-local "
                       "copies the repository with it)"),
]


def make_repository(target, installs):
    """Copy what the build needs as a git repository whose pipeline is the example's.

    The example's site files point at installs (short private directories), and
    build/ links to this tree's build environment so the build needs no network.
    """
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("bootstrap", "payload", "examples"):
        shutil.copytree(str(ROOT / name), str(target / name), ignore=ignore)
    shutil.copy2(str(ROOT / "build.py"), str(target / "build.py"))
    shutil.copy2(str(ROOT / "examples" / ".gitlab-ci.yml"), str(target / ".gitlab-ci.yml"))
    (target / "build").symlink_to(ROOT / "build")
    for site, deployment in SITES.items():
        path = target / "examples" / "sites" / f"{site}.toml"
        lines = [f'install_dir = "{installs[deployment]}"' if line.startswith("install_dir")
                 else line for line in path.read_text().splitlines()]
        path.write_text("\n".join(lines) + "\n")
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "example"],
                 ["remote", "add", "origin", "https://example.invalid/jaws/bootstrap.git"]):
        subprocess.run(git + args, cwd=str(target), check=True, stdout=subprocess.DEVNULL)


def test_example_pipeline_builds_once_and_deploys_every_site(tool):
    base = Path(tempfile.mkdtemp(prefix="jb-ci-", dir="/tmp"))
    installs = {d: base / d for d in SITES.values()}
    for install in installs.values():
        tool.track(install)
    repository = base / "repo"
    repository.mkdir()
    try:
        make_repository(repository, installs)

        result = subprocess.run([str(GITLAB_CI_LOCAL)], cwd=str(repository), timeout=900,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True, env=tool.env)
        tool.track_install_pids()

        assert result.returncode == 0, result.stdout[-4000:]
        for job in ("build", "deploy-perlmutter-staging", "deploy-dori-prod"):
            assert f"PASS  {job}" in result.stdout, result.stdout[-4000:]
        for install in installs.values():
            pids = {**program_pids(install, "jaws"), **program_pids(install, "jtm")}
            assert len(pids) == 2
            for pid in pids.values():
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                assert not [v for v in environ if v.startswith(b"CI_")]
    finally:
        tool.cleanup()
        shutil.rmtree(str(base), ignore_errors=True)
