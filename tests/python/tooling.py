"""needs_tools: a test that runs an external tool is skipped where the tool is missing on
a developer's machine, but never in CI (CI=true, as .ci/run sets it): there
tests/setup-tools.sh has installed every tool, and a missing one must fail the test
rather than hide it."""

from __future__ import annotations

import os
import shutil

import pytest


def needs_tools(*names: str) -> pytest.MarkDecorator:
    """Skip unless every tool in `names` is on PATH; in CI, never skip."""
    missing = [n for n in names if shutil.which(n) is None]
    return pytest.mark.skipif(bool(missing) and os.environ.get("CI") != "true",
                              reason=f"{', '.join(missing)} not installed (tests/setup-tools.sh test installs it)")
