"""An RPC namespace loaded into supervisord: change one program of a group in place.

supervisord's own update replaces a whole group when any of its programs changed,
restarting every program in it. deploy needs only the changed programs restarted,
so this namespace ("jaws") lets it swap a group's config while the unchanged
processes keep running. It also tells which build and which start-only settings
(settings.py) the supervisord runs with. Runs inside supervisord; of the rest of
the tool it imports only settings.py.
"""

import configparser
import logging
import os

from supervisor.states import STOPPED_STATES
from supervisor.xmlrpc import Faults, RPCError

from bootstrap import settings

log = logging.getLogger(__name__)

API_VERSION = "1.0"


class JawsNamespace:
    """Methods under "jaws." on a supervisord's XML-RPC interface."""

    def __init__(self, supervisord):
        self.supervisord = supervisord
        # Made at every start and reload of supervisord: what it read then.
        self.settings = _settings_of(supervisord.options.configfile)

    def getAPIVersion(self):
        """Return the version of the jaws namespace."""
        return API_VERSION

    def getBuildId(self):
        """Return the build this supervisord runs: the name of its lib/<build id>.

        @return string  the build id, or "" when not run from an install's lib/
        """
        site_packages = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        if os.path.basename(site_packages) != "site-packages":
            return ""
        return os.path.basename(os.path.dirname(site_packages))

    def getSettings(self):
        """Return digests of the start-only sections this supervisord read at its start.

        @return struct  {section: sha256 of its settings}; empty if it could not tell
        """
        return dict(self.settings)

    def diffGroup(self, name):
        """Return the programs of group name that reloadConfig found changed.

        @param string name  the group's name
        @return struct  lists "added", "changed", "removed" and "unchanged"
        """
        group, new = self._group_and_config(name)
        old_by, new_by = _by_name(group.config), _by_name(new)
        return {
            "added": sorted(set(new_by) - set(old_by)),
            "removed": sorted(set(old_by) - set(new_by)),
            "changed": sorted(p for p in old_by if p in new_by and old_by[p] != new_by[p]),
            "unchanged": sorted(p for p in old_by if p in new_by and old_by[p] == new_by[p]),
        }

    def refreshGroup(self, name):
        """Give group name the config reloadConfig read, keeping unchanged processes.

        Processes that were removed or changed must already be stopped.
        @param string name  the group's name
        @return boolean  always true
        """
        group, new = self._group_and_config(name)
        old_by, new_by = _by_name(group.config), _by_name(new)
        replaced = [p for p in old_by if p not in new_by or old_by[p] != new_by[p]]
        for pname in replaced:
            if group.processes[pname].get_state() not in STOPPED_STATES:
                raise RPCError(Faults.STILL_RUNNING, f"{name}:{pname}")

        for pname in replaced:
            del group.processes[pname]
        for pname, pconfig in new_by.items():
            if pname not in group.processes:
                pconfig.create_autochildlogs()
                group.processes[pname] = pconfig.make_process(group)
        group.config = new
        return True

    def _group_and_config(self, name):
        group = self.supervisord.process_groups.get(name)
        configs = [c for c in self.supervisord.options.process_group_configs if c.name == name]
        if group is None or not configs:
            raise RPCError(Faults.BAD_NAME, name)
        return group, configs[0]


def _settings_of(path):
    try:
        with open(path, encoding="utf-8") as fh:
            return settings.digests(fh.read())
    except (OSError, ValueError, configparser.Error) as exc:
        log.info("cannot read settings of %s: %s", path, exc)
        return {}


def _by_name(group_config):
    return {p.name: p for p in group_config.process_configs}


# supervisor's channels send 4 KB per turn of supervisord's main loop, and each
# turn visits every program: status of 200 programs (240 KB) took 60 turns, a
# tenth of a second. Whole answers go out in a turn or two instead.
SEND_BUFFER = 1 << 18


def make_interface(supervisord, **config):
    """Factory named in [rpcinterface:jaws] of every rendered config."""
    from supervisor.http import deferring_http_channel

    deferring_http_channel.ac_out_buffer_size = max(
        deferring_http_channel.ac_out_buffer_size, SEND_BUFFER)
    return JawsNamespace(supervisord)
