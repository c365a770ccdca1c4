"""A test whose prerequisite (../shared, Chromium, PostgreSQL) is missing skips on a developer's machine and fails
under CI, where `make test` installs everything: a skip there would hide a missing install step."""

import pytest

from tests.conftest import require


def test_a_missing_prerequisite_skips_here_and_fails_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="chromium is missing under CI"):
        require(False, "chromium", "apt-get install chromium")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="chromium is missing"):
        require(False, "chromium", "apt-get install chromium")
    require(True, "chromium", "apt-get install chromium")  # present: nothing happens
