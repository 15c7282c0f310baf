"""deploy and rollback (DESIGN.md, "Commands"): apply configs, wait for RUNNING.

Changes running programs only through supervisord's RPC: reloadConfig, then per
group the finest change it allows (see rpcext.py). Files are install.py's and
previous.py's work; the whole of a deploy or rollback runs under the install lock.
"""

import logging
import re
import sys
import xmlrpc.client

from bootstrap import install, instances, previous, rpc, settings, settle

log = logging.getLogger(__name__)



class Changes:
    """What applying a config did to one instance's programs."""

    def __init__(self):
        self.started, self.restarted, self.stopped, self.left = [], [], [], []

    def summary(self):
        parts = [f"{len(self.restarted)} restarted", f"{len(self.started)} added",
                 f"{len(self.stopped)} removed"]
        return ", ".join(parts)


def deploy(site, timeout, restart_supervisors=False, report=None):
    """Run init, up, apply and the wait for RUNNING as one step under the install lock.

    The set put in force is marked good once every program is RUNNING. An instance
    whose supervisord runs an older build, or started with other start-only
    settings (settings.py) than its config now has, is reported, or with
    restart_supervisors shut down and started again. Returns the Layout.
    """
    from bootstrap import bundle, check, ports, runner
    from bootstrap.paths import Layout

    report = report or _stderr
    runner.check_site(site)
    check.refuse_broken_commands(site)
    # Before the first directory is made; up asks again for what it starts.
    ports.refuse_busy(site, Layout(site["install_dir"]), list(site["instances"]),
                      "deploy changed nothing")
    layout = install.prepare(site)
    with install.InstallLock(layout, timeout=install.lock_timeout() + timeout):
        # Each question to a stopped supervisord would wait the answer timeout.
        instances.refuse_stopped(layout, list(site["instances"]))
        keep = runner.keep_groups(site, layout)
        down_dropped(layout, site, timeout, report)
        layout, _ = install.init(site)
        names = list(site["instances"])
        build_id = bundle.build_id()
        stale = old_builds(layout, names, build_id)
        unsettled = unapplied_settings(layout, names)
        if restart_supervisors and (stale or unsettled):
            runner.refuse_restart_under_runner(keep, {**stale, **unsettled})
            left = _shut_down(site, layout, stale, unsettled, build_id, timeout, report)
            stale = {n: b for n, b in stale.items() if n in left}
            unsettled = {n: s for n, s in unsettled.items() if n in left}
        bring_in_force(site, layout, names, timeout, report, keep)
    for name, running in stale.items():
        report(f"{name}: supervisord (pid {instances.read_pid(layout, name)}) still runs "
               f"build {running or 'unknown'}, the launchers run build {build_id}; "
               "'deploy --restart-supervisors' moves it (its programs restart)")
    report_unsettled(layout, unsettled, report)
    return layout


def report_unsettled(layout, unsettled, report):
    """Name each instance whose supervisord lacks the start-only settings of its config."""
    for name, sections in unsettled.items():
        report(f"{name}: supervisord (pid {instances.read_pid(layout, name)}) runs with "
               f"the {', '.join(f'[{s}]' for s in sections)} settings it started with; "
               "the new ones apply when it starts again: 'deploy --restart-supervisors' "
               "restarts it (its programs restart)")


def _shut_down(site, layout, stale, unsettled, build_id, timeout, report):
    """Shut down the instances to restart that this account may start again; return the rest."""
    names = sorted(set(stale) | set(unsettled))
    # Another account's instance, once down, could not be brought back from here.
    theirs = [name for name in names if instances.owner_mismatch(site, name)]
    ours = [name for name in names if name not in theirs]
    for name in ours:
        why = (f"build {stale[name] or 'unknown'}, on build {build_id}" if name in stale
               else f"new {', '.join(f'[{s}]' for s in unsettled[name])} settings")
        report(f"{name}: restarting supervisord ({why})")
    instances.down(layout, ours, timeout=timeout, report=report)
    return theirs


def unapplied_settings(layout, names):
    """Return {instance: sections} whose start-only settings its running supervisord lacks.

    A supervisord of an older build, which cannot say what it started with, is
    left out.
    """
    unsettled = {}
    for name in names:
        if not rpc.is_answering(layout, name):
            continue
        try:
            running = rpc.server_proxy(layout, name).jaws.getSettings()
        except xmlrpc.client.Fault:
            continue
        text = layout.config(name).read_text(encoding="utf-8")
        sections = settings.changed(running, settings.digests(text)) if running else []
        if sections:
            unsettled[name] = sections
    return unsettled


