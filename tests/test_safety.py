"""Install-directory safety and key files, in-process: modes, groups, refusals."""

import grp
import os
import pwd
import stat

import pytest

from bootstrap import keys, safety
from bootstrap.errors import BootstrapError
from bootstrap.paths import Layout


def own_site(install_dir):
    me = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    table = {"user": me, "control_group": group, "programs": {}, "groups": {}}
    return {"deployment": "t", "install_dir": str(install_dir), "runner": None,
            "instances": {"jaws": dict(table), "jtm": dict(table)}}


def mode_of(path):
    return stat.S_IMODE(os.lstat(str(path)).st_mode)


def test_prepare_creates_every_directory_with_its_mode(tmp_path):
    layout = Layout(tmp_path / "inst")

    safety.prepare_install_dir(own_site(layout.root), layout)

    assert mode_of(layout.root) == 0o755
    assert mode_of(layout.run) == mode_of(layout.logs) == 0o3770
    assert mode_of(layout.keys) == 0o751
    assert mode_of(layout.program_logs("jtm")) == 0o2770


def test_prepare_twice_changes_nothing(tmp_path):
    layout = Layout(tmp_path / "inst")
    safety.prepare_install_dir(own_site(layout.root), layout)
    before = {p: os.lstat(str(p)).st_mtime_ns for p in layout.root.rglob("*")}

    safety.prepare_install_dir(own_site(layout.root), layout)

    assert {p: os.lstat(str(p)).st_mtime_ns for p in layout.root.rglob("*")} == before


def test_make_dir_does_not_follow_a_symlink(tmp_path):
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(target)

    with pytest.raises(BootstrapError) as caught:
        safety.make_dir(tmp_path / "link", 0o3770)

    assert "is a symbolic link" in str(caught.value)
    assert mode_of(target) == 0o700


@pytest.mark.parametrize("mode, sticky_ok", [(0o777, False), (0o1777, True), (0o775, False)])
def test_parent_writable_by_others_needs_the_sticky_bit(tmp_path, mode, sticky_ok):
    parent = tmp_path / "parent"
    parent.mkdir()
    parent.chmod(mode)
    layout = Layout(parent / "inst")

    if sticky_ok:
        safety.check_install_dir(layout, own_site(layout.root))
    else:
        with pytest.raises(BootstrapError) as caught:
            safety.check_install_dir(layout, own_site(layout.root))
        assert f"its parent {parent} is writable by other accounts and not sticky" in str(
            caught.value)


def test_group_writable_file_of_other_group_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root: gives a file to another group")
    layout = Layout(tmp_path / "inst")
    site = own_site(layout.root)
    safety.prepare_install_dir(site, layout)
    planted = layout.bin / "planted"
    planted.write_text("x")
    os.chown(str(planted), -1, grp.getgrnam("nogroup").gr_gid)
    planted.chmod(0o664)

    with pytest.raises(BootstrapError) as caught:
        safety.check_install_dir(layout, site)

    assert f"{planted}: is writable by group nogroup, which is not a control group" in str(
        caught.value)


def test_key_file_is_0640_in_the_control_group_and_stable(tmp_path):
    layout = Layout(tmp_path / "inst")
    site = own_site(layout.root)
    safety.prepare_install_dir(site, layout)

    first = keys.ensure_key(layout, "jaws", site)
    again = keys.ensure_key(layout, "jaws", site)

    st = os.lstat(str(layout.key("jaws")))
    assert first == again and len(first) >= 43
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert st.st_gid == grp.getgrnam(site["instances"]["jaws"]["control_group"]).gr_gid


def test_key_file_stays_0600_when_its_group_is_missing(tmp_path, caplog):
    layout = Layout(tmp_path / "inst")
    site = own_site(layout.root)
    safety.prepare_install_dir(site, layout)
    site["instances"]["jtm"]["control_group"] = "no-such-group-here"

    keys.write_key(layout, "jtm", site)

    assert mode_of(layout.key("jtm")) == 0o600
    assert "no group no-such-group-here" in caplog.text
    assert keys.ensure_key(layout, "jtm", site) not in caplog.text


def test_keys_differ_per_instance_and_per_call():
    made = {keys.new_key() for _ in range(100)}

    assert len(made) == 100
