"""Pure logic of the mirrored verbs: name routing, status selection, records, messages."""

import os

import pytest

from bootstrap import mirror, names, orphans, version
from bootstrap.errors import BootstrapError
from bootstrap.paths import Layout

JAWS = [("jaws-staging", "jaws-site-daemon"), ("jaws-staging", "jaws-site-jtm-rpc")]
JTM = [("jaws-staging", "jaws-jtm"), ("jaws-staging", "jaws-cromwell")]
BOTH = {"jaws": JAWS, "jtm": JTM}


def info(name, state="RUNNING", group="jaws-staging", pid=10, start=100, now=160):
    return {"group": group, "name": name, "statename": state, "pid": pid, "start": start,
            "now": now, "exitstatus": 0, "description": f"pid {pid}, uptime 0:01:00"}


@pytest.mark.parametrize("spec, expected", [
    ("jaws-staging:jaws-jtm", ("jaws-staging", "jaws-jtm")),
    ("jaws-staging:*", ("jaws-staging", None)),
    ("jaws-staging:", ("jaws-staging", None)),
    ("solo", ("solo", "solo")),
])
def test_split_namespec_reads_like_supervisor(spec, expected):
    assert names.split_namespec(spec) == expected


@pytest.mark.parametrize("spec, expected", [
    ("jaws-staging:jaws-site-daemon", {"jaws": ["jaws-staging:jaws-site-daemon"]}),
    ("jaws-site-daemon", {"jaws": ["jaws-staging:jaws-site-daemon"]}),
    ("jaws-cromwell", {"jtm": ["jaws-staging:jaws-cromwell"]}),
    ("jaws-staging:*", {"jaws": ["jaws-staging:*"], "jtm": ["jaws-staging:*"]}),
    ("all", {"jaws": ["all"], "jtm": ["all"]}),
    ("bogus", {"jaws": ["bogus"], "jtm": ["bogus"]}),
    ("nogroup:*", {"jaws": ["nogroup:*"], "jtm": ["nogroup:*"]}),
])
def test_route_sends_each_name_where_it_is(spec, expected):
    assert names.route([spec], BOTH) == expected


def test_route_splits_names_of_two_instances():
    routes = names.route(["jaws-site-daemon", "jaws-jtm"], BOTH)

    assert routes == {"jaws": ["jaws-staging:jaws-site-daemon"],
                      "jtm": ["jaws-staging:jaws-jtm"]}


def test_route_keeps_a_name_supervisor_already_knows():
    inventories = {"jaws": [("solo", "solo"), ("grp", "solo")]}

    assert names.route(["solo"], inventories) == {"jaws": ["solo"]}


def test_route_refuses_a_bare_name_in_two_groups():
    inventories = {"jaws": [("a", "prog"), ("b", "prog")]}

    with pytest.raises(BootstrapError) as caught:
        names.route(["prog"], inventories)

    assert caught.value.status == 2
    assert 'program "prog" is in groups a, b of instance jaws' in str(caught.value)


def test_route_of_update_matches_group_names_only():
    assert names.route(["jaws-staging"], BOTH, kind="group") == {
        "jaws": ["jaws-staging"], "jtm": ["jaws-staging"]}
    assert names.route(["jaws-jtm"], BOTH, kind="group") == {
        "jaws": ["jaws-jtm"], "jtm": ["jaws-jtm"]}


@pytest.mark.parametrize("verb, args, expected", [
    ("signal", ["HUP", "a", "b"], (["HUP"], ["a", "b"], [])),
    ("tail", ["-100", "a", "stderr"], (["-100"], ["a"], ["stderr"])),
    ("tail", ["-f", "a"], (["-f"], ["a"], [])),
    ("tail", ["a", "stderr"], ([], ["a"], ["stderr"])),
    ("tail", [], ([], [], [])),
    ("start", ["a", "b"], ([], ["a", "b"], [])),
    ("update", ["g"], ([], ["g"], [])),
    ("maintail", ["-100"], (["-100"], [], [])),
    ("reread", [], ([], [], [])),
])
def test_split_args_finds_the_name_arguments(verb, args, expected):
    assert names.split_args(verb, args) == expected


def test_plan_of_tail_keeps_modifier_and_channel():
    plan = names.plan("tail", ["-100", "jaws-cromwell", "stderr"], BOTH)

    assert plan == {"jtm": ["-100", "jaws-staging:jaws-cromwell", "stderr"]}


