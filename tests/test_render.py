"""Rendered values read back by supervisor's own parser exactly as the site file had them."""

import shlex

import pytest

from bootstrap import render, sitefile
from bootstrap.errors import BootstrapError
from bootstrap.paths import Layout

AWKWARD = [
    "100% done",
    "%(program_name)s",
    "it's",
    'say "hi" now',
    "$HOME and ${PATH}",
    "naïve café ünïcode ✓",
    "a #not-a-comment",
    "a ;not-a-comment",
    "tab\tseparated",
    "",
    "back\\slash",
    "--opt=a,b",
]


def parse_back(tmp_path, programs):
    """Render a one-instance site with programs; return supervisor's process configs."""
    options, _ = parse_site(tmp_path, tmp_path / "inst", programs)
    return {p.name: p for g in options.process_group_configs for p in g.process_configs}


def test_list_command_reaches_argv_unchanged(tmp_path):
    command = ["/bin/echo"] + AWKWARD

    configs = parse_back(tmp_path, {"p": {"command": command}})

    assert shlex.split(configs["p"].command) == command


@pytest.mark.parametrize("text", [
    "/bin/echo '100% done' \"it's\" $HOME",
    "/bin/echo 'a #b' c",
    "/bin/echo x ;y",
    "/bin/echo naïve",
])
def test_string_command_splits_as_written(tmp_path, text):
    configs = parse_back(tmp_path, {"p": {"command": text}})

    assert shlex.split(configs["p"].command) == shlex.split(text)


@pytest.mark.parametrize("value", [v for v in AWKWARD if "#" not in v and ";" not in v
                                   and not ("'" in v and '"' in v)])
def test_environment_value_reaches_program_unchanged(tmp_path, value):
    configs = parse_back(tmp_path, {"p": {"command": "/bin/true",
                                          "environment": {"V": value, "W": "x"}}})

    assert configs["p"].environment == {"V": value, "W": "x"}


@pytest.mark.parametrize("value, words", [
    ("a #b", "cut this value"),
    ("a ;b", "cut this value"),
    ("'quoted'", "start or end with a quote"),
    ("it's \"both\" here", "both ' and"),
    ("line\nbreak", "line break"),
])
def test_environment_value_supervisord_cannot_read_is_refused(tmp_path, value, words):
    with pytest.raises(BootstrapError) as info:
        parse_back(tmp_path, {"p": {"command": "/bin/true", "environment": {"V": value}}})

    assert info.value.status == 2
    assert words in str(info.value) and "p" in str(info.value)


def test_unbalanced_quote_in_command_is_refused(tmp_path):
    with pytest.raises(BootstrapError) as info:
        parse_back(tmp_path, {"p": {"command": "/bin/echo 'open"}})

    assert info.value.status == 2
    assert "cannot split this command" in str(info.value)


def test_here_placeholder_is_refused(tmp_path):
    with pytest.raises(BootstrapError) as info:
        parse_back(tmp_path, {"p": {"command": ["/bin/echo", "%(here)s"]}})

    assert "%(here)s" in str(info.value)


@pytest.mark.parametrize("word", ["plain", "", "a b", "it's", "#x", "a #b", "x;y", "ü"])
def test_quote_word_round_trips_through_shlex(word):
    quoted = render.quote_word(word)

    assert shlex.split(quoted) == [word]
    assert not render.INLINE_COMMENT.search(quoted)


def parse_site(tmp_path, install_dir, programs):
    """Render a one-instance site in install_dir; return supervisor's parsed options."""
    from supervisor.options import ServerOptions

    raw = {"deployment": "t", "install_dir": str(install_dir),
           "instances": {"jaws": {"programs": programs}}}
    site = sitefile.resolve_site(raw, "test.toml")
    layout = Layout(site["install_dir"])
    for directory in (layout.root, layout.run, layout.program_logs("jaws")):
        directory.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "supervisord-jaws.conf"
    path.write_text(render.render_instance(site, "jaws", layout, "k" * 20), encoding="utf-8")
    options = ServerOptions()
    options.configfile = str(path)
    options.process_config(do_usage=False)
    return options, layout


def test_percent_in_install_dir_reaches_every_path(tmp_path):
    root = tmp_path / "p%d%%(x)s"

    options, layout = parse_site(tmp_path, root, {"p": {"command": "/bin/true"}})

    program = options.process_group_configs[0].process_configs[0]
    assert program.stdout_logfile == str(layout.program_logs("jaws") / "p.log")
    assert program.stderr_logfile == str(layout.program_logs("jaws") / "p.err.log")
    assert program.directory == str(root)
    assert options.logfile == str(layout.logfile("jaws"))
    assert options.pidfile == str(layout.pidfile("jaws"))
    assert options.childlogdir == str(layout.program_logs("jaws"))
    assert options.directory == str(root)
    servers = options.configroot.supervisord.server_configs
    assert servers[0]["file"] == str(layout.socket("jaws"))


def test_percent_in_a_log_file_option_arrives_as_written(tmp_path):
    logfile = str(tmp_path / "100% %(program_name)s.log")

    options, _ = parse_site(tmp_path, tmp_path / "inst",
                            {"p": {"command": "/bin/true", "stdout_logfile": logfile}})

    assert options.process_group_configs[0].process_configs[0].stdout_logfile == logfile


def test_render_error_names_the_site_file(tmp_path):
    site = sitefile.resolve_site({"install_dir": str(tmp_path / "inst"), "instances": {
        "jaws": {"programs": {"p": {"command": "/bin/true",
                                    "environment": {"X": "{install_dir}"}}}}}}, "test.toml")
    site["instances"]["jaws"]["programs"]["p"]["environment"]["X"] = "'quoted'"

    with pytest.raises(BootstrapError) as info:
        render.render_instance(site, "jaws", Layout(site["install_dir"]), "k" * 20)

    assert str(info.value).startswith("test.toml: instances.jaws.programs.p.environment.X: ")
