"""Entry points of the bin/ launchers that init writes (DESIGN.md, "On the host").

Each runs from an unpacked build with no .pyz present; it only prepares imports.
"""

import os
import sys

from bootstrap import pkgshim


def supervisord():
    # supervisord opens its own log before it applies the config's umask.
    os.umask(0o027)
    pkgshim.install()
    from supervisor.supervisord import main

    return main()


def supervisorctl():
    pkgshim.install()
    from supervisor.supervisorctl import main

    return main()


SITE_OPTIONS = ("--install-dir", "--deployment", "--config", "--example")


def tool():
    """Run the tool for the install this launcher lives in, unless told otherwise."""
    from bootstrap.fast import run

    argv = sys.argv[1:]
    named = any(a.split("=")[0] in SITE_OPTIONS for a in argv)
    if not named:
        own = os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[0])))
        argv = ["--install-dir", own] + argv
    return run(argv)


def standin():
    import runpy

    from bootstrap import bundle

    path = bundle.package_root() / "bootstrap" / "payload" / "standin" / "service.py"
    sys.argv[0] = "jaws-standin"
    runpy.run_path(str(path), run_name="__main__")
    return 0
