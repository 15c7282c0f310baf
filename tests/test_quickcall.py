"""The quick status's XML-RPC decoder, held to the standard library's.

xmlrpc.client is the oracle: whatever it writes as an answer, from any value the
types of supervisor's answers can build, quickcall must read back as
xmlrpc.client reads it. Whatever else comes, it must raise NotQuick, never answer
something else and never let another exception out.
"""

import socket
import threading
import xmlrpc.client

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootstrap import quickcall
from bootstrap.quickcall import NotQuick

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

# XML 1.0 cannot carry most control characters at all, so xmlrpc.client cannot
# send them either; supervisor's answers never hold them.
XML_TEXT = st.text(st.characters(blacklist_categories=("Cs",),
                                 blacklist_characters="".join(
                                     chr(c) for c in range(32) if c not in (9, 10))))
SCALARS = (XML_TEXT | st.integers(min_value=-2 ** 31, max_value=2 ** 31 - 1)
           | st.booleans() | st.floats(allow_nan=False, allow_infinity=False))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=5)
                      | st.dictionaries(XML_TEXT, inner, max_size=5), max_leaves=30)


def oracle(value):
    """Return the answer xmlrpc.client writes for value, and what it reads back."""
    body = xmlrpc.client.dumps((value,), methodresponse=True).encode("utf-8")
    (expected,), _ = xmlrpc.client.loads(body)
    return body, expected


@SETTINGS
@given(VALUES)
def test_decodes_what_xmlrpc_client_decodes(value):
    body, expected = oracle(value)

    assert quickcall.decode_response(body) == expected


def test_decodes_a_process_info_as_supervisord_sends_it():
    info = {"name": "jaws-jtm", "group": "jaws-staging", "statename": "RUNNING",
            "state": 20, "pid": 4242, "description": "pid 4242, uptime 0:00:07",
            "start": 1764790000, "now": 1764790007, "stop": 0, "exitstatus": 0,
            "spawnerr": "", "logfile": "/x/log/a & <b>.log", "stdout_logfile": "",
            "stderr_logfile": ""}
    body, expected = oracle([info, dict(info, name="other")])

    assert quickcall.decode_response(body) == expected


@pytest.mark.parametrize("body", [
    xmlrpc.client.dumps(xmlrpc.client.Fault(10, "BAD_NAME"), methodresponse=True),
    xmlrpc.client.dumps((None,), methodresponse=True, allow_none=True),
    xmlrpc.client.dumps((xmlrpc.client.Binary(b"x"),), methodresponse=True),
    xmlrpc.client.dumps((xmlrpc.client.DateTime(0),), methodresponse=True),
    "<methodResponse><params><param><value><i8>5</i8></value></param></params>"
    "</methodResponse>",
    "<methodResponse><params><param><value><int>five</int></value></param></params>"
    "</methodResponse>",
    "<methodResponse><params><param><value><boolean>2</boolean></value></param>"
    "</params></methodResponse>",
    "<methodResponse><params><param><value><array><data><name>x</name><value>1</value>"
    "</data></array></value></param></params></methodResponse>",
    "<methodResponse><params><param><value>1</value></param><param><value>2</value>"
    "</param></params></methodResponse>",
    "<methodResponse><params></params></methodResponse>",
    "<methodResponse><params><param><value>",
    "",
    "not xml at all",
], ids=range(13))
def test_anything_else_is_not_quick(body):
    with pytest.raises(NotQuick):
        quickcall.decode_response(body.encode("utf-8"))


@SETTINGS
@given(st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8")))
def test_garbage_is_not_quick(body):
    try:
        quickcall.decode_response(body)
    except NotQuick:
        pass


class OneAnswerServer:
    """A unix socket that takes one request, keeps it, and sends a canned answer."""

    def __init__(self, path, answer):
        self.answer = answer
        self.request = b""
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        conn, _ = self.listener.accept()
        with conn:
            while b"</methodCall>" not in self.request:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                self.request += chunk
            conn.sendall(self.answer)

    def close(self):
        self.thread.join(10)
        self.listener.close()


def call(tmp_path, answer):
    server = OneAnswerServer(tmp_path / "s.sock", answer)
    try:
        sock = quickcall.send_request(str(tmp_path / "s.sock"), "jaws", "k3y", "a.b")
        try:
            return quickcall.read_answer(sock), server.request
        finally:
            sock.close()
    finally:
        server.close()


def test_request_is_one_xml_rpc_call_with_basic_auth(tmp_path):
    body = xmlrpc.client.dumps(([1, "two"],), methodresponse=True).encode("utf-8")
    answer = b"HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n" + body

    result, request = call(tmp_path, answer)

    head, _, sent = request.partition(b"\r\n\r\n")
    assert result == [1, "two"]
    assert head.startswith(b"POST /RPC2 HTTP/1.0\r\n")
    assert b"\r\nAuthorization: Basic amF3czprM3k=" in head  # jaws:k3y
    assert xmlrpc.client.loads(sent) == ((), "a.b")


@pytest.mark.parametrize("answer", [
    b"HTTP/1.0 401 Unauthorized\r\n\r\n",
    b"HTTP/1.0 500 Internal Server Error\r\n\r\n<methodResponse/>",
    b"",
], ids=["401", "500", "closed"])
def test_an_answer_other_than_200_is_not_quick(tmp_path, answer):
    with pytest.raises(NotQuick):
        call(tmp_path, answer)


def test_no_socket_is_an_os_error(tmp_path):
    with pytest.raises(OSError):
        quickcall.send_request(str(tmp_path / "none.sock"), "jaws", "k", "a.b")
