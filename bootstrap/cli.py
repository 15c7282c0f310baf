"""The command line (DESIGN.md, "Commands"): parser, handlers, main().

Handlers unpack the Namespace and call one function each; nothing below this
module sees a Namespace. Only main() prints errors and chooses the exit status.
"""

import argparse
import logging
import signal
import sys

from bootstrap.context import Context, instance_names
from bootstrap.errors import (EXIT_FAILED, EXIT_INTERRUPTED, EXIT_TERMINATED, PROG,
                              STATUS_HELP, BootstrapError, Terminated)

DEFAULT_TIMEOUT = 120
log = logging.getLogger(__name__)


def context(args):
    """Return the Context of the global options."""
    return Context(args.config, args.example, args.deployment, args.install_dir)


def cmd_init(args):
    from bootstrap import install

    site = context(args).site_to_render()
    layout, changed = install.init(site)
    print(f"initialised {layout.root}" + (f"; configs changed: {', '.join(changed)}"
                                          if changed else "; configs unchanged"),
          file=sys.stderr)
    return 0


def cmd_up(args):
    from bootstrap import install, instances
    from bootstrap.paths import Layout

    ctx = context(args)
    if ctx.has_site_file():
        site = ctx.site_from_file()
        if not Layout(site["install_dir"]).site.is_file():
            install.init(site)
    site, layout = ctx.installed(writes_logs=True)
    # Under the lock: an up at boot, a deploy and an operator's up take turns
    # instead of starting the same supervisord twice.
    with install.InstallLock(layout, timeout=install.lock_timeout() + args.timeout,
                             optional=True):
        # Asked for everything, another account's instance is only reported: the
        # instances this account owns are all that up can start.
        instances.up(site, layout, instance_names(site, args.instance),
                     timeout=args.timeout, strict=args.instance is not None)
    return 0


def cmd_down(args):
    from bootstrap import instances

    site, layout = context(args).installed()
    instances.down(layout, instance_names(site, args.instance), timeout=args.timeout)
    return 0


def cmd_deploy(args):
    from bootstrap import deploy

    site = context(args).site_to_render()
    layout = deploy.deploy(site, args.timeout, restart_supervisors=args.restart_supervisors)
    print(f"deployed {site['deployment']} in {layout.root}: every program RUNNING or done",
          file=sys.stderr)
    return 0


def cmd_rollback(args):
    from bootstrap import deploy

    _, layout = context(args).installed()
    site = deploy.rollback(layout, args.timeout)
    print(f"rolled {site['deployment']} in {layout.root} back to the previous configs: "
          "every program RUNNING or done", file=sys.stderr)
    return 0


def cmd_boot_entry(args):
    from bootstrap import boot

    _, layout = context(args).installed()
    line = boot.entry_line(layout)
    if args.install:
        added = boot.install_entry(layout)
        print(("added to" if added else "already in") + " the crontab: " + line,
              file=sys.stderr)
    else:
        print(line)
    return 0


def cmd_status(args):
    from bootstrap import mirror

    site, layout = context(args).installed()
    return mirror.status(layout, instance_names(site, args.instance), args.args, site=site,
                         as_json=args.json)


def cmd_mirror(args):
    from bootstrap import mirror

    site, layout = context(args).installed()
    return mirror.run_verb(site, layout, instance_names(site, args.instance), args.verb,
                           args.args)


def cmd_ctl(args):
    from bootstrap import mirror

    site, layout = context(args).installed()
    name = instance_names(site, args.instance)[0]
    return mirror.ctl(layout, name, args.args)


def cmd_runner_run(args):
    from bootstrap import runner
    from bootstrap.paths import Layout

    ctx = context(args)
    site = ctx.site_from_file() if ctx.has_site_file() else ctx.installed()[0]
    return runner.run(site, Layout(site["install_dir"]))


def cmd_runner_status(args):
    from bootstrap import runnerctl

    return runnerctl.status(*context(args).installed())


