"""The entry point of the .pyz and of bin/jaws-bootstrap, with a quick `status`
(DESIGN.md, "Performance targets": both instances in less than half the time of
one supervisorctl call).

Operators and CI waits run status in loops on loaded login nodes, where every
imported module costs. main() recognises the plain form,
`[--install-dir DIR] [--deployment NAME] status [-i NAME]`, before the command
line is even imported, and answers it with quick.py. Any other command line, and
any problem on the way, goes to cli.main, which then answers and reports exactly
as always. Kept small: in the .pyz this module is compiled on every run.
"""

import os
import sys

PROG = "jaws-bootstrap"
GLOBAL_OPTIONS = ("--install-dir", "--deployment")
STATUS_OPTIONS = ("--instance",)
ALIASES = {"-i": "--instance"}


def run(argv=None):
    """The entry point: main(), then end the process without tearing Python down."""
    return exit_quickly(main(argv))


def main(argv=None):
    """Run the command line: the plain status form quickly, anything else in cli.main."""
    argv = sys.argv[1:] if argv is None else list(argv)
    plain = status_form(argv)
    answer = None
    if plain is not None:
        try:
            answer = import_quick(plain[0]).answer(*plain)
        except (ImportError, OSError):
            answer = None
        except KeyboardInterrupt:
            from bootstrap.errors import EXIT_INTERRUPTED

            print(f"{PROG}: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED
    if answer is None:
        from bootstrap.cli import main as full_main

        return full_main(argv)
    return write_answer(*answer)


def status_form(argv):
    """Return (install dir, instance or None) if argv is the plain status form, else None."""
    words = list(argv)
    if "status" not in words:
        return None
    at = words.index("status")
    options = _read_options(words[:at], GLOBAL_OPTIONS)
    chosen = _read_options(words[at + 1:], STATUS_OPTIONS)
    if options is None or chosen is None:
        return None
    # Context.installed() takes --install-dir first, then the deployment's default.
    root = options.get("--install-dir") or _default_root(options.get("--deployment"))
    if root is None:
        return None
    return root, chosen.get("--instance")


def _read_options(words, known):
    """Return {option: value} for words made only of known options, else None."""
    found = {}
    rest = list(words)
    while rest:
        word = rest.pop(0)
        name, equals, value = word.partition("=")
        name = ALIASES.get(name, name)
        if name not in known or name in found or (equals and word.startswith("-i=")):
            return None
        if not equals:
            if not rest:
                return None
            value = rest.pop(0)
        # An empty value, or one argparse might take for an option, is its to judge.
        if not value or value.startswith("-"):
            return None
        found[name] = value
    return found


def _default_root(deployment):
    if not deployment:
        return None
    from bootstrap.paths import default_install_dir

    return default_install_dir(deployment)


def import_quick(root):
    """Import bootstrap.quick, from root's unpacked copy of this very build if it has one.

    Inside the .pyz nothing is compiled once for all; in the install directory,
    lib/<build id>/ holds the same files (the id is a hash of them) with their
    bytecode cached. Only a directory of this account, writable by no one else,
    is trusted so: /tmp is shared.
    """
    import bootstrap

    unpacked = _unpacked_package(root, bootstrap)
    if unpacked is not None:
        # The same build's files, so both bootstrap and supervisor may come from there.
        bootstrap.__path__.insert(0, unpacked)
        sys.path.insert(0, os.path.dirname(unpacked))
    from bootstrap import quick

    return quick


def _unpacked_package(root, package):
    archive = getattr(package.__loader__, "archive", None)
    if archive is None or not _is_own_directory(root):
        return None
    import json

    try:
        env = json.loads(package.__loader__.get_data(
            os.path.join(archive, "environment.json")).decode("utf-8"))
        # paths.Layout.site_packages(build id), with bundle.build_id()'s id.
        path = os.path.join(root, "lib", env["build_id"][:16], "site-packages", "bootstrap")
    except (OSError, ValueError, LookupError, TypeError):
        return None
    return path if os.path.isfile(os.path.join(path, "quick.py")) else None


def _is_own_directory(path):
    import stat

    try:
        st = os.lstat(path)
    except OSError:
        return False
    return (stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid()
            and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def exit_quickly(code):
    """End the process with code, skipping the interpreter's teardown; else return code.

    Freeing every module and object at exit took 8-10 ms of a 45 ms status and
    20-40 ms of a cold start here, for memory the system takes back anyway. What
    an ordinary exit must still do is done first: the atexit handlers (logging's
    flush, temporary directories, the bytecode compiler's wait) and flushing
    stdout and stderr. If a flush fails or another thread still runs, code is
    returned for the ordinary exit, which reports or waits as it always does.
    """
    import atexit

    threading = sys.modules.get("threading")
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if (not isinstance(code, int) or run_exit_handlers is None
            or (threading and threading.active_count() > 1)):
        return code
    run_exit_handlers()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return code
    os._exit(code)


def write_answer(text, code):
    """Write the status text; a failure to write is told as cli.main tells it."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as exc:
        from bootstrap.errors import EXIT_FAILED

        print(f"{PROG}: internal error: {exc.__class__.__name__}: {exc} "
              "(run with -vv for the traceback)", file=sys.stderr)
        return EXIT_FAILED
    return code
