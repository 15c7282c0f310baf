"""up, down and waits (DESIGN.md, "Commands"): the life of each supervisord.

Starts supervisord only through the bin/supervisord launcher, with the allow-listed
environment; cleans a stale pid file and socket only when their process is gone.
"""

import errno
import logging
import os
import re
import signal
import sys
import time

from bootstrap import proc, procfs, rpc, silence
from bootstrap.errors import EXIT_FAILED, EXIT_UNREACHABLE, BootstrapError
from bootstrap.sitefile import current_user

log = logging.getLogger(__name__)

CONFIG_NAME = re.compile(r"^supervisord-(.+)\.conf$")

START_TIMEOUT = 60
ALIVE_GRACE = 10
# How long a supervisord without its socket may take to finish exiting.
EXIT_GRACE = 5
POLL = 0.1
# Asking whether a supervisord answers over its socket is cheap: ask often.
ANSWER_POLL = 0.005


def read_pid(layout, instance):
    """Return the pid in instance's pid file, or None."""
    try:
        with open(str(layout.pidfile(instance))) as fh:
            return int(fh.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def pid_alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def owner_mismatch(site, instance):
    """Return the account that must start instance, if it is not this one."""
    user = site["instances"][instance]["user"]
    me = current_user()
    if os.geteuid() == 0 or user == me:
        return None
    return user


def supervisord_pid(layout, instance):
    """Return the pid of instance's supervisord if it still runs, else None.

    A pid file outlives a supervisord killed with SIGKILL, and after a reboot its
    number may belong to an unrelated process; where /proc shows command lines,
    the process must also be running instance's config.
    """
    pid = read_pid(layout, instance)
    if pid_alive(pid):
        argv = procfs.strings(pid, "cmdline")
        config = layout.config(instance).name
        if argv is None or any(os.path.basename(arg) == config for arg in argv):
            return pid
    return _running_config(layout, instance)


def _running_config(layout, instance):
    """Return the pid of a supervisord running instance's config whose pid file is gone.

    A cleaner of /tmp may remove run/ under a running supervisord; without this,
    up would start a second one beside it and every program would run twice.
    """
    pid = supervisords_under(layout.root).get(instance)
    return None if pid == os.getpid() else pid


def supervisords_under(root):
    """Return {instance: pid} of supervisords running configs of install directory root.

    Found by command line alone, for when the directory (site.toml, pid files,
    sockets) was removed under them.
    """
    found = {}
    for pid in procfs.pids():
        argv = procfs.strings(pid, "cmdline") or []
        if not any(os.path.basename(arg) == "supervisord" for arg in argv[:6]):
            continue
        for flag, path in zip(argv, argv[1:]):
            match = CONFIG_NAME.match(os.path.basename(path))
            if flag == "-c" and match and os.path.dirname(path) == str(root):
                found[match.group(1)] = pid
    return found


def clear_stale(layout, instance):
    """Remove the pid file and socket of a supervisord that is gone."""
    if supervisord_pid(layout, instance) is not None:
        return False
    for path in (layout.pidfile(instance), layout.socket(instance)):
        try:
            os.unlink(str(path))
            log.info("removed stale %s", path)
        except FileNotFoundError:
            pass
        except PermissionError:
            # Another account's instance: its own up clears it.
            log.info("left stale %s: another account's", path)
    return True


def up(site, layout, names, timeout=START_TIMEOUT, report=None, strict=True):
    """Start each named instance that does not run; wait until it answers.

    Returns the list of instances started. Programs left running by a supervisord
    that was killed are stopped first. An instance of another account is not
    started: with strict, BootstrapError says which account must run which
    command; without, report gets that and the others still start. An inet port
    that is taken stops them all before any starts; an instance that fails to
    start leaves the others running, and the error names it.
    """
    report = report or _stderr
    started, foreign, unreachable = [], [], []
    for name in names:
        try:
            if _is_running(site, layout, name, report):
                continue
        except BootstrapError as exc:
            # Named at the end, once the others are up.
            if exc.status != EXIT_UNREACHABLE:
                raise
            unreachable.append(str(exc))
            continue
        if owner_mismatch(site, name) is not None:
            foreign.append(name)
            continue
        started.append(name)
    _refuse_busy_ports(site, layout, started)
    _restore_directories(site, layout, started, report)
    for name in started:
        _stop_orphans(site, layout, name, report)
    failures = _launch(layout, started, timeout, report)
    if unreachable or failures:
        raise BootstrapError("; ".join(unreachable + failures),
                             EXIT_UNREACHABLE if unreachable else EXIT_FAILED)
    texts = [other_account_text(site, layout, name) for name in foreign]
    if texts and strict:
        raise BootstrapError("; ".join(texts))
    for text in texts:
        report(text)
    return started


def _refuse_busy_ports(site, layout, names):
    # supervisord would say only that some port is taken, after the others started.
    from bootstrap import ports

    busy = ports.busy(site, layout, names)
    if busy:
        free = [name for name in names if name not in busy]
        hint = f" ('up {free[0]}' starts {free[0]} alone)" if len(free) == 1 else ""
        raise BootstrapError("; ".join(busy.values()) + "; no supervisord was started"
                             + hint)


def _launch(layout, names, timeout, report):
    """Start names' supervisords side by side; return why each that failed did."""
    # Side by side: each supervisord takes a few tenths of a second to get going.
    launched = {name: launch_supervisord(layout, name) for name in names}
    failures = []
    for name in names:
        try:
            check_launched(name, launched[name])
            wait_answering(layout, name, timeout)
        except BootstrapError as exc:
            failures.append(str(exc))
            continue
        report(f"{name}: started (pid {read_pid(layout, name)})")
    return failures


def other_account_text(site, layout, instance):
    """Return the sentence naming the account and command that start instance."""
    owner = site["instances"][instance]["user"]
    command = (f"{sys.executable} -I {layout.launcher('jaws-bootstrap')} "
               f"--install-dir {layout.root} up {instance}")
    return f"instance {instance} runs as account {owner}; as {owner}, run: {command}"


def _is_running(site, layout, name, report):
    """Return True if name's supervisord runs; raise if it runs but never answers."""
    refuse_stopped(layout, [name])
    if rpc.is_answering(layout, name):
        report(f"{name}: already running (pid {read_pid(layout, name)})")
        return True
    pid = supervisord_pid(layout, name)
    if pid is None:
        return False
    owner = owner_mismatch(site, name)
    if owner is not None:
        # Its key may be out of our reach; that it runs is all we can tell.
        report(f"{name}: already running as account {owner} (pid {pid})")
        return True
    found = silence.kind(layout, name, pid)
    # One shutting down removes its socket and pid file last, just before it exits.
    if found == silence.REMOVED and _gone_within(pid, EXIT_GRACE):
        return False
    # Busy starting or stopping programs, it may answer in a moment; the rest will not.
    if found != silence.SILENT or not _answers_within(layout, name, ALIVE_GRACE):
        raise BootstrapError(silence.text(layout, name, pid, found), EXIT_UNREACHABLE)
    report(f"{name}: already running (pid {pid})")
    return True


def _gone_within(pid, timeout):
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and procfs.state(pid) not in (None, "Z"):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL)
    return True


