"""One XML-RPC call to a supervisord over its unix socket, for the quick status only.

Every other command talks to supervisord through xmlrpc.client (rpc.py). Importing
that client loads http.client, email and ssl: on its own more than the whole
time DESIGN.md allows a status of both instances ("Performance targets"; figures
in bench/RESULTS.md). This module needs only _socket, binascii and pyexpat, all
built into the interpreter. It sends one HTTP/1.0 request per connection and
decodes the types supervisor's answers use. Anything else (a fault, another
status than 200, a type it does not know, broken XML) raises NotQuick, and the
quick status leaves the command to the full command line, which asks again
through xmlrpc.client and reports as always. tests/test_quickcall.py holds this
decoder to xmlrpc.client's on every value those types can build.
"""

# _socket, not socket: the latter builds its enums at import, a tenth of a status.
import _socket

from bootstrap.errors import BootstrapError
from bootstrap.rpc import answer_timeout


class NotQuick(Exception):
    """Something the quick path does not handle; the full command line will."""


def send_request(socket_path, username, key, method):
    """Connect to a supervisord's socket and send a call of method without arguments."""
    import binascii

    body = (f"<?xml version='1.0'?>\n<methodCall>\n<methodName>{method}</methodName>\n"
            "<params>\n</params>\n</methodCall>\n").encode("ascii")
    credentials = binascii.b2a_base64(f"{username}:{key}".encode("utf-8")).strip()
    head = ("POST /RPC2 HTTP/1.0\r\nHost: localhost\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {len(body)}\r\nAuthorization: Basic ").encode("ascii")
    try:
        # Half the full path's wait: a hung instance is asked again there.
        timeout = answer_timeout() / 2
    except BootstrapError as exc:
        raise NotQuick(str(exc)) from None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(socket_path)
        sock.sendall(head + credentials + b"\r\n\r\n" + body)
    except BaseException:
        sock.close()
        raise
    return sock


def read_answer(sock):
    """Read one HTTP/1.0 answer to its end; return the decoded XML-RPC result."""
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    if head.split(b" ", 2)[1:2] != [b"200"]:
        raise NotQuick("the answer is not 200 OK")
    return decode_response(body)


def decode_response(body):
    """Return the value of an XML-RPC methodResponse; a fault or odd type is NotQuick."""
    # pyexpat is what xml.parsers.expat re-exports, without two packages to import.
    import pyexpat

    decoder = _Decoder()
    parser = pyexpat.ParserCreate("UTF-8")
    parser.buffer_text = True
    parser.StartElementHandler = decoder.start
    parser.EndElementHandler = decoder.end
    parser.CharacterDataHandler = decoder.characters
    try:
        parser.Parse(body, True)
    except pyexpat.ExpatError as exc:
        raise NotQuick(f"not XML: {exc}") from None
    except (ValueError, LookupError, TypeError, AttributeError) as exc:
        # A number that is not one, a <name> outside a struct, and the like.
        raise NotQuick(f"not an XML-RPC answer: {exc!r}") from None
    if not decoder.done:
        raise NotQuick("no value in the answer")
    return decoder.result


class _Decoder:
    """Build the Python value of an XML-RPC answer from the parser's events."""

    SCALARS = {"string": str, "int": int, "i4": int, "double": float,
               "boolean": lambda text: {"0": False, "1": True}[text.strip()]}
    FRAMING = ("data", "member", "param", "params", "methodResponse")

    def __init__(self):
        self.text = ""
        self.open = []
        self.typed = False
        self.result = None
        self.done = False

    def characters(self, data):
        self.text += data

    def start(self, tag, attrs):
        self.text = ""
        if tag == "value":
            self.typed = False
        elif tag == "struct":
            self.open.append([{}, None])
        elif tag == "array":
            self.open.append([[], None])
        elif tag == "fault":
            raise NotQuick("the instance answered with a fault")

    def end(self, tag):
        text, self.text = self.text, ""
        if tag == "value":
            if not self.typed:
                self._put(text)  # a value without a type is a string
        elif tag in self.SCALARS:
            self.typed = True
            self._put(self.SCALARS[tag](text))
        elif tag == "name":
            self.open[-1][1] = text
        elif tag in ("array", "struct"):
            self.typed = True
            self._put(self.open.pop()[0])
        elif tag not in self.FRAMING:
            raise NotQuick(f"unexpected <{tag}> in the answer")

    def _put(self, value):
        if self.done:
            raise NotQuick("more than one value in the answer")
        top = self.open[-1] if self.open else None
        if top is None:
            self.result, self.done = value, True
        elif top[1] is None:
            top[0].append(value)
        else:
            top[0][top[1]] = value
            top[1] = None
