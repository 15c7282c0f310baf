"""Pure logic of deploy's wait: which program states count as done, which fail at once."""

import pytest

from bootstrap import settle

CONFIG = {"autostart": True, "exitcodes": [0, 2]}


def info(state, exitstatus=0):
    return {"group": "jaws-dep", "name": "migrate", "statename": state,
            "exitstatus": exitstatus}


@pytest.mark.parametrize("state, exitstatus, policy, settled", [
    ("RUNNING", 0, "true", True),
    ("EXITED", 0, "false", True),
    ("EXITED", 2, "unexpected", True),
    ("EXITED", 3, "false", False),
    ("EXITED", 0, "true", False),
    ("STARTING", 0, "false", False),
    ("BACKOFF", 0, "unexpected", False),
])
def test_settled_counts_listed_exit_of_one_shot_as_done(state, exitstatus, policy, settled):
    assert settle._settled(info(state, exitstatus), CONFIG, policy) is settled


def test_settled_skips_a_program_nobody_asked_to_start():
    config = dict(CONFIG, autostart=False)

    assert settle._settled(info("STOPPED"), config, "unexpected") is True


def test_restart_policies_read_site_and_supervised_runner():
    site = {"instances": {"jaws": {"programs": {
        "daemon": {"command": "x"}, "once": {"command": "y", "autorestart": False},
        "always": {"command": "z", "autorestart": "TRUE"}}}},
        "runner": {"supervised": True, "instance": "jaws", "command": "/r",
                   "config": "/c", "working_directory": "/w", "environment": {},
                   "stopwaitsecs": 10}}

    policies = settle._restart_policies(site, "jaws")

    assert policies == {"daemon": "unexpected", "once": "false", "always": "true",
                        "gitlab-runner": "true"}