def cmd_runner_start(args):
    from bootstrap import runnerctl

    return runnerctl.start(*context(args).installed())


def cmd_runner_stop(args):
    from bootstrap import runnerctl

    return runnerctl.stop(*context(args).installed())


def cmd_runner_restart(args):
    from bootstrap import runnerctl

    return runnerctl.restart(*context(args).installed())


def cmd_runner_logs(args):
    from bootstrap import runnerctl

    site, layout = context(args).installed()
    return runnerctl.logs(site, layout, lines=args.lines, follow=args.follow)


def add_runner_parser(sub):
    """Add 'runner ACTION': the GitLab runner in the foreground or supervised."""
    text = "launch the GitLab runner in the foreground, or control the supervised one"
    runner = sub.add_parser("runner", help=text, description=text)
    actions = runner.add_subparsers(dest="runner_action", metavar="ACTION")
    actions.required = True
    for name, handler, help_text in (
            ("run", cmd_runner_run, "replace this process with 'gitlab-runner run'"),
            ("status", cmd_runner_status, "status of the supervised runner"),
            ("start", cmd_runner_start, "start the supervised runner with its newest config"),
            ("stop", cmd_runner_stop, "stop it with SIGQUIT, waiting for its running jobs"),
            ("restart", cmd_runner_restart, "stop (draining its jobs), then start it"),
            ("logs", cmd_runner_logs, "the last lines of the supervised runner's log")):
        p = actions.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
    p.add_argument("-n", "--lines", type=int, default=20, help="how many lines (20)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")


def cmd_check(args):
    from bootstrap import check

    return check.run_check(context(args), as_json=args.json)


def cmd_rotate_key(args):
    from bootstrap import keys

    site, layout = context(args).installed()
    print(keys.rotate_key(site, layout, args.instance), file=sys.stderr)
    return 0


def cmd_version(args):
    from bootstrap import bundle, version

    layout, names = None, ()
    try:
        site, layout = context(args).installed()
        names = list(site["instances"])
    except BootstrapError as exc:
        # Without an install there is no running build to compare; say why on -v.
        log.info("no running builds to show: %s", exc)
    text = version.version_json if args.json else version.version_text
    print(text(bundle, layout, names), end="")
    return 0


