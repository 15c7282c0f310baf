"""The accounts of a site: a missing account or group is refused, naming the site file."""

import pytest

from bootstrap import accounts, sitefile
from bootstrap.errors import BootstrapError


def test_missing_control_group_names_the_site_file(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text('[instances.jaws]\ncontrol_group = "jb-no-such-group"\n')
    site = sitefile.load_site(str(path))

    with pytest.raises(BootstrapError) as caught:
        accounts.check_accounts(site)

    assert caught.value.status == 2
    assert str(caught.value) == (f'{path}: instances.jaws.control_group: no group '
                                 '"jb-no-such-group" on this host')
