"""The build: reproducible bytes, pure Python only, no supervisor test suite."""

import hashlib
import subprocess
import sys
import zipfile

from conftest import ROOT


def build(target):
    subprocess.run([sys.executable, str(ROOT / "build.py"), "--output", str(target)],
                   check=True, stdout=subprocess.PIPE, timeout=600)
    return hashlib.sha256(target.read_bytes()).hexdigest()


def test_two_builds_of_one_tree_give_the_same_bytes(pyz, tmp_path):
    again = build(tmp_path / "again.pyz")

    assert again == hashlib.sha256(pyz.read_bytes()).hexdigest()


def test_pyz_carries_no_compiled_module_and_no_test_suite(pyz):
    names = zipfile.ZipFile(str(pyz)).namelist()

    compiled = [n for n in names if n.endswith((".so", ".pyd", ".dylib", ".pyc"))]
    assert compiled == []
    assert not [n for n in names if n.startswith("site-packages/supervisor/tests/")]
    assert "site-packages/supervisor/supervisord.py" in names
    assert "site-packages/tomli/_parser.py" in names
    assert "site-packages/bootstrap/payload/templates/supervisord.conf" in names


def test_pyz_is_executable_with_a_portable_shebang(pyz):
    with open(str(pyz), "rb") as fh:
        first = fh.readline()

    assert first == b"#!/usr/bin/env python3\n"
    assert pyz.stat().st_mode & 0o111


def test_version_names_tool_supervisor_python_and_build(tool):
    result = tool.run("version")

    assert result.returncode == 0, result.stderr
    assert "supervisor: 4.3.0" in result.stdout
    assert "build_id: " in result.stdout and "python: 3." in result.stdout
