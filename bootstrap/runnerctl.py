"""The supervised GitLab runner (DESIGN.md, "Commands": runner status|start|stop|...).

The program gitlab-runner, in a group of its own, of one instance: controlled over
that instance's RPC, stopped with SIGQUIT so that its running jobs finish. Never
writes a config (install.py) and never applies a whole instance's changes (deploy.py).
"""

import logging
import os
import sys
import time
import xmlrpc.client

from bootstrap import procfs, render, rpc
from bootstrap.errors import (EXIT_FAILED, EXIT_NOT_RUNNING, EXIT_OK, EXIT_UNREACHABLE,
                              BootstrapError)
from bootstrap.instances import tail_file
from bootstrap.runner import GROUP, NAMESPEC, check_files, environment, runner_of
from bootstrap.statusline import STOPPED_STATE_NAMES as STOPPED_STATES
from bootstrap.statusline import format_status_lines

log = logging.getLogger(__name__)

START_TIMEOUT = 60
# Beyond stopwaitsecs: supervisord's SIGKILL and reaping take a moment more.
STOP_GRACE = 30
PROGRESS_EVERY = 10.0
POLL = 0.2


def status(site, layout, out=None):
    """Print the supervised runner's status line; return supervisorctl's status code."""
    out = out or sys.stdout
    runner = runner_of(site, supervised=True)
    instance = runner["instance"]
    try:
        proxy = _proxy(layout, instance)
        info = _info(proxy)
    except BootstrapError as exc:
        print(f"{instance}  {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if info is None:
        print(f"{instance}  {GROUP}: no such program yet; run deploy", file=sys.stderr)
        return EXIT_NOT_RUNNING
    note = "  (a new config waits for 'runner restart')" if _is_pending(proxy) else ""
    out.write(f"{instance}  {format_status_lines([info])[0]}{note}\n")
    return EXIT_NOT_RUNNING if info["statename"] in STOPPED_STATES else EXIT_OK


def start(site, layout, report=None):
    """Start the supervised runner with its newest config; wait until it is RUNNING."""
    report = report or _stderr
    runner = runner_of(site, supervised=True)
    check_files(runner, environment(runner))
    proxy = _proxy(layout, runner["instance"])
    info = _info(proxy)
    if info is not None and info["statename"] not in STOPPED_STATES:
        report(f"{GROUP}: already running (pid {info['pid']})")
        return EXIT_OK
    _apply_pending(proxy, report)
    try:
        proxy.supervisor.startProcess(NAMESPEC, True)
    except xmlrpc.client.Fault as fault:
        if "ALREADY_STARTED" not in fault.faultString:
            raise _start_failure(layout, runner, fault.faultString) from None
    info = _wait_running(proxy, layout, runner)
    report(f"{GROUP}: started (pid {info['pid']})")
    return EXIT_OK


def stop(site, layout, report=None):
    """Stop the supervised runner with SIGQUIT and wait until its jobs are done."""
    report = report or _stderr
    runner = runner_of(site, supervised=True)
    proxy = _proxy(layout, runner["instance"])
    info = _info(proxy)
    if info is None or info["statename"] in STOPPED_STATES:
        report(f"{GROUP}: not running")
        return EXIT_OK
    _refuse_own_runner(info["pid"])
    try:
        proxy.supervisor.stopProcess(NAMESPEC, False)
    except xmlrpc.client.Fault as fault:
        if "NOT_RUNNING" not in fault.faultString:
            raise BootstrapError(f"{GROUP}: cannot stop it: {fault.faultString}") from None
    log.info("sent SIG%s to %s (pid %s)", render.RUNNER_STOPSIGNAL, GROUP, info["pid"])
    report(f"{GROUP}: SIG{render.RUNNER_STOPSIGNAL} sent to pid {info['pid']}; it exits "
           f"once its running jobs finish (killed after {runner['stopwaitsecs']}s)")
    _wait_stopped(proxy, runner["stopwaitsecs"] + STOP_GRACE, info["pid"], report)
    report(f"{GROUP}: stopped")
    return EXIT_OK


def restart(site, layout, report=None):
    """Stop the supervised runner (draining its jobs), then start it with its newest config."""
    runner = runner_of(site, supervised=True)
    # A runner that could not start again must not be stopped in the first place.
    check_files(runner, environment(runner))
    stop(site, layout, report)
    return start(site, layout, report)


def _proxy(layout, instance):
    if not rpc.is_answering(layout, instance):
        raise BootstrapError(f"instance {instance} does not answer on "
                             f"{layout.socket(instance)}; start it with 'up {instance}'",
                             EXIT_UNREACHABLE)
    # Starting waits for the runner's startsecs; a hung supervisord was caught above.
    return rpc.server_proxy(layout, instance, waits=True)


def _info(proxy):
    """Return the runner's process info, or None if the instance has no such program."""
    try:
        return proxy.supervisor.getProcessInfo(NAMESPEC)
    except xmlrpc.client.Fault as fault:
        if "BAD_NAME" in fault.faultString:
            return None
        raise


def _is_pending(proxy):
    # deploy read the new configs into supervisord (reloadConfig); diffGroup compares
    # them with what runs, without reading the file again.
    try:
        return bool(proxy.jaws.diffGroup(GROUP)["changed"])
    except xmlrpc.client.Fault:
        return False


def _apply_pending(proxy, report):
    """Put the runner's newest config in force; the runner must be stopped."""
    added, changed, _ = proxy.supervisor.reloadConfig()[0]
    if GROUP in changed:
        proxy.jaws.refreshGroup(GROUP)
        report(f"{GROUP}: its new config is in force")
    elif GROUP in added:
        proxy.supervisor.addProcessGroup(GROUP)
    elif _info(proxy) is None:
        raise BootstrapError(f"{GROUP}: no such program in the instance's config; "
                             "run deploy first", EXIT_FAILED)


def _wait_running(proxy, layout, runner):
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        info = _info(proxy)
        state = info["statename"] if info else "UNKNOWN"
        if state == "RUNNING":
            return info
        if state in ("FATAL", "EXITED") or time.monotonic() > deadline:
            raise _start_failure(layout, runner, state)
        time.sleep(POLL)


def _start_failure(layout, runner, reason):
    path = log_path(layout, runner)
    return BootstrapError(f"{GROUP} did not start ({reason}); last lines of {path}:\n"
                          f"{tail_file(path)}")


def _wait_stopped(proxy, timeout, pid, report):
    started = time.monotonic()
    last_report = started
    while True:
        info = _info(proxy)
        if info is None or info["statename"] in STOPPED_STATES:
            return
        now = time.monotonic()
        if now - started > timeout:
            raise BootstrapError(f"{GROUP} (pid {pid}) is still {info['statename']} "
                                 f"after {timeout}s")
        if now - last_report >= PROGRESS_EVERY:
            report(f"{GROUP}: waiting {now - started:.0f}s for pid {pid} to finish its jobs")
            last_report = now
        time.sleep(POLL)


def _refuse_own_runner(pid):
    if pid in procfs.ancestors(os.getpid()):
        raise BootstrapError(f"this command runs inside a job of {GROUP} (pid {pid}); "
                             "stopping it from here would wait for this very job: "
                             "run it from outside the runner")


def log_path(layout, runner):
    """Return the supervised runner's log file (stdout and stderr together)."""
    return layout.program_logs(runner["instance"]) / f"{render.RUNNER_PROGRAM}.log"


def logs(site, layout, lines=20, follow=False, out=None):
    """Print the last lines of the supervised runner's log; with follow, keep printing."""
    out = out or sys.stdout
    path = log_path(layout, runner_of(site, supervised=True))
    try:
        with open(str(path), "rb") as fh:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            fh.seek(max(0, end - max(8192, lines * 512)))
            rows = fh.read().decode("utf-8", "replace").splitlines()
            end = fh.tell()
    except OSError as exc:
        raise BootstrapError(f"{path}: cannot read the runner's log: {exc.strerror}") from None
    tail = rows[max(0, len(rows) - max(0, lines)):]
    out.write("".join(line + "\n" for line in tail))
    out.flush()
    if follow:
        _follow(path, end, out)
    return EXIT_OK


def _follow(path, position, out):
    """Print what is added to path until interrupted; start over when it is rotated."""
    while True:
        try:
            with open(str(path), "rb") as fh:
                if os.fstat(fh.fileno()).st_size < position:
                    position = 0
                fh.seek(position)
                data = fh.read()
                position = fh.tell()
        except FileNotFoundError:
            data = b""
        if data:
            out.write(data.decode("utf-8", "replace"))
            out.flush()
        time.sleep(0.5)


def _stderr(text):
    print(text, file=sys.stderr)
