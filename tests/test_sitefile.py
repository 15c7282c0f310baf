"""The site file loader: every broken site in tests/broken_sites/ is one clear error."""

from pathlib import Path

import pytest

from bootstrap import sitefile
from bootstrap.errors import BootstrapError

BROKEN = Path(__file__).resolve().parent / "broken_sites"
CORPUS = sorted(BROKEN.glob("*.toml"))


def expected_text(path):
    """Return what the error must say: the file's first line, after "# expect: "."""
    first = path.read_bytes().split(b"\n", 1)[0].decode("ascii")
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
