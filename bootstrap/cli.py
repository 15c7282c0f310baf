"""The command line (DESIGN.md, "Commands"): parser, handlers, main().

Handlers unpack the Namespace and call one function each; nothing below this
module sees a Namespace. Only main() prints errors and chooses the exit status.
"""

import argparse
import logging
import sys

from bootstrap.errors import EXIT_FAILED, EXIT_INTERRUPTED, STATUS_HELP, BootstrapError

PROG = "jaws-bootstrap"
DEFAULT_TIMEOUT = 120
log = logging.getLogger(__name__)


class Context:
    """Where the site and install directory come from, from the global options."""

    def __init__(self, args):
        self.config = args.config
        self.example = args.example
        self.deployment = args.deployment
        self.install_dir = args.install_dir

    def site_from_file(self):
        """Return the site of --config, --example or the embedded default."""
        from bootstrap import sitefile

        return sitefile.load_site(self.config, self.example, self.deployment,
                                  self.install_dir)

    def installed(self):
        """Return (site, layout) of the install that the last init left."""
        from bootstrap import sitefile
        from bootstrap.paths import Layout, default_install_dir

        if self.install_dir:
            root = self.install_dir
        elif self.config or self.example:
            root = self.site_from_file()["install_dir"]
        elif self.deployment:
            root = default_install_dir(self.deployment)
        else:
            root = self.site_from_file()["install_dir"]
        layout = Layout(root)
        if not layout.site.is_file():
            raise BootstrapError(f"{layout.site}: no install here; run "
                                 f"'{PROG} --config SITE.toml deploy' first")
        return sitefile.load_site(str(layout.site)), layout

    def has_site_file(self):
        return bool(self.config or self.example)


def instance_names(site, chosen):
    if chosen is None:
        return list(site["instances"])
    if chosen not in site["instances"]:
        known = ", ".join(site["instances"])
        raise BootstrapError(f'no instance "{chosen}" in this site (known: {known})', 2)
    return [chosen]


def cmd_init(args):
    from bootstrap import install

    site = Context(args).site_from_file()
    layout, changed = install.init(site)
    print(f"initialised {layout.root}" + (f"; configs changed: {', '.join(changed)}"
                                          if changed else "; configs unchanged"),
          file=sys.stderr)
    return 0


def cmd_up(args):
    from bootstrap import install, instances
    from bootstrap.paths import Layout

    ctx = Context(args)
    if ctx.has_site_file():
        site = ctx.site_from_file()
        if not Layout(site["install_dir"]).site.is_file():
            install.init(site)
    site, layout = ctx.installed()
    instances.up(site, layout, instance_names(site, args.instance), timeout=args.timeout)
    return 0


def cmd_down(args):
    from bootstrap import instances

    site, layout = Context(args).installed()
    instances.down(layout, instance_names(site, args.instance), timeout=args.timeout)
    return 0


def cmd_deploy(args):
    from bootstrap import deploy, install, instances

    site = Context(args).site_from_file()
    layout, changed = install.init(site)
    names = list(site["instances"])
    started = instances.up(site, layout, names, timeout=args.timeout)
    for name in names:
        if name not in started:
            changes = deploy.apply_config(layout, name)
            print(f"{name}: {changes.summary()}", file=sys.stderr)
    deploy.wait_running(layout, names, args.timeout)
    print(f"deployed {site['deployment']} in {layout.root}: every program RUNNING",
          file=sys.stderr)
    return 0


def cmd_status(args):
    from bootstrap import mirror

    site, layout = Context(args).installed()
    return mirror.status(layout, instance_names(site, args.instance))


def cmd_version(args):
    from bootstrap import bundle, version

    print(version.version_text(bundle), end="")
    return 0


def build_parser():
    from bootstrap import __version__

    parser = argparse.ArgumentParser(
        prog=PROG, description="Install, start and control the two supervisord "
        "instances of a JAWS site from one file.",
        epilog=STATUS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", metavar="FILE", help="the site file (TOML)")
    parser.add_argument("--example", action="store_true",
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
        p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS")
    p = command("deploy", cmd_deploy,
                "init + up + apply changes + wait until every program is RUNNING")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS")
    p = command("status", cmd_status, "status of every program on each instance")
    p.add_argument("-i", "--instance", help="only this instance")
    command("version", cmd_version, "versions of this tool, supervisor and Python")
    return parser


def setup_logging(verbose):
    level = logging.WARNING if not verbose else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format=f"{PROG}: %(message)s")


def main(argv=None):
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        return args.handler(args)
    except BootstrapError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the one last-resort boundary (STYLE.md 6)
        log.debug("internal error", exc_info=True)
        print(f"{PROG}: internal error: {exc.__class__.__name__}: {exc} "
              "(run with -vv for the traceback)", file=sys.stderr)
        return EXIT_FAILED
