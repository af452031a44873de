"""One shipped-lexicon classifier for the whole directory: building one compiles the lexicon."""

from __future__ import annotations

import pytest

from signals.sentiment import Classifier


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    return Classifier()