def rollback(layout, timeout, report=None):
    """Put the set in previous/ back in force and apply it like deploy."""
    from bootstrap import runner, sitefile

    report = report or _stderr
    with install.InstallLock(layout, timeout=install.lock_timeout() + timeout):
        files = previous.previous_set(layout)
        source = str(layout.previous / previous.SITE)
        site = sitefile.resolve_site(
            sitefile.parse_toml(files[previous.SITE].decode("utf-8"), source), source)
        configs = {name: with_current_key(layout, name, files[previous.config_name(name)])
                   for name in site["instances"]}
        instances.refuse_stopped(layout, list(site["instances"]))
        keep = runner.keep_groups(site, layout)
        down_dropped(layout, site, timeout, report)
        install.make_importable(layout)
        install.put_in_force(site, layout, configs)
        bring_in_force(site, layout, list(site["instances"]), timeout, report, keep)
        report_unsettled(layout, unapplied_settings(layout, list(site["instances"])), report)
    return site


def down_dropped(layout, site, timeout, report):
    """Shut down the instances that the install runs and site no longer has."""
    if not layout.site.is_file():
        return
    current = previous.instances_of(layout.site.read_bytes(), str(layout.site))
    gone = [name for name in current if name not in site["instances"]]
    if gone:
        report(f"{', '.join(gone)}: not in the new site; shutting down")
        instances.down(layout, gone, timeout=timeout, report=report)


def with_current_key(layout, instance, text):
    """Return config text with instance's key as it is now in keys/.

    The previous set may predate a new key; a config with the old one would lock
    the install's own supervisorctl out.
    """
    key = rpc.read_key(layout, instance).encode("ascii")
    found = re.search(rb"^password=(\S+)$", text, re.MULTILINE)
    if found is None or found.group(1) == key:
        return text
    return text.replace(b"password=" + found.group(1), b"password=" + key)


def bring_in_force(site, layout, names, timeout, report, keep=None):
    """Start what is down, apply the configs to the rest, wait, mark the set good.

    keep maps an instance to the groups left as they are (runner.keep_groups). Then
    the unpacked builds that nothing uses any more are removed.
    """
    from bootstrap import bundle, prune, runner

    keep = keep or {}
    started = instances.up(site, layout, names, timeout=timeout, report=report)
    fresh = {name: [settle.ALL] for name in started}
    for name in names:
        if name not in started:
            changes = apply_config(layout, name, keep_groups=keep.get(name, ()))
            report(f"{name}: {changes.summary()}")
            for group in changes.left:
                report(runner.kept_text(name, group))
            fresh[name] = changes.started + changes.restarted
    settle.wait_running(layout, site, names, timeout, report, fresh)
    previous.mark_good(layout)
    prune.prune_builds(layout, bundle.build_id())


def old_builds(layout, names, build_id):
    """Return {instance: build id} of running supervisords that run another build."""
    stale = {}
    for name in names:
        if not rpc.is_answering(layout, name):
            continue
        try:
            running = rpc.server_proxy(layout, name).jaws.getBuildId()
        except xmlrpc.client.Fault:
            running = ""
        if running != build_id:
            stale[name] = running
    return stale


def apply_config(layout, instance, keep_groups=()):
    """Make instance's supervisord run what its config file now says.

    Unchanged programs keep running; changed ones restart; removed ones stop;
    new ones start. Groups in keep_groups are left as they are.
    """
    # Stopping a changed program waits up to its stopwaitsecs.
    proxy = rpc.server_proxy(layout, instance, waits=True)
    added, changed, removed = proxy.supervisor.reloadConfig()[0]
    changes = Changes()
    for group in removed:
        _stop_group(proxy, group)
        proxy.supervisor.removeProcessGroup(group)
        changes.stopped.append(group)
    for group in changed:
        if group in keep_groups:
            changes.left.append(group)
            continue
        diff = proxy.jaws.diffGroup(group)
        for name in diff["changed"] + diff["removed"]:
            _stop_process(proxy, f"{group}:{name}")
        proxy.jaws.refreshGroup(group)
        changes.restarted += [f"{group}:{n}" for n in diff["changed"]]
        changes.stopped += [f"{group}:{n}" for n in diff["removed"]]
        changes.started += [f"{group}:{n}" for n in diff["added"]]
    for group in added:
        proxy.supervisor.addProcessGroup(group)
        changes.started.append(group)
    log.info("instance %s: %s", instance, changes.summary())
    return changes


def _stop_group(proxy, group):
    try:
        proxy.supervisor.stopProcessGroup(group, True)
    except xmlrpc.client.Fault as fault:
        log.info("stopping group %s: %s", group, fault.faultString)


def _stop_process(proxy, namespec):
    try:
        proxy.supervisor.stopProcess(namespec, True)
    except xmlrpc.client.Fault as fault:
        # NOT_RUNNING: already stopped, which is what we want.
        if "NOT_RUNNING" not in fault.faultString:
            raise


def _stderr(text):
    print(text, file=sys.stderr)
