"""Every test here keeps the app's QSettings (window layout, recent projects, review
options) in a folder of its own, so no test sees what another one chose."""

import pytest


@pytest.fixture(autouse=True)
def _own_settings(isolated_settings):
    return isolated_settings
