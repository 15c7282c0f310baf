"""Remove the unpacked builds in lib/ that nothing uses any more.

Every new .pyz that deploys unpacks its build into lib/<build id>/ (2 MB), and CI
deploys many. A build is kept while the launchers in bin/ name it or a running
supervisord was started from it (its modules may still import from there); when a
supervisord cannot be asked which build it runs, every build is kept. Runs under
the install lock that deploy and rollback hold, as every unpack into lib/ does:
a <build id>.tmp-<pid> directory found then is left by a process that died.
"""

import logging
import os
import shutil
import xmlrpc.client

from bootstrap import instances, rpc

log = logging.getLogger(__name__)


def prune_builds(layout, current):
    """Remove every build in lib/ except current and those in use; return their ids."""
    in_use = builds_in_use(layout)
    if in_use is None or not layout.lib.is_dir():
        return []
    keep = in_use | {current}
    removed = []
    for path in sorted(layout.lib.iterdir()):
        if ".tmp-" in path.name:
            shutil.rmtree(str(path), ignore_errors=True)
        elif path.name not in keep and path.is_dir() and remove_build(path):
            removed.append(path.name)
    return removed


def builds_in_use(layout):
    """Return the ids the launchers name or running supervisords run, or None if unknown."""
    used = set()
    for launcher in layout.bin.glob("*"):
        try:
            text = launcher.read_text(encoding="utf-8")
        except (OSError, ValueError):
            return None
        used.update(path.name for path in layout.lib.glob("*")
                    if f"/lib/{path.name}/" in text)
    for pidfile in layout.run.glob("supervisord-*.pid"):
        instance = pidfile.name[len("supervisord-"):-len(".pid")]
        if instances.supervisord_pid(layout, instance) is None:
            continue
        running = running_build(layout, instance)
        if running is None:
            return None
        used.add(running)
    return used


def running_build(layout, instance):
    """Return the build id instance's supervisord runs, or None if it cannot tell."""
    try:
        running = rpc.server_proxy(layout, instance).jaws.getBuildId()
    except (xmlrpc.client.Fault,) + rpc.unreachable_errors():
        return None
    return running if isinstance(running, str) and running else None


def remove_build(path):
    """Remove one build; first out of the way, so that no half-removed tree looks whole."""
    doomed = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        os.rename(str(path), str(doomed))
    except OSError as exc:
        log.info("cannot remove unused build %s: %s", path, exc.strerror)
        return False
    shutil.rmtree(str(doomed), ignore_errors=True)
    log.info("removed unused build %s", path)
    return True
