"""errors.worst(): how several instances' statuses combine."""

import pytest

from bootstrap.errors import worst


@pytest.mark.parametrize("statuses, expected", [
    ([], 0),
    ([0, 0], 0),
    ([0, 3], 3),
    ([3, 1], 1),
    ([1, 2], 2),
    ([3, 4], 4),
    ([2, 4], 4),
    ([130, 4], 130),
    ([7, 0], 7),
])
def test_worst_status_of_several_instances(statuses, expected):
    assert worst(statuses) == expected
