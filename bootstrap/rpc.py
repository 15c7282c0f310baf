"""Talking to a running supervisord over its unix socket with xmlrpc.client.

Never starts or stops supervisord itself; that is instances.py.
"""

from bootstrap.errors import EXIT_UNREACHABLE, BootstrapError


def read_key(layout, instance):
    """Return instance's key from its key file."""
    path = layout.key(instance)
    try:
        with open(str(path)) as fh:
            return fh.read().strip()
    except OSError as exc:
        raise BootstrapError(f"{path}: cannot read the key of instance {instance}: "
                             f"{exc.strerror}", EXIT_UNREACHABLE) from None


def server_proxy(layout, instance, key=None):
    """Return an XML-RPC proxy for instance, talking over its unix socket."""
    key = read_key(layout, instance) if key is None else key
    return proxy_for(str(layout.socket(instance)), instance, key)


def proxy_for(socket_path, username, key):
    """Return an XML-RPC proxy (the standard library's) to a supervisord's unix socket."""
    import xmlrpc.client

    # The host part is ignored: the transport always connects to socket_path.
    return xmlrpc.client.ServerProxy(
        "http://localhost", transport=_unix_transport(socket_path, username, key))


def _unix_transport(socket_path, username, key):
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
