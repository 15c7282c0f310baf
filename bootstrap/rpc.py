"""Talking to a running supervisord over its unix socket with xmlrpc.client.

Never starts or stops supervisord itself; that is instances.py.
"""

import os

from bootstrap.errors import EXIT_UNREACHABLE, EXIT_USAGE, BootstrapError

# A supervisord that takes longer than this to answer a question is hung (stopped
# with SIGSTOP, swapped out, wedged): the command reports it instead of waiting on.
ANSWER_TIMEOUT = 10.0
ANSWER_TIMEOUT_VARIABLE = "JAWS_BOOTSTRAP_ANSWER_TIMEOUT"


def answer_timeout():
    """Return the seconds a question may wait: JAWS_BOOTSTRAP_ANSWER_TIMEOUT, or 10."""
    text = os.environ.get(ANSWER_TIMEOUT_VARIABLE)
    try:
        value = ANSWER_TIMEOUT if text is None else float(text)
    except ValueError:
        value = 0
    if not value > 0:
        raise BootstrapError(f"{ANSWER_TIMEOUT_VARIABLE}: not a positive number of seconds",
                             EXIT_USAGE)
    return value


def read_key(layout, instance):
    """Return instance's key from its key file."""
    path = layout.key(instance)
    try:
        with open(str(path)) as fh:
            return fh.read().strip()
    except OSError as exc:
        raise BootstrapError(f"{path}: cannot read the key of instance {instance}: "
                             f"{exc.strerror}", EXIT_UNREACHABLE) from None


def server_proxy(layout, instance, key=None, waits=False):
    """Return an XML-RPC proxy for instance, talking over its unix socket.

    Each call may take answer_timeout() seconds; with waits, as long as it must
    (stopping a process with wait=True lasts up to its stopwaitsecs).
    """
    key = read_key(layout, instance) if key is None else key
    timeout = None if waits else answer_timeout()
    return proxy_for(str(layout.socket(instance)), instance, key, timeout)


def proxy_for(socket_path, username, key, timeout):
    """Return an XML-RPC proxy (the standard library's) to a supervisord's unix socket."""
    import xmlrpc.client

    # The host part is ignored: the transport always connects to socket_path.
    return xmlrpc.client.ServerProxy(
        "http://localhost", transport=_unix_transport(socket_path, username, key, timeout))


def _unix_transport(socket_path, username, key, timeout):
    """Return an xmlrpc.client transport over a unix socket, with basic auth.

    supervisor.xmlrpc has the same, but importing it loads supervisord's own HTTP
    server (medusa) too: half the time of a status. The key travels in a header
    only, never in the URL that xmlrpc.client puts into its error messages.
    """
    import base64
    import http.client
    import socket
    import xmlrpc.client

    class UnixConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(socket_path)

    class UnixTransport(xmlrpc.client.Transport):
        def make_connection(self, host):
            return UnixConnection("localhost")

        def send_headers(self, connection, headers):
            token = base64.b64encode(f"{username}:{key}".encode("utf-8")).decode("ascii")
            headers = list(headers) + [("Authorization", f"Basic {token}")]
            super().send_headers(connection, headers)

    return UnixTransport()


def unreachable_errors():
    """Return the exceptions that mean "this supervisord does not answer"."""
    import http.client
    import xmlrpc.client

    return (OSError, http.client.HTTPException, xmlrpc.client.Error, BootstrapError)


def is_answering(layout, instance, key=None):
    """Return True if instance's supervisord answers getState as RUNNING."""
    try:
        state = server_proxy(layout, instance, key).supervisor.getState()
    except unreachable_errors():
        return False
    return isinstance(state, dict) and state.get("statename") == "RUNNING"


def refuses_key(layout, instance):
    """Return True if instance's supervisord answers, but not to the key in its key file."""
    import xmlrpc.client

    try:
        server_proxy(layout, instance).supervisor.getState()
    except xmlrpc.client.ProtocolError as exc:
        return exc.errcode == 401
    except unreachable_errors():
        return False
    return False
