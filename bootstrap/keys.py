"""Instance keys (DESIGN.md, "Security model"): create, read and rotate them.

A key is 256 random bits, lives only in keys/<instance>.key (mode 0640, group
control_group; 0600 where that group cannot be given) and in the instance's
config, and never reaches a command line, a log line, an exception or --json.
"""

import base64
import grp
import logging
import os

from bootstrap import safety
from bootstrap.errors import EXIT_USAGE, BootstrapError

log = logging.getLogger(__name__)

KEY_BYTES = 32


def new_key():
    # secrets.token_urlsafe's recipe; importing secrets loads OpenSSL and random
    # on the cold start's path.
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).rstrip(b"=").decode("ascii")


def ensure_key(layout, instance, site):
    """Return instance's key, creating its key file if there is none."""
    path = layout.key(instance)
    try:
        with open(str(path)) as fh:
            key = fh.read().strip()
        if key:
            return key
    except FileNotFoundError:
        pass
    return write_key(layout, instance, site)


def write_key(layout, instance, site):
    """Write a new key for instance, atomically, and return it."""
    key = new_key()
    write_secret(layout.key(instance), (key + "\n").encode("ascii"),
                 site["instances"][instance]["control_group"])
    log.info("wrote a new key for instance %s in %s", instance, layout.key(instance))
    return key


def write_secret(path, data, group):
    """Replace path with data, readable by its owner and group only.

    The file is created 0600 and gets its group before any data is in it; it is
    opened 0640 to the group only once the group is right, so no other group ever
    sees the data.
    """
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    _unlink(tmp)
    fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        if give_group(fd, group, path):
            os.fchmod(fd, 0o640)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(str(tmp), str(path))
    except BaseException:
        _unlink(tmp)
        raise


def give_group(fd, group, path):
    """Give the open file fd to group; return False (and warn) if that is not allowed."""
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        log.warning("%s: no group %s on this host; only this account can read it",
                    path, group)
        return False
    return safety.give_gid(fd, gid, path)


def rotate_key(site, layout, instance):
    """Give instance a new key and re-render its config; return what must restart.

    The running supervisord keeps accepting only the old key until it re-reads its
    config, so the text returned names the exact command that makes it do so.
    """
    from bootstrap import install, render

    if instance not in site["instances"]:
        known = ", ".join(site["instances"])
        raise BootstrapError(f'no instance "{instance}" in this site (known: {known})',
                             EXIT_USAGE)
    if not os.access(str(layout.keys), os.W_OK) or not os.access(str(layout.root), os.W_OK):
        owner = safety.name_of_uid(os.stat(str(layout.root)).st_uid)
        who = "root" if owner == "root" else f"{owner} (who installed it) or root"
        raise BootstrapError(f"{layout.keys}: this account may not write keys here; run "
                             f"rotate-key as {who}")
    with install.InstallLock(layout):
        # The config is checked with supervisor's own parser before it is used.
        install.make_importable(layout)
        keys = {name: ensure_key(layout, name, site) for name in site["instances"]}
        keys[instance] = new_key()
        configs = {name: render.render_instance(site, name, layout, keys[name]).encode()
                   for name in site["instances"]}
        # The config first: if supervisor's parser refused it, the old key stays
        # in force everywhere.
        install.put_in_force(site, layout, configs)
        write_secret(layout.key(instance), (keys[instance] + "\n").encode("ascii"),
                     site["instances"][instance]["control_group"])
        log.info("wrote a new key for instance %s in %s", instance, layout.key(instance))
    return restart_advice(site, layout, instance)


def restart_advice(site, layout, instance):
    """Say what makes instance's running supervisord take its new key."""
    from bootstrap import instances

    pid = instances.read_pid(layout, instance)
    if not instances.pid_alive(pid):
        return (f"instance {instance}: new key written; it is not running, so it uses the "
                "new key from its next start")
    user = site["instances"][instance]["user"]
    who = "root" if user == "root" else f"{user} or root"
    return (f"instance {instance}: new key written; its supervisord (pid {pid}) accepts "
            f"only the old key until it re-reads its config: as {who}, run "
            f"'kill -HUP {pid}' (this restarts every program of {instance})")


def _unlink(path):
    try:
        os.unlink(str(path))
    except FileNotFoundError:
        pass
