"""The GitLab runner (DESIGN.md, "Commands": runner): its files, `runner run`, and jobs.

`runner run` replaces this process with gitlab-runner. A deploy started from one of
the supervised runner's own jobs must leave that runner running: keep_groups()
tells deploy so. Controlling the supervised runner is runnerctl.py's work; writing
configs is install.py's.
"""

import logging
import os
import shutil
import sys

from bootstrap import proc, procfs, render, rpc
from bootstrap.errors import EXIT_USAGE, BootstrapError
from bootstrap.statusline import STOPPED_STATE_NAMES
from bootstrap.sitefile import current_user

log = logging.getLogger(__name__)

GROUP = render.RUNNER_PROGRAM
NAMESPEC = f"{GROUP}:{render.RUNNER_PROGRAM}"


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


def _running_pid(layout, instance):
    """Return the pid of the runner supervised by instance, or 0."""
    if not layout.key(instance).is_file():
        return 0
    try:
        info = rpc.server_proxy(layout, instance).supervisor.getProcessInfo(NAMESPEC)
    except rpc.unreachable_errors():
        return 0
    if info.get("statename") in STOPPED_STATE_NAMES:
        return 0
    return info.get("pid") or 0


def keep_groups(site, layout):
    """Return {instance: groups deploy must leave as they are} for this process.

    A deploy started from a job of the supervised runner would otherwise stop the
    runner, which waits for that job: the runner's group is kept and its new config
    waits for 'runner restart'. Asks the running instances, before init.
    """
    lineage = procfs.ancestors(os.getpid())
    keep = {}
    # An instance the site drops is still running until this deploy shuts it down.
    running = {path.stem for path in layout.keys.glob("*.key")}
    for instance in sorted(set(site["instances"]) | running):
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
