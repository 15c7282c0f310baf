"""The quick status's own logic: which command lines it takes, how it reads XML-RPC."""

import xmlrpc.client

import pytest

from bootstrap import fast, quick


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


PROCESS = {"name": "jaws-jtm", "group": "jaws-staging", "start": 1, "stop": 0, "now": 9,
           "state": 20, "statename": "RUNNING", "spawnerr": "", "exitstatus": 0,
           "logfile": "/x/l&<o>g", "pid": 42, "description": "pid 42, uptime 0:00:08"}


@pytest.mark.parametrize("value", [
    [PROCESS, dict(PROCESS, name="\u00e9t\u00e9", description="")],
    [],
    [{"nested": [1, [True, False], {"x": 1.5}], "empty": {}}],
])
def test_decode_response_matches_xmlrpc_client(value):
    body = xmlrpc.client.dumps((value,), methodresponse=True).encode("utf-8")

    assert quick.decode_response(body) == xmlrpc.client.loads(body)[0][0]


def test_decode_response_untyped_value_is_a_string():
    body = (b"<?xml version='1.0'?><methodResponse><params><param>"
            b"<value>plain &amp; simple</value></param></params></methodResponse>")

    assert quick.decode_response(body) == "plain & simple"


@pytest.mark.parametrize("body", [
    xmlrpc.client.dumps(xmlrpc.client.Fault(10, "BAD_NAME"), methodresponse=True).encode(),
    xmlrpc.client.dumps((xmlrpc.client.DateTime(0),), methodresponse=True).encode(),
    b"<methodResponse><params>",
    b"",
])
def test_decode_response_leaves_faults_and_odd_answers(body):
    with pytest.raises(quick.NotQuick):
        quick.decode_response(body)


def test_format_status_lines_as_mirror():
    from bootstrap import mirror

    infos = [PROCESS, dict(PROCESS, group="solo", name="solo", statename="STOPPED",
                           description="Dec 03 05:10 PM"),
             dict(PROCESS, name="x" * 40)]

    assert quick.format_status_lines(infos) == mirror.format_status_lines(infos)
