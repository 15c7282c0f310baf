"""The GitLab runner (DESIGN.md, "Commands": runner): in the foreground or supervised.

`runner run` replaces this process with gitlab-runner. The supervised runner is the
program gitlab-runner, in a group of its own, of one instance, and is controlled
over that instance's RPC. A deploy started from one of that runner's own jobs must
leave it running: keep_groups() tells deploy so. Never writes a config (install.py).
"""

import http.client
import logging
import os
import shutil
import sys
import time
import xmlrpc.client

from bootstrap import proc, render, rpc
from bootstrap.errors import (EXIT_FAILED, EXIT_NOT_RUNNING, EXIT_OK, EXIT_UNREACHABLE,
                              EXIT_USAGE, BootstrapError)
from bootstrap.instances import tail_file
from bootstrap.sitefile import current_user

log = logging.getLogger(__name__)

GROUP = render.RUNNER_PROGRAM
NAMESPEC = f"{GROUP}:{render.RUNNER_PROGRAM}"
STOPPED_STATES = ("STOPPED", "EXITED", "FATAL", "UNKNOWN")
START_TIMEOUT = 60
# Beyond stopwaitsecs: supervisord's SIGKILL and reaping take a moment more.
STOP_GRACE = 30
PROGRESS_EVERY = 10.0
POLL = 0.2
RPC_ERRORS = (OSError, http.client.HTTPException, xmlrpc.client.Error, BootstrapError)


def runner_of(site, supervised=False):
    """Return the site's [runner] table; raise if there is none (or it is not supervised)."""
    runner = site.get("runner")
    if runner is None:
        raise BootstrapError("the site file has no [runner] section", EXIT_USAGE)
    if supervised and not runner["supervised"]:
        raise BootstrapError("runner.supervised is false: the runner is no program of any "
                             "instance; start it with 'runner run'", EXIT_USAGE)
    return runner


def environment(runner):
    """Return the runner's environment: the allow-listed one plus runner.environment."""
    env = proc.clean_environment()
    env.update({name: str(value) for name, value in runner["environment"].items()})
    return env


def check_files(runner, env, working_directory=True):
    """Return the runner binary's path; raise (status 2) if a file it needs is unusable.

    Checks runner.command, runner.config and, unless told not to,
    runner.working_directory, for the account running this tool.
    """
    binary = _find_binary(runner["command"], env.get("PATH", ""))
    config = runner["config"]
    if not os.path.exists(config):
        raise _usage(f"runner.config: {config}: no such file")
    if os.path.isdir(config) or not os.access(config, os.R_OK):
        raise _usage(f"runner.config: {config}: not a file readable by account "
                     f"{current_user()}")
    directory = runner["working_directory"]
    if working_directory and not os.path.isdir(directory):
        raise _usage(f"runner.working_directory: {directory}: no such directory")
    if working_directory and not os.access(directory, os.W_OK | os.X_OK):
        raise _usage(f"runner.working_directory: {directory}: not writable by account "
                     f"{current_user()}")
    return binary


def _find_binary(command, path):
    if "/" not in command:
        found = shutil.which(command, path=path)
        if found is None:
            raise _usage(f'runner.command: "{command}" is not on PATH ({path}); '
                         "give its absolute path")
        return found
    if not os.path.exists(command):
        raise _usage(f"runner.command: {command}: no such file")
    if os.path.isdir(command) or not os.access(command, os.X_OK):
        raise _usage(f"runner.command: {command}: not a file executable by account "
                     f"{current_user()}")
    return command


def _usage(message):
    return BootstrapError(message, EXIT_USAGE)


def check_site(site):
    """Check the files of a supervised runner before a deploy renders it."""
    runner = site.get("runner")
    if runner and runner["supervised"]:
        # init creates the install directory, the default working directory.
        fresh = runner["working_directory"] == site["install_dir"]
        check_files(runner, environment(runner), working_directory=not fresh)


