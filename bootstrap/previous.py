"""The last good set (DESIGN.md, "On the host", previous/): mark it, keep it, read it back.

A set is site.toml plus the config of every instance it names. A set becomes good
when a deploy (or rollback) saw every program RUNNING with it; .last-good holds its
digests. Only a good set in force is ever copied to previous/, so a config that
supervisord rejected (never put in force) or a deploy whose programs failed (never
marked good) cannot overwrite the last good set. Runs under the install lock that
its callers hold; never starts or stops a process.
"""

import hashlib
import json
import logging
import os
import shutil

from bootstrap.errors import BootstrapError
from bootstrap.install import read_or_none

log = logging.getLogger(__name__)

MARK = ".last-good"
SITE = "site.toml"


def config_name(instance):
    return f"supervisord-{instance}.conf"


def instances_of(site_text, source):
    """Return the instance names of a resolved site.toml's text."""
    from bootstrap import sitefile

    return list(sitefile.parse_toml(site_text.decode("utf-8"), source).get("instances", {}))


def read_set(directory):
    """Return {file name: bytes} of the set in directory, or None if it is not whole."""
    site = read_or_none(directory / SITE)
    if site is None:
        return None
    files = {SITE: site}
    for instance in instances_of(site, str(directory / SITE)):
        data = read_or_none(directory / config_name(instance))
        if data is None:
            return None
        files[config_name(instance)] = data
    return files


def digests(files):
    return {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}


def is_good(layout, files):
    """Return True if files is the set that last reached RUNNING in this install."""
    mark = read_or_none(layout.root / MARK)
    if files is None or mark is None:
        return False
    try:
        return json.loads(mark.decode("utf-8")) == digests(files)
    except ValueError:
        return False


def mark_good(layout):
    """Record the set now in force as good: every program reached RUNNING with it."""
    from bootstrap import install

    files = read_set(layout.root)
    if files is not None:
        text = json.dumps(digests(files), indent=1, sort_keys=True) + "\n"
        install.write_atomic(layout.root / MARK, text.encode("ascii"), 0o640)


def keep_current(layout):
    """Copy the set in force to previous/ if it is good; return True if it was copied."""
    files = read_set(layout.root)
    if not is_good(layout, files):
        log.info("the set in force never reached RUNNING; %s keeps the last good one",
                 layout.previous)
        return False
    replace_previous(layout, files)
    return True


def replace_previous(layout, files):
    """Make previous/ hold exactly files, swapping whole directories."""
    from bootstrap import install

    tmp = layout.root / f".previous.tmp-{os.getpid()}"
    old = layout.root / f".previous.old-{os.getpid()}"
    # Left by a run that died between its two renames; the lock is ours now.
    for stale in layout.root.glob(".previous.*-*"):
        shutil.rmtree(str(stale), ignore_errors=True)
    # Old configs hold keys that may since have been rotated away from a group:
    # only the account that deploys (and rolls back) reads them.
    os.mkdir(str(tmp), 0o700)
    for name, data in files.items():
        install.write_atomic(tmp / name, data, 0o644 if name == SITE else 0o600)
    os.rename(str(layout.previous), str(old))
    os.rename(str(tmp), str(layout.previous))
    shutil.rmtree(str(old), ignore_errors=True)
    log.info("kept the set in force in %s", layout.previous)


def previous_set(layout):
    """Return the set in previous/; raise BootstrapError if there is none."""
    files = read_set(layout.previous)
    if files is None:
        raise BootstrapError(f"{layout.previous}: no previous configs to roll back to; a "
                             "set is kept there when a deploy replaces one that reached "
                             "RUNNING")
    return files
