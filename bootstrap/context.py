"""Where a command's site and install directory come from (DESIGN.md, "Commands").

init and deploy read the site file (--config, --example, the embedded default);
every other command reads the resolved site.toml that the last init left in the
install directory. Never starts or stops anything.
"""

import sys

from bootstrap.errors import PROG, BootstrapError


class Context:
    """Where the site and install directory come from, from the global options."""

    def __init__(self, config=None, example=False, deployment=None, install_dir=None):
        self.config = config
        self.example = example
        self.deployment = deployment
        self.install_dir = install_dir
        if self.deployment is not None:
            from bootstrap.sitefile import DEPLOYMENT_RE

            if not DEPLOYMENT_RE.match(self.deployment):
                raise BootstrapError(f'--deployment: "{self.deployment}" must match '
                                     "[a-z0-9][a-z0-9-]*", 2)

    def site_from_file(self):
        """Return the site of --config, --example or the embedded default."""
        from bootstrap import sitefile

        return sitefile.load_site(self.config, self.example, self.deployment,
                                  self.install_dir)

    def site_to_render(self):
        """Return the site init and deploy render: the site file, else the install's own.

        Without --config or --example, an install that exists is rendered from the
        site.toml its last init left, never replaced by the embedded default.
        """
        site, source = self.site_and_source()
        if not self.has_site_file() and not source.startswith("<"):
            print(f"no --config: rendering {source} again", file=sys.stderr)
        return site

    def site_and_source(self):
        """Return (site, where it came from): the site file, the install's, or the default."""
        from bootstrap import sitefile
        from bootstrap.paths import Layout, default_install_dir

        if self.has_site_file():
            return self.site_from_file(), self.config or "<embedded example>"
        root = self.install_dir or (self.deployment and default_install_dir(
            self.deployment)) or self.site_from_file()["install_dir"]
        layout = Layout(root)
        if layout.site.is_file():
            return sitefile.load_site(str(layout.site)), str(layout.site)
        return self.site_from_file(), "<embedded default>"

    def installed(self, writes_logs=False):
        """Return (site, layout) of the install that the last init left.

        The install is checked before any of its code runs; the program logs' own
        files too only with writes_logs (up: the supervisords it starts open them).
        """
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
            raise _no_install(layout)
        site = sitefile.load_site(str(layout.site))
        # Commands run code from the install (launchers, the unpacked build): one
        # that another account could have changed is refused before any of it runs.
        from bootstrap import safety

        safety.check_install_dir(layout, site, for_use=True, program_logs=writes_logs)
        return site, layout

    def has_site_file(self):
        return bool(self.config or self.example)


def instance_names(site, chosen):
    """Return the instances a command is about: the one chosen, else all of site's."""
    if chosen is None:
        return list(site["instances"])
    if chosen not in site["instances"]:
        known = ", ".join(site["instances"])
        raise BootstrapError(f'no instance "{chosen}" in this site (known: {known})', 2)
    return [chosen]


def _no_install(layout):
    """Return the error for a directory without site.toml, naming what still runs from it."""
    from bootstrap import instances
    from bootstrap.errors import EXIT_UNREACHABLE

    running = instances.supervisords_under(layout.root)
    if not running:
        return BootstrapError(f"{layout.site}: no install here; run "
                              f"'{PROG} --config SITE.toml deploy' first")
    named = ", ".join(f"{name} (pid {pid})" for name, pid in sorted(running.items()))
    pids = " ".join(str(pid) for _, pid in sorted(running.items()))
    return BootstrapError(f"{layout.site}: no install here, yet supervisords started from it "
                          f"still run: {named}; the directory was removed under them. "
                          f"'kill {pids}' stops them and their programs; then run "
                          f"'{PROG} --config SITE.toml deploy'", EXIT_UNREACHABLE)