def _answers_within(layout, instance, timeout):
    deadline = time.monotonic() + timeout
    while not rpc.is_answering(layout, instance):
        if time.monotonic() > deadline:
            return False
        time.sleep(ANSWER_POLL)
    return True


def _restore_directories(site, layout, names, report):
    """Create again run/ and the log directories of names if they were removed."""
    from bootstrap import install

    wanted = [layout.run, layout.logs] + [layout.program_logs(name) for name in names]
    missing = [str(path) for path in wanted if names and not path.is_dir()]
    if missing:
        install.make_directories(site, layout)
        report(f"recreated {', '.join(missing)}, which had been removed")


def _stop_orphans(site, layout, name, report):
    from bootstrap import orphans

    pids = orphans.stop_orphans(site, layout, name)
    if pids:
        report(f"{name}: stopped programs left by a supervisord that was killed "
               f"(pids {', '.join(str(p) for p in pids)})")


def launch_supervisord(layout, instance):
    """Start instance's supervisord, which daemonises itself; return the process."""
    clear_stale(layout, instance)
    argv = [sys.executable, *proc.ISOLATED, layout.launcher("supervisord"),
            "-c", layout.config(instance)]
    return proc.start(argv, env=proc.clean_environment(), cwd=str(layout.root))


def check_launched(instance, process):
    """Wait until supervisord's first process exits; raise if it failed."""
    # supervisord forks and its first process exits once the daemon is on its way.
    result = proc.finish(process, START_TIMEOUT)
    if result.returncode != 0:
        # supervisord ends its complaint with a line pointing at -h; the reason is above.
        lines = [line.strip() for line in (result.stderr + result.stdout).splitlines()
                 if line.strip() and not line.startswith("For help, use")]
        reason = " ".join(lines) if lines else f"exit status {result.returncode}"
        raise BootstrapError(f"supervisord of instance {instance} did not start: {reason}")