def test_plan_without_names_goes_everywhere_unchanged():
    assert names.plan("signal", ["HUP"], BOTH) == {"jaws": ["HUP"], "jtm": ["HUP"]}
    assert names.plan("start", [], BOTH) == {"jaws": [], "jtm": []}


def test_configured_pairs_include_groups_and_runner():
    site = {"instances": {"jaws": {"groups": {"g": ["a"]}, "programs": {"a": {}, "b": {}}}},
            "runner": {"supervised": True, "instance": "jaws"}}

    assert names.configured_pairs(site, "jaws") == [
        ("g", "a"), ("b", "b"), ("gitlab-runner", "gitlab-runner")]


def test_select_infos_reports_unknown_names_with_status_4():
    infos = [info("jaws-site-daemon")]

    errors, matching, code = mirror.select_infos(infos, ["bogus", "nogroup:*"])

    assert errors == ["bogus: ERROR (no such process)", "nogroup: ERROR (no such group)"]
    assert matching == [] and code == 4


def test_select_infos_gives_3_over_4_like_supervisorctl():
    infos = [info("jaws-site-daemon", state="STOPPED")]

    _, matching, code = mirror.select_infos(infos, ["bogus", "jaws-staging:*"])

    assert len(matching) == 1 and code == 3


def test_format_status_lines_widens_for_long_names():
    lines = mirror.format_status_lines([info("x" * 40)])

    assert lines[0].startswith("jaws-staging:" + "x" * 40 + "   RUNNING   pid 10")


def test_program_record_has_uptime_only_while_running():
    running = mirror.program_record("jaws", info("a"))
    stopped = mirror.program_record("jaws", info("a", state="EXITED"))

    assert running["uptime"] == 60 and stopped["uptime"] == 0
    assert set(running) == {"instance", "group", "name", "state", "pid", "uptime",
                            "exitstatus", "description"}


def test_prefixed_leaves_no_trailing_blanks_on_empty_lines():
    assert mirror.prefixed("jaws", 5, "") == "jaws\n"
    assert mirror.prefixed("jaws", 5, "x") == "jaws   x\n"


def test_top_processes_skip_children_of_marked_ones():
    marked = {10: ("a", 1), 11: ("a", 10), 20: ("b", 1)}

    assert orphans.top_processes(marked) == {10: "a", 20: "b"}


def test_program_options_fall_back_to_supervisord_defaults():
    site = {"instances": {"jaws": {"programs": {"a": {"stopsignal": "INT",
                                                      "stopwaitsecs": 3}}}}}

    assert orphans.program_options(site, "jaws", "a") == {
        "stopsignal": "INT", "stopwaitsecs": 3.0, "stopasgroup": False}
    assert orphans.program_options(site, "jaws", "gone")["stopsignal"] == "TERM"


def test_other_account_text_names_account_and_command(tmp_path):
    from bootstrap import instances

    site = {"instances": {"jtm": {"user": "jaws_jtm"}}}
    layout = Layout(tmp_path)

    text = instances.other_account_text(site, layout, "jtm")

    assert text.startswith("instance jtm runs as account jaws_jtm; as jaws_jtm, run: ")
    assert text.endswith(f"-I {tmp_path}/bin/jaws-bootstrap --install-dir {tmp_path} up jtm")


def test_installed_build_reads_the_launcher(tmp_path):
    layout = Layout(tmp_path)
    layout.bin.mkdir()
    layout.launcher("supervisord").write_text(
        f"import sys\nsys.path.insert(0, '{tmp_path}/lib/abc123/site-packages')\n")

    assert version.installed_build(layout) == "abc123"


def test_instance_line_flags_an_older_build():
    record = {"instance": "jaws", "pid": 5, "build_id": "old", "current": False,
              "older": True}

    line = version._instance_line(record, "new")

    assert "runs build old: an older build than the installed new" in line


def test_supervisord_pid_ignores_a_reused_pid(tmp_path):
    from bootstrap import instances

    layout = Layout(tmp_path)
    layout.run.mkdir()
    # This test's own process is alive but runs no supervisord config.
    layout.pidfile("jaws").write_text(f"{os.getpid()}\n")
    layout.socket("jaws").write_text("")

    assert instances.supervisord_pid(layout, "jaws") is None
    assert instances.clear_stale(layout, "jaws") is True
    assert not layout.pidfile("jaws").exists() and not layout.socket("jaws").exists()
