"""The short form of `make chaos`: each fault scenario on the real local stack, briefly.

Every scenario must keep the invariant (delivered + skipped + rejected + dead-lettered =
published, for every event collect answered 2xx to) and pass its own check.
"""

from __future__ import annotations

import pytest

from reliability import chaos

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("scenario", chaos.scenarios(), ids=lambda s: s.name.replace(" ", "-"))
def test_scenario_keeps_the_invariant(scenario, tmp_path):
    result = chaos.run_scenario(scenario, short=True, log_root=tmp_path)
    table = chaos.format_results([result])
    print("\n" + table)
    assert result.account.published > 0, table
    assert result.account.holds, f"{table}\nunaccounted: {result.account.unaccounted[:10]}"
    assert not result.failures, table
