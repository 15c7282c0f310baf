"""The quick status's own logic: which command lines it takes."""

import pytest

from bootstrap import fast


@pytest.mark.parametrize("argv, expected", [
    (["--install-dir", "/x", "status"], ("/x", None)),
    (["--install-dir=/x", "status", "-i", "jtm"], ("/x", "jtm")),
    (["--install-dir", "/x", "status", "--instance", "jaws"], ("/x", "jaws")),
    (["--install-dir", "/x", "status", "--instance=jaws"], ("/x", "jaws")),
    (["--deployment", "staging", "status"], ("/tmp/jaws-supervisord-staging", None)),
    (["--deployment", "s", "--install-dir", "/x", "status"], ("/x", None)),
])
def test_status_form_takes_plain_status(argv, expected):
    assert fast.status_form(argv) == expected


@pytest.mark.parametrize("argv", [
    ["status"],
    ["--install-dir", "/x", "up"],
    ["--install-dir", "", "status"],
    ["--install-dir", "/x", "--install-dir", "/y", "status"],
    ["--install-dir", "/x", "status", "all"],
    ["--install-dir", "/x", "status", "--json"],
    ["--install-dir", "/x", "status", "-i"],
    ["--install-dir", "/x", "status", "-i=jtm"],
    ["--install-dir", "/x", "status", "-ijtm"],
    ["--install-dir", "/x", "status", "-i", "-v"],
    ["--install", "/x", "status"],
    ["-v", "--install-dir", "/x", "status"],
    ["--config", "site.toml", "status"],
    ["--install-dir", "status", "status"],
    ["--install-dir", "/x", "status", "-h"],
])
def test_status_form_leaves_the_rest_to_the_parser(argv):
    assert fast.status_form(argv) is None
