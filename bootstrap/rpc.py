"""Talking to a running supervisord over its socket, with supervisor's own transport.

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
    import xmlrpc.client

    from bootstrap import pkgshim

    pkgshim.install()
    from supervisor.xmlrpc import SupervisorTransport

    key = read_key(layout, instance) if key is None else key
    transport = SupervisorTransport(instance, key, f"unix://{layout.socket(instance)}")
    # The host part is ignored by the unix transport; it only fills the URL.
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def unreachable_errors():
    """Return the exceptions that mean "this supervisord does not answer"."""
    import http.client
    import xmlrpc.client

    return (OSError, http.client.HTTPException, xmlrpc.client.Error, BootstrapError)


def is_answering(layout, instance, key=None):
    """Return True if instance's supervisord answers getState as RUNNING."""
    # Without supervisor's transport, whose import (medusa and all) up would pay.
    from bootstrap import quick

    try:
        key = read_key(layout, instance) if key is None else key
        state = quick.call(layout.socket(instance), instance, key, "supervisor.getState")
    except quick.FAILURES + (BootstrapError,):
        return False
    return isinstance(state, dict) and state.get("statename") == "RUNNING"
