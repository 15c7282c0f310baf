"""Errors and exit statuses (DESIGN.md, "Exit codes").

Only cli.main() turns a BootstrapError into a message and a status; nothing here prints.
"""

# The name errors and hints give the tool, whichever file it was started from.
PROG = "jaws-bootstrap"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3
EXIT_UNREACHABLE = 4
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

STATUS_HELP = """\
exit statuses:
  0    success
  1    failure
  2    bad usage or bad site file
  3    status: a program is not running
  4    status: an instance cannot be reached
  130  interrupted (Ctrl-C)
  143  terminated (SIGTERM, a cancelled CI job)
over several instances the worst status wins"""

# Worst first: an unreachable instance hides everything else it might have said,
# bad usage is the user's to fix before anything, then a hard failure, then a
# program that is merely not running.
_SEVERITY = [EXIT_TERMINATED, EXIT_INTERRUPTED, EXIT_UNREACHABLE, EXIT_USAGE, EXIT_FAILED,
             EXIT_NOT_RUNNING]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, so its cleanups run as for Ctrl-C."""


class BootstrapError(Exception):
    """A problem the user can fix, with the exit status it ends the run with."""

    def __init__(self, message, status=EXIT_FAILED):
        super().__init__(message)
        self.status = status


def worst(statuses):
    """Return the one status that stands for several instances' statuses."""
    statuses = [s for s in statuses if s]
    if not statuses:
        return EXIT_OK

    def rank(status):
        if status in _SEVERITY:
            return _SEVERITY.index(status)
        return len(_SEVERITY)

    return min(statuses, key=rank)
