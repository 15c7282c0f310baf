"""Talking to a running supervisord over its socket, with supervisor's own transport.

Never starts or stops supervisord itself; that is instances.py.
"""

import socket

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
    import xmlrpc.client

    from bootstrap import pkgshim

    pkgshim.install()
    from supervisor.xmlrpc import SupervisorTransport

    key = read_key(layout, instance) if key is None else key
    transport = SupervisorTransport(instance, key, f"unix://{layout.socket(instance)}")
    # The host part is ignored by the unix transport; it only fills the URL.
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


UNREACHABLE_ERRORS = (socket.error, OSError)


def is_answering(layout, instance, key=None):
    """Return True if instance's supervisord answers getState as RUNNING."""
    try:
        proxy = server_proxy(layout, instance, key)
        state = proxy.supervisor.getState()
    except BootstrapError:
        return False
    except Exception as exc:  # noqa: BLE001 - any transport or protocol failure means no
        if isinstance(exc, KeyboardInterrupt):
            raise
        return False
    return state.get("statename") == "RUNNING"
