"""Byte-compile a freshly unpacked build beside the work that needs it.

pip compiles a package's bytecode when it installs it; a build unpacked from the
.pyz starts with none, so both supervisords would compile the same modules at
their first start, each on its own, while they are being waited for (DESIGN.md,
"Performance targets": cold start). unpack() hands the new directory to a second
interpreter that compiles those modules while this one checks the configs; once
the check is done, this one compiles the list from its other end until they meet,
before any supervisord starts. Like pip, it writes bytecode whatever
PYTHONDONTWRITEBYTECODE says: the directory is the install's own. A failure only
means the modules are compiled when first imported, as before."""

import atexit
import os
import sys

from bootstrap import proc

# Past this, init stops waiting for the second interpreter.
WAIT_LIMIT = 30
# What the check of the configs imports (supervisor.options and what it needs), in
# the reverse of the order in which it imports them: the check compiles them from
# the front, the second interpreter from the back.
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
    "bootstrap/pkgshim.py", "bootstrap/rpcext.py", "bootstrap/settings.py",
)
# The quick status: compiled once here, its modules load from bytecode on every
# call, even for operators whose environment says PYTHONDONTWRITEBYTECODE.
STATUS_MODULES = (
    "bootstrap/errors.py", "bootstrap/procfs.py", "bootstrap/quick.py", "bootstrap/quickcall.py",
    "bootstrap/siteindex.py", "bootstrap/statusline.py",
)

_running = []


def compile_order():
    """Return the files the second interpreter compiles, in its order.

    First what only the supervisords and status import, then the check's modules
    from the back: the check meanwhile compiles those from the front, and this
    process takes the whole list from its other end once the check is done.
    """
    return SUPERVISORD_MODULES + STATUS_MODULES + CHECK_MODULES_REVERSED


def start(site_packages):
    """Start compiling supervisord's modules in site_packages in the background."""
    files = [str(site_packages / name) for name in compile_order()]
    process = proc.start_quiet([sys.executable, *proc.ISOLATED, "-m", "compileall", "-q"]
                               + files, env=proc.clean_environment())
    if process is not None:
        if not _running:
            atexit.register(wait)
        _running.append((site_packages, process))


def finish(compile_here=True):
    """Compile here what the second interpreter has not reached yet, then wait for it.

    Each file is skipped if either interpreter has written its bytecode already.
    """
    while _running:
        site_packages, process = _running.pop()
        if compile_here:
            for name in reversed(compile_order()):
                if process.poll() is not None:
                    break
                compile_file(str(site_packages / name))
        proc.finish_quiet(process, WAIT_LIMIT)


def wait():
    """Wait for the compiling started here; end it if it takes past WAIT_LIMIT."""
    finish(compile_here=False)


def compile_file(path):
    """Write path's bytecode where supervisord (run with -I, unoptimised) looks for it."""
    import py_compile

    folder, name = os.path.split(path)
    target = os.path.join(folder, "__pycache__",
                          f"{name[:-3]}.{sys.implementation.cache_tag}.pyc")
    if os.path.exists(target):
        return
    options = {"optimize": 0}
    if hasattr(py_compile, "PycInvalidationMode"):
        # What the second interpreter writes, whatever SOURCE_DATE_EPOCH says here.
        options["invalidation_mode"] = py_compile.PycInvalidationMode.TIMESTAMP
    try:
        py_compile.compile(path, cfile=target, doraise=True, **options)
    except (OSError, py_compile.PyCompileError):
        pass