def build_parser():
    from bootstrap import __version__

    parser = argparse.ArgumentParser(
        prog=PROG, description="Install, start and control the two supervisord "
        "instances of a JAWS site from one file.",
        epilog=STATUS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", metavar="FILE", help="the site file (TOML)")
    source.add_argument("--example", action="store_true",
                        help="use the embedded example site with stand-in services")
    parser.add_argument("--deployment", metavar="NAME", help="the deployment's name")
    parser.add_argument("--install-dir", metavar="DIR", help="the install directory")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="say more (-v: each change, -vv: debug)")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(name, handler, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    command("init", cmd_init, "unpack, render both configs, create keys; start nothing")
    for name, handler, text in (("up", cmd_up, "start the instances that are not running"),
                                ("down", cmd_down, "shut the instances down")):
        p = command(name, handler, text)
        p.add_argument("instance", nargs="?", help="only this instance")
        p.add_argument("--timeout", type=seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS")
    p = command("deploy", cmd_deploy,
                "init + up + apply changes + wait until every program is RUNNING")
    p.add_argument("--timeout", type=seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS")
    p.add_argument("--restart-supervisors", action="store_true",
                   help="restart a supervisord that runs an older build onto this one")
    p = command("rollback", cmd_rollback,
                "put the previous configs back in force and apply them like deploy")
    p.add_argument("--timeout", type=seconds, default=DEFAULT_TIMEOUT, metavar="SECONDS")
    p = command("boot-entry", cmd_boot_entry,
                "print the crontab @reboot line that runs up for this install")
    p.add_argument("--install", action="store_true",
                   help="add the line to this account's crontab, once")
    add_mirrored(command)
    add_runner_parser(sub)
    p = command("check", cmd_check, "validate the site file and this host (python, "
                "accounts, directories, sockets, ports, commands); change nothing")
    p.add_argument("--json", action="store_true", help="the findings as one JSON object")
    p = command("rotate-key", cmd_rotate_key, "replace one instance's key; says what "
                "must restart for it to take effect")
    p.add_argument("instance", help="the instance")
    p = command("version", cmd_version, "versions of this tool, supervisor and Python, "
                "and the build each running supervisord runs")
    p.add_argument("--json", action="store_true", help="one JSON object")
    return parser


MIRRORED = {
    "status": "status of programs on each instance (NAME, GROUP:*, all; default all)",
    "start": "start programs: NAME, GROUP:NAME, GROUP:*, all",
    "stop": "stop programs: NAME, GROUP:NAME, GROUP:*, all",
    "restart": "restart programs (does not reread configs): NAME, GROUP:*, all",
    "reread": "reload the config files without applying them",
    "update": "apply changed configs, restarting changed groups: [GROUP...|all]",
    "tail": "the end of a program's log: [-f|-BYTES] NAME [stdout|stderr]",
    "pid": "the pid of supervisord, or of programs: [NAME...|all]",
    "signal": "send a signal to programs: SIGNAL NAME...|GROUP:*|all",
    "clear": "clear programs' logs: NAME...|all",
    "avail": "the programs each config defines, in use or not",
    "maintail": "the end of supervisord's own log: [-f|-BYTES]",
    "reload": "restart supervisord in place (every program restarts)",
    "shutdown": "shut supervisord down",
}


class PassThroughParser(argparse.ArgumentParser):
    """A mirrored verb's parser: every word but its own options goes to supervisorctl.

    supervisorctl judges "tail -f", "tail -100" or a bad "-x" itself, with its own
    message and exit status, so they must reach it unread.
    """

    def parse_known_args(self, args=None, namespace=None):
        words = list(sys.argv[1:] if args is None else args)
        own, passed = [], []
        while words:
            word = words.pop(0)
            action = self._option_string_actions.get(word.split("=", 1)[0])
            if action is None:
                passed.append(word)
                continue
            own.append(word)
            if action.nargs != 0 and "=" not in word and words:
                own.append(words.pop(0))
        namespace, extras = super().parse_known_args(own, namespace)
        namespace.args = passed
        return namespace, extras


def add_mirrored(command):
    """Add supervisorctl's verbs (its arguments, plus -i to choose one instance) and ctl."""
    for verb, text in MIRRORED.items():
        p = command(verb, cmd_status if verb == "status" else cmd_mirror, text)
        # The subparsers action made it; only how it reads words changes.
        p.__class__ = PassThroughParser
        p.set_defaults(verb=verb)
        p.add_argument("-i", "--instance", help="only this instance")
        if verb == "status":
            p.add_argument("--json", action="store_true", help="one JSON object per program")
        p.add_argument("args", nargs="*", metavar="ARG",
                       help="supervisorctl's arguments (tail -f follows one instance)")
    p = command("ctl", cmd_ctl, "run the bundled supervisorctl against one instance; "
                "without arguments, its interactive shell")
    p.add_argument("instance", help="the instance")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARG",
                   help="supervisorctl's command and arguments")


def seconds(text):
    """argparse type: a finite number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def setup_logging(verbose):
    level = logging.WARNING if not verbose else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format=f"{PROG}: %(message)s")


def main(argv=None):
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    signal.signal(signal.SIGTERM, _terminated)
    try:
        return args.handler(args)
    except BootstrapError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.status
    except Terminated:
        print(f"{PROG}: terminated (SIGTERM)", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the one last-resort boundary (STYLE.md 6)
        log.debug("internal error", exc_info=True)
        hint = "" if args.verbose >= 2 else " (run with -vv for the traceback)"
        print(f"{PROG}: internal error: {exc.__class__.__name__}: {exc}{hint}",
              file=sys.stderr)
        return EXIT_FAILED


def _terminated(signum, frame):
    # Once is enough: a second SIGTERM during the cleanups must not cut them short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()
