"""Property-based fuzz of the site loader: whatever it is given, BootstrapError or a site.

Structured input (site-shaped dicts of every TOML type) and raw text (random and
mutated site files) must each end in a resolved site or one BootstrapError with
status 2; a resolved site must also survive dump_site and load back unchanged.
"""

import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootstrap import sitefile
from bootstrap.errors import BootstrapError
from bootstrap.sitecheck import PROGRAM_OPTIONS

SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
VALID_SITE = """deployment = "staging"
install_dir = "/tmp/jaws-supervisord-{deployment}"

[instances.jaws]
control_group = "root"
inet = "127.0.0.1:9001"

[instances.jaws.programs.jaws-site-daemon]
command = "/bin/sleep 100"
startsecs = 3
autorestart = "unexpected"
environment = { LC_ALL = "en_US.UTF-8" }

[instances.jtm.programs.jaws-cromwell]
command = ["/bin/sleep", "{user}"]
stopwaitsecs = 120

[runner]
command = "/opt/ci-runner/usr/bin/gitlab-runner"
config = "/opt/ci-runner/configuration/config.toml"
supervised = true
"""

names = st.one_of(
    st.sampled_from(["jaws", "jtm", "a", "site-daemon", "x.y", "A_b", "", "a:b", "a,b",
                     "with space", "ünï", "-dash", "{user}"]),
    st.text(max_size=8),
)
scalars = st.one_of(
    st.text(max_size=12), st.integers(min_value=-2 ** 63, max_value=2 ** 63 - 1),
    st.booleans(), st.floats(allow_nan=True), st.dates(),
    st.datetimes(timezones=st.none() | st.just(datetime.timezone.utc)),
    st.sampled_from(["", " ", "\n", "\0", "%", "127.0.0.1:9001", "0.0.0.0:1", "root",
                     "{deployment}", "{install_dir}", "unexpected", "0,2"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(names, inner, max_size=3)), max_leaves=8)
programs = st.dictionaries(names, st.one_of(
    st.dictionaries(st.sampled_from(sorted(PROGRAM_OPTIONS) + ["bogus", "comand"]),
                    values, max_size=5),
    values), max_size=3)
instance = st.one_of(
    st.fixed_dictionaries({}, optional={
        "user": st.one_of(st.just("root"), values), "control_group": st.one_of(
            st.just("root"), values),
        "inet": st.one_of(st.sampled_from(["127.0.0.1:9001", "[::1]:1", "10.1.2.3:80"]),
                          values),
        "allow_remote": st.one_of(st.booleans(), values),
        "programs": st.one_of(programs, values),
        "groups": st.one_of(st.dictionaries(names, st.lists(names, max_size=3)), values),
    }),
    values)
site_dicts = st.fixed_dictionaries({}, optional={
    "deployment": st.one_of(st.just("staging"), values),
    "install_dir": st.one_of(st.just("/tmp/jb-fuzz-{deployment}"), values),
    "instances": st.one_of(st.dictionaries(names, instance, max_size=3), values),
    "runner": st.one_of(st.fixed_dictionaries(
        {"command": st.one_of(st.just("/usr/bin/gitlab-runner"), values),
         "config": st.one_of(st.just("/etc/r.toml"), values)},
        optional={"instance": names, "supervised": values, "environment": values,
                  "stopwaitsecs": values, "working_directory": values}), values),
    "extra": values,
})

# Well-typed sites, so that many resolve and their dump is tested too.
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=10)
commands = st.one_of(
    st.builds(lambda a, b: f"/bin/{a} {b}", st.sampled_from(["sleep", "true"]), texts),
    st.lists(texts, min_size=1, max_size=3).map(lambda rest: ["/bin/sleep"] + rest))
plain_options = st.fixed_dictionaries({"command": commands}, optional={
    "startsecs": st.integers(0, 100), "autostart": st.booleans(),
    "autorestart": st.sampled_from([True, False, "unexpected", "TRUE"]),
    "environment": st.dictionaries(st.from_regex(r"\A[A-Z_][A-Z0-9_]{0,5}\Z"),
                                   st.one_of(texts, st.integers(0, 9)), max_size=2),
    "exitcodes": st.sampled_from([0, "0,2", [0, 1]]), "directory": texts,
    "stdout_logfile_maxbytes": st.sampled_from(["10MB", 1024]),
})
program_names = st.from_regex(r"\A[a-z0-9][a-z0-9_.-]{0,6}\Z")
plain_instances = st.fixed_dictionaries({}, optional={
    "user": st.just("root"), "control_group": st.sampled_from(["root", "daemon"]),
    "inet": st.sampled_from(["127.0.0.1:9001", "localhost:1", "[::1]:65535"]),
    "allow_remote": st.booleans(),
    "programs": st.dictionaries(program_names, plain_options, max_size=3),
})
plain_sites = st.fixed_dictionaries({
    "instances": st.dictionaries(st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,5}\Z"),
                                 plain_instances, min_size=1, max_size=2),
}, optional={
    "deployment": st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,8}\Z"),
    "install_dir": st.sampled_from(["/tmp/jb-{deployment}", "/tmp/a b/%x", "rel/dir"]),
})


def outcome(load):
    """Run load(); return the site, or None for a BootstrapError of status 2."""
    try:
        return load()
    except BootstrapError as exc:
        assert exc.status == 2, str(exc)
        assert str(exc) and "Traceback" not in str(exc)
        return None


def assert_round_trip(site):
    text = sitefile.dump_site(site)
    again = sitefile.resolve_site(sitefile.parse_toml(text, "dumped"), "dumped")
    assert again == site


@SETTINGS
@given(site_dicts)
def test_structured_sites_load_or_fail_cleanly(raw):
    site = outcome(lambda: sitefile.resolve_site(raw, "fuzz.toml"))

    if site is not None:
        assert_round_trip(site)


@SETTINGS
@given(plain_sites)
def test_well_typed_sites_load_or_fail_cleanly(raw):
    site = outcome(lambda: sitefile.resolve_site(raw, "fuzz.toml"))

    if site is not None:
        assert_round_trip(site)


@SETTINGS
@given(st.text(max_size=300))
def test_random_text_loads_or_fails_cleanly(text):
    site = outcome(lambda: sitefile.resolve_site(sitefile.parse_toml(text, "f"), "f"))

    if site is not None:
        assert_round_trip(site)


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, len(VALID_SITE)), st.integers(0, 6),
                          st.text(alphabet="\"'[]{}=,.:\n #\\0a1-_%", max_size=4)),
                max_size=4))
def test_mutated_site_loads_or_fails_cleanly(edits):
    text = VALID_SITE
    for at, cut, insert in edits:
        text = text[:at] + insert + text[at + cut:]

    site = outcome(lambda: sitefile.resolve_site(sitefile.parse_toml(text, "f"), "f"))

    if site is not None:
        assert_round_trip(site)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_in_a_file_load_or_fail_cleanly(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "site.toml"
    path.write_bytes(data)

    outcome(lambda: sitefile.load_site(str(path)))