def run(site, layout):
    """Replace this process with gitlab-runner in the foreground (returns only on error)."""
    runner = runner_of(site)
    env = environment(runner)
    binary = check_files(runner, env)
    if runner["supervised"]:
        pid = _running_pid(layout, runner["instance"])
        if pid:
            raise BootstrapError(f"the supervised runner already runs as {NAMESPEC} of "
                                 f"instance {runner['instance']} (pid {pid}); a second one "
                                 "would take the same jobs: 'runner stop' it first")
    argv = [binary] + render.runner_options(runner)["command"][1:]
    os.chdir(runner["working_directory"])
    log.info("changed directory to %s", runner["working_directory"])
    sys.stdout.flush()
    sys.stderr.flush()
    proc.exec_replace(argv, env)


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
    from bootstrap.mirror import format_status_lines

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
    stop(site, layout, report)
    return start(site, layout, report)


def _proxy(layout, instance):
    if not rpc.is_answering(layout, instance):
        raise BootstrapError(f"instance {instance} does not answer on "
                             f"{layout.socket(instance)}; start it with 'up {instance}'",
                             EXIT_UNREACHABLE)
    return rpc.server_proxy(layout, instance)


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
    if pid in ancestors(os.getpid()):
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
            tail = fh.read().decode("utf-8", "replace").splitlines()[-lines:]
    except OSError as exc:
        raise BootstrapError(f"{path}: cannot read the runner's log: {exc.strerror}") from None
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


def ancestors(pid):
    """Return pid and its parents' pids up to init, read from /proc (empty without it)."""
    chain = []
    while pid > 1 and pid not in chain:
        chain.append(pid)
        try:
            with open(f"/proc/{pid}/stat") as fh:
                # The command name in parentheses may hold spaces and ")".
                pid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return chain


def _running_pid(layout, instance):
    """Return the pid of the runner supervised by instance, or 0."""
    if not layout.key(instance).is_file():
        return 0
    try:
        info = rpc.server_proxy(layout, instance).supervisor.getProcessInfo(NAMESPEC)
    except RPC_ERRORS:
        return 0
    if info.get("statename") in STOPPED_STATES:
        return 0
    return info.get("pid") or 0


def keep_groups(site, layout):
    """Return {instance: groups deploy must leave as they are} for this process.

    A deploy started from a job of the supervised runner would otherwise stop the
    runner, which waits for that job: the runner's group is kept and its new config
    waits for 'runner restart'. Asks the running instances, before init.
    """
    lineage = ancestors(os.getpid())
    keep = {}
    for instance in site["instances"]:
        pid = _running_pid(layout, instance)
        if not pid or pid not in lineage:
            continue
        runner = site.get("runner")
        if not runner or not runner["supervised"] or runner["instance"] != instance:
            raise BootstrapError(f"this deploy runs inside a job of {GROUP} (pid {pid}) of "
                                 f"instance {instance}, which the site file no longer "
                                 "supervises there; deploy from outside the runner",
                                 EXIT_USAGE)
        log.info("deploy runs under %s (pid %s) of instance %s", GROUP, pid, instance)
        keep[instance] = (GROUP,)
    return keep


def kept_text(instance, group):
    """Return the line that tells a deploy left the runner's group alone."""
    return (f"{instance}: left {group} as it is: this deploy runs inside one of its jobs; "
            "its new config takes effect at the next 'runner restart'")


def refuse_restart_under_runner(keep, instances):
    """Refuse to restart the supervisord of the runner this process runs under."""
    under = [name for name in instances if name in keep]
    if under:
        raise BootstrapError(f"this deploy runs inside a job of the {GROUP} that instance "
                             f"{under[0]} supervises; restarting that supervisord would "
                             "stop the runner under its own job: deploy without "
                             "--restart-supervisors, or from outside the runner", EXIT_USAGE)


def _stderr(text):
    print(text, file=sys.stderr)
