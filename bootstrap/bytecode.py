"""Byte-compile a freshly unpacked build beside the work that needs it.

pip compiles a package's bytecode when it installs it; a build unpacked from the
.pyz starts with none, so both supervisords would compile the same modules at
their first start, each on its own, while they are being waited for (DESIGN.md,
"Performance targets": cold start). unpack() hands the new directory to a second
interpreter that compiles those modules while this one checks the configs, and
init waits for it before any supervisord starts. Like pip, it writes bytecode
whatever PYTHONDONTWRITEBYTECODE says: the directory is the install's own. A
failure only means the modules are compiled when first imported, as before.
"""

import atexit
import sys

from bootstrap import proc

# The check of the configs takes longer; past this init stops waiting for it.
WAIT_LIMIT = 30
# What the check of the configs imports (supervisor.options and what it needs), in
# the reverse of the order in which it imports them: this process compiles them
# from the front, the second interpreter from the back, and they meet halfway.
CHECK_MODULES_REVERSED = (
    "supervisor/events.py", "supervisor/rpcinterface.py", "supervisor/poller.py",
    "supervisor/medusa/auth_handler.py", "supervisor/medusa/util.py",
    "supervisor/medusa/default_handler.py", "supervisor/medusa/filesys.py",
    "supervisor/http.py", "supervisor/medusa/xmlrpc_handler.py",
    "supervisor/medusa/counter.py", "supervisor/medusa/logger.py",
    "supervisor/medusa/producers.py", "supervisor/medusa/http_date.py",
    "supervisor/medusa/asynchat_25.py", "supervisor/medusa/http_server.py",
    "supervisor/xmlrpc.py", "supervisor/states.py", "supervisor/loggers.py",
    "supervisor/datatypes.py", "supervisor/medusa/asyncore_25.py",
    "supervisor/medusa/__init__.py", "supervisor/compat.py", "supervisor/options.py",
)
# What supervisord imports beyond those.
SUPERVISORD_MODULES = (
    "supervisor/supervisord.py", "supervisor/process.py", "supervisor/dispatchers.py",
    "supervisor/socket_manager.py", "supervisor/web.py", "supervisor/templating.py",
    "bootstrap/__init__.py", "bootstrap/launch.py", "bootstrap/bundle.py",
    "bootstrap/pkgshim.py", "bootstrap/rpcext.py",
)
# The quick status: compiled once here, its modules load from bytecode on every
# call, even for operators whose environment says PYTHONDONTWRITEBYTECODE.
STATUS_MODULES = (
    "bootstrap/errors.py", "bootstrap/quick.py", "bootstrap/quickcall.py",
    "bootstrap/statusline.py",
)

_running = []


def start(site_packages):
    """Start compiling supervisord's modules in site_packages in the background."""
    files = [str(site_packages / name)
             for name in CHECK_MODULES_REVERSED + SUPERVISORD_MODULES + STATUS_MODULES]
    process = proc.start_quiet([sys.executable, "-I", "-S", "-m", "compileall", "-q"]
                               + files, env=proc.clean_environment())
    if process is not None:
        if not _running:
            atexit.register(wait)
        _running.append(process)


def wait():
    """Wait for the compiling started here; end it if it takes past WAIT_LIMIT."""
    while _running:
        proc.finish_quiet(_running.pop(), WAIT_LIMIT)
