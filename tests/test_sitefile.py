"""The site file loader: every broken site in tests/broken_sites/ is one clear error."""

from pathlib import Path

import pytest

from bootstrap import sitefile
from bootstrap.errors import BootstrapError

BROKEN = Path(__file__).resolve().parent / "broken_sites"
CORPUS = sorted(BROKEN.glob("*.toml"))
BOM = b"\xef\xbb\xbf"


def expected_text(path):
    """Return what the error must say: the file's first line, after "# expect: "."""
    # The file about byte-order marks starts with one, before its expect line.
    first = path.read_bytes().split(b"\n", 1)[0].lstrip(BOM).decode("ascii")
    assert first.startswith("# expect: "), f"{path.name} names no expected message"
    return first[len("# expect: "):]


def test_corpus_holds_at_least_30_broken_sites():
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_broken_site_is_one_sentence_with_status_2(path):
    with pytest.raises(BootstrapError) as caught:
        sitefile.load_site(str(path))

    message = str(caught.value)
    assert caught.value.status == 2
    assert message.startswith(f"{path}")
    assert expected_text(path) in message
    assert "\n" not in message and "Traceback" not in message


def test_syntax_error_names_line_and_column(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text('[instances.jaws]\nuser = "jaws"\nstartsecs = = 3\n')

    with pytest.raises(BootstrapError) as caught:
        sitefile.load_site(str(path))

    assert str(caught.value).startswith(f"{path}, line 3, column 13: not valid TOML: ")


def test_unknown_key_far_from_any_lists_known_keys(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text("[instances.jaws]\nzzzzzz = 1\n")

    with pytest.raises(BootstrapError) as caught:
        sitefile.load_site(str(path))

    assert "instances.jaws.zzzzzz: unknown key; known keys: allow_remote" in str(caught.value)


def test_missing_site_file_is_status_2(tmp_path):
    with pytest.raises(BootstrapError) as caught:
        sitefile.load_site(str(tmp_path / "absent.toml"))

    assert caught.value.status == 2
    assert "cannot read the site file" in str(caught.value)


@pytest.mark.parametrize("inet", ["127.0.0.1:9001", "localhost:9001", "[::1]:9001",
                                  "127.1.2.3:1"])
def test_loopback_inet_is_accepted(inet):
    raw = {"instances": {"jaws": {"inet": inet}}}

    site = sitefile.resolve_site(raw, "site.toml")

    assert site["instances"]["jaws"]["inet"] == inet


def test_remote_inet_is_accepted_with_allow_remote():
    raw = {"instances": {"jaws": {"inet": "0.0.0.0:9001", "allow_remote": True}}}

    site = sitefile.resolve_site(raw, "site.toml")

    assert site["instances"]["jaws"]["allow_remote"] is True


def test_example_site_survives_dump_and_load():
    site = sitefile.load_site(example=True)

    again = sitefile.resolve_site(sitefile.parse_toml(sitefile.dump_site(site), "x"), "x")

    assert again == site


@pytest.mark.parametrize("jaws, jtm, allow_remote", [
    ("127.0.0.1:47111", "localhost:47111", False),
    ("127.0.0.1:47111", "127.0.0.1:47111", False),
    ("[::1]:47111", "127.0.0.1:47111", False),
    ("0.0.0.0:47111", "10.0.0.1:47111", True),
    ("myhost:47111", "10.0.0.2:47111", True),
])
def test_two_instances_on_one_port_are_refused(jaws, jtm, allow_remote):
    raw = {"instances": {"jaws": {"inet": jaws, "allow_remote": allow_remote},
                         "jtm": {"inet": jtm, "allow_remote": allow_remote}}}

    with pytest.raises(BootstrapError) as caught:
        sitefile.resolve_site(raw, "site.toml")

    assert caught.value.status == 2
    assert str(caught.value).startswith(
        "site.toml: instances.jaws.inet and instances.jtm.inet: both use port 47111")
    assert "specific non-loopback IP address" in str(caught.value)


def test_one_port_on_two_remote_addresses_is_accepted():
    raw = {"instances": {"jaws": {"inet": "10.0.0.1:9001", "allow_remote": True},
                         "jtm": {"inet": "10.0.0.2:9001", "allow_remote": True}}}

    site = sitefile.resolve_site(raw, "site.toml")

    assert site["instances"]["jtm"]["inet"] == "10.0.0.2:9001"


def test_deeply_nested_array_is_a_site_error(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")

    with pytest.raises(BootstrapError) as caught:
        sitefile.load_site(str(path))

    assert caught.value.status == 2
    assert str(caught.value).startswith(f"{path}: the site file nests arrays or tables")


@pytest.mark.parametrize("kind", ["directory", "character device"])
def test_site_file_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    path = str(tmp_path) if kind == "directory" else "/dev/null"

    with pytest.raises(BootstrapError) as caught:
        sitefile.load_site(path)

    assert caught.value.status == 2
    assert str(caught.value) == (f"{path}: the site file is a {kind}, not a regular file; "
                                 "give --config the path of a TOML file")


def narrow_locale(monkeypatch):
    """Make this Python look like 3.6 under the C locale: ASCII only."""
    import locale

    monkeypatch.setattr(locale, "getpreferredencoding", lambda *a: "ANSI_X3.4-1968")


def test_non_ascii_install_dir_under_ascii_locale_names_the_file(monkeypatch):
    raw = {"install_dir": "/tmp/jb-ü6", "instances": {"jaws": {}}}
    narrow_locale(monkeypatch)

    with pytest.raises(BootstrapError) as caught:
        sitefile.resolve_site(raw, "site.toml")

    assert caught.value.status == 2
    assert str(caught.value).startswith('site.toml: install_dir: "/tmp/jb-ü6" holds non-ASCII')
    assert "set LANG=C.UTF-8" in str(caught.value)


def test_non_ascii_install_dir_option_under_ascii_locale_is_refused(monkeypatch):
    narrow_locale(monkeypatch)

    with pytest.raises(BootstrapError) as caught:
        sitefile.resolve_site({"instances": {"jaws": {}}}, "site.toml",
                              install_dir="/tmp/jb-\udcc3\udcbc6")

    assert caught.value.status == 2
    assert str(caught.value).startswith('--install-dir: "/tmp/jb-ü6" holds non-ASCII')
    assert "set LANG=C.UTF-8" in str(caught.value)


def test_install_dir_option_that_is_not_utf8_is_refused():
    with pytest.raises(BootstrapError) as caught:
        sitefile.resolve_site({"instances": {"jaws": {}}}, "site.toml",
                              install_dir="/tmp/jb-\udcfc")

    assert caught.value.status == 2
    assert "--install-dir: " in str(caught.value) and "is not valid UTF-8" in str(caught.value)


def test_non_ascii_install_dir_under_utf8_locale_is_accepted():
    site = sitefile.resolve_site({"install_dir": "/tmp/jb-ü6", "instances": {"jaws": {}}},
                                 "site.toml")

    assert site["install_dir"] == "/tmp/jb-ü6"


def test_braces_that_are_no_near_miss_pass_as_written(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text('[instances.jaws.programs.p]\n'
                    'command = ["/bin/sh", "-c", "echo ${HOME} {print} {} {1}"]\n')

    site = sitefile.load_site(str(path))

    command = site["instances"]["jaws"]["programs"]["p"]["command"]
    assert command[2] == "echo ${HOME} {print} {} {1}"