def wait_answering(layout, instance, timeout):
    """Wait until instance's supervisord answers; raise with its log's tail if it does not."""
    if not _answers_within(layout, instance, timeout):
        log_file = layout.logfile(instance)
        raise BootstrapError(f"supervisord of instance {instance} does not answer on "
                             f"{layout.socket(instance)} after {timeout}s; see "
                             f"{log_file}\n{tail_file(log_file)}")


def down(layout, names, timeout=START_TIMEOUT, report=None):
    """Shut each named instance down and wait until its supervisord is gone.

    One that nothing can ask any more (its socket removed, or refusing the key in
    its key file) gets SIGTERM, which supervisord takes as shutdown. One that is
    stopped (SIGSTOP) or silent is left running and named in the error raised
    once the others are down.
    """
    report = report or _stderr
    stopping, hung = {}, []
    for name in names:
        stopped = stopped_text(layout, name)
        if stopped is not None:
            hung.append(stopped)
            continue
        if not rpc.is_answering(layout, name):
            pid = supervisord_pid(layout, name)
            if pid is None:
                clear_stale(layout, name)
                report(f"{name}: not running")
                continue
            found = silence.kind(layout, name, pid)
            if _terminate(name, pid, found, report):
                stopping[name] = pid
            else:
                hung.append(silence.text(layout, name, pid, found))
            continue
        proxy = rpc.server_proxy(layout, name)
        # Its own word, not the pid file's, which anyone could have rewritten.
        stopping[name] = proxy.supervisor.getPID()
        proxy.supervisor.shutdown()
    _wait_gone(stopping, timeout, report)
    if hung:
        raise BootstrapError("; ".join(hung), EXIT_UNREACHABLE)
    return list(stopping)


def _terminate(name, pid, found, report):
    """SIGTERM a supervisord nothing can ask (socket removed, key refused); True if sent.

    supervisord takes SIGTERM as shutdown: it stops its programs as shutdown would.
    One that is stopped or silent is left for the operator (hung_text says how).
    """
    if found not in (silence.REMOVED, silence.KEY):
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return False
    report(f"{name}: {found}; sent SIGTERM to its supervisord (pid {pid})")
    return True


def refuse_stopped(layout, names):
    """Raise at once if a named instance's supervisord is stopped (SIGSTOP)."""
    for name in names:
        text = stopped_text(layout, name)
        if text is not None:
            raise BootstrapError(text, EXIT_UNREACHABLE)


def stopped_text(layout, name):
    """Return why name's supervisord answers nothing if it is stopped, else None.

    Read from /proc before any question: asking one would wait the answer timeout.
    """
    pid = supervisord_pid(layout, name)
    if pid is None or procfs.state(pid) not in silence.STOPPED_STATES:
        return None
    return silence.text(layout, name, pid, silence.STOPPED)


def hung_text(layout, instance, pid):
    """Return the sentence for a supervisord that runs but cannot be asked (silence.py)."""
    return silence.text(layout, instance, pid)


def _wait_gone(stopping, timeout, report):
    deadline = time.monotonic() + timeout
    for name, pid in stopping.items():
        while pid_alive(pid) and not _reaped(pid):
            if time.monotonic() > deadline:
                raise BootstrapError(f"supervisord of instance {name} (pid {pid}) is still "
                                     f"running {timeout}s after shutdown", EXIT_FAILED)
            time.sleep(POLL)
        report(f"{name}: stopped")


def _reaped(pid):
    # A supervisord we started ourselves in this process would linger as a zombie.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return done == pid


def tail_file(path, lines=10):
    """Return the last lines of a text file, or a note that there is none."""
    try:
        with open(str(path), "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 8192))
            data = fh.read().decode("utf-8", "replace")
    except OSError:
        return f"  ({path}: no such file)"
    return "\n".join("  " + line for line in data.splitlines()[-lines:])


def _stderr(text):
    print(text, file=sys.stderr)
