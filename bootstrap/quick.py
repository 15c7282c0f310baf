"""The quick `status` behind fast.main, and XML-RPC calls without supervisor's
transport (DESIGN.md, "Performance targets").

Answers with _socket, json and expat alone: reads the instance names from
site.json (which init writes beside site.toml), asks every instance at once over
its unix socket, and returns what mirror.status prints for all programs. Returns
None for anything it does not handle (no or stale site.json, an instance that
does not answer, a fault, an unknown type), so that the full command line does it
again and says why. Never writes a file.
"""

import _socket
import json
import os

from bootstrap.errors import EXIT_NOT_RUNNING, EXIT_OK, worst

# supervisor.states.STOPPED_STATES, by name (as mirror.py has them).
STOPPED_STATE_NAMES = ("STOPPED", "EXITED", "FATAL", "UNKNOWN")
SITE_INDEX = "site.json"
# Past this the full command line takes over, and waits as long as it must.
ANSWER_TIMEOUT = 30


class NotQuick(Exception):
    """Something the quick path does not handle; the full command line will."""


# Whatever goes wrong here, the full command line meets it again and says why.
FAILURES = (NotQuick, OSError, ValueError, LookupError, TypeError, AttributeError)


def answer(root, chosen):
    """Return (status text, exit status) of every program, or None to leave it to cli."""
    try:
        return status_text(root, chosen)
    except FAILURES:
        return None


def status_text(root, chosen):
    """Return (status text, exit status) as mirror.status has them for every program."""
    names = instance_names(root, chosen)
    answers = ask_all(root, names)
    width = max(len(name) for name in names)
    parts, codes = [], []
    for name in names:
        infos = answers[name]
        parts += [f"{name:<{width}}  {line}\n" for line in format_status_lines(infos)]
        stopped = any(info["statename"] in STOPPED_STATE_NAMES for info in infos)
        codes.append(EXIT_NOT_RUNNING if stopped else EXIT_OK)
    return "".join(parts), worst(codes)


def instance_names(root, chosen):
    """Return the instances to ask, from site.json if it still matches site.toml."""
    with open(os.path.join(root, SITE_INDEX), "rb") as fh:
        index = json.loads(fh.read().decode("utf-8"))
    if index.get("site_toml") != file_signature(os.path.join(root, "site.toml")):
        raise NotQuick("site.toml changed since init wrote site.json")
    names = list(index["site"]["instances"])
    if chosen is None:
        return names
    if chosen not in names:
        raise NotQuick(f"no instance {chosen}")
    return [chosen]


def file_signature(path):
    """Return what tells a file apart from any later version of it."""
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def format_status_lines(infos):
    """Return supervisorctl's status lines for infos (as mirror.format_status_lines)."""
    specs = [f"{i['group']}:{i['name']}" if i["group"] != i["name"] else i["name"]
             for i in infos]
    width = max([30] + [len(s) for s in specs]) + 3
    return [f"{spec:<{width}}{info['statename']:<10}{info['description']}"
            for spec, info in zip(specs, infos)]


def ask_all(root, names):
    """Return {instance: getAllProcessInfo()}, every instance asked before any is read."""
    sockets = {}
    try:
        for name in names:
            with open(os.path.join(root, "keys", f"{name}.key")) as fh:
                key = fh.read().strip()
            sockets[name] = send_request(os.path.join(root, "run", f"supervisord-{name}.sock"),
                                         name, key, "supervisor.getAllProcessInfo")
        return {name: read_answer(sock) for name, sock in sockets.items()}
    finally:
        for sock in sockets.values():
            sock.close()


def call(socket_path, username, key, method):
    """Return the result of one XML-RPC call without arguments; raise one of FAILURES."""
    sock = send_request(str(socket_path), username, key, method)
    try:
        return read_answer(sock)
    finally:
        sock.close()


def send_request(socket_path, username, key, method):
    """Connect to a supervisord's socket and send the call of method, without arguments."""
    import binascii

    body = (f"<?xml version='1.0'?>\n<methodCall>\n<methodName>{method}</methodName>\n"
            "<params>\n</params>\n</methodCall>\n").encode("ascii")
    credentials = binascii.b2a_base64(f"{username}:{key}".encode("utf-8")).strip()
    head = ("POST /RPC2 HTTP/1.0\r\nHost: localhost\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {len(body)}\r\nAuthorization: Basic ")
    # _socket, not socket: the latter builds its enums at import, a tenth of a status.
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(ANSWER_TIMEOUT)
        sock.connect(socket_path)
        sock.sendall(head.encode("ascii") + credentials + b"\r\n\r\n" + body)
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
    if not decoder.done:
        raise NotQuick("no value in the answer")
    return decoder.result


class _Decoder:
    """Build the Python value of an XML-RPC answer, for the types supervisor sends."""

    SCALARS = {"string": str, "int": int, "i4": int, "boolean": lambda t: t == "1",
               "double": float}

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
                self._put(text)
        elif tag in self.SCALARS:
            self.typed = True
            self._put(self.SCALARS[tag](text))
        elif tag == "name":
            self.open[-1][1] = text
        elif tag in ("array", "struct"):
            self.typed = True
            self._put(self.open.pop()[0])
        elif tag not in ("data", "member", "param", "params", "methodResponse"):
            raise NotQuick(f"unexpected <{tag}> in the answer")

    def _put(self, value):
        top = self.open[-1] if self.open else None
        if top is None:
            self.result, self.done = value, True
        elif top[1] is None:
            top[0].append(value)
        else:
            top[0][top[1]] = value
            top[1] = None
