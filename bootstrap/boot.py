"""boot-entry (DESIGN.md, "Commands"): the crontab @reboot line that runs up.

Reads and writes only this account's crontab, through the crontab command; never
starts a process of the install itself.
"""

import logging
import shlex
import shutil
import sys

from bootstrap import proc
from bootstrap.errors import BootstrapError

log = logging.getLogger(__name__)

CRONTAB_TIMEOUT = 30
MARK = "# jaws-bootstrap boot-entry"


def entry_line(layout):
    """Return the @reboot line that brings this install's instances back up.

    It runs the install's own launcher through the interpreter (so a noexec /tmp
    does not matter), and appends what up says to logs/boot.log.
    """
    root = str(layout.root)
    words = [sys.executable, "-I", str(layout.launcher("jaws-bootstrap")),
             "--install-dir", root, "up"]
    command = " ".join(shlex.quote(w) for w in words)
    log_file = shlex.quote(str(layout.logs / "boot.log"))
    # cron turns an unescaped % into a line break.
    line = f"@reboot {command} >>{log_file} 2>&1 {MARK} {root}"
    return line.replace("%", "\\%")


def install_entry(layout):
    """Add the entry to this account's crontab once; return False if it was there.

    An older entry for the same install directory (another Python, say) is
    replaced; every other line of the crontab is kept as it was.
    """
    line = entry_line(layout)
    mark = f"{MARK} {layout.root}".replace("%", "\\%")
    lines = read_crontab().splitlines()
    if line in lines:
        return False
    kept = [row for row in lines if not row.endswith(mark)]
    text = "\n".join(kept + [line]) + "\n"
    proc.run([_crontab(), "-"], timeout=CRONTAB_TIMEOUT, input_text=text)
    log.info("added to the crontab: %s", line)
    return True


def read_crontab():
    """Return this account's crontab, or "" if it has none."""
    result = proc.run([_crontab(), "-l"], timeout=CRONTAB_TIMEOUT, check=False)
    if result.returncode == 0:
        return result.stdout
    if "no crontab" in result.stderr.lower():
        return ""
    tail = "; ".join(result.stderr.strip().splitlines()[-2:])
    raise BootstrapError(f"crontab -l exited with {result.returncode}: {tail}")


def _crontab():
    path = shutil.which("crontab")
    if path is None:
        raise BootstrapError("crontab: no crontab command on this host; add the line "
                             "that 'boot-entry' prints by other means")
    return path
