"""The closed vocabularies written once: sentiment labels and anomaly severities.

The order of `SENTIMENTS` is the classifier's precedence on a tie and the order in every table
and answer that lists all four; `SEVERITIES` runs from the mildest up.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

Sentiment = Literal["stressed", "uncertain", "positive", "neutral"]
SENTIMENTS: Final[tuple[Sentiment, ...]] = get_args(Sentiment)

Severity = Literal["warning", "critical"]
SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)
SEVERITY_RANK: Final[dict[str, int]] = {name: rank for rank, name in enumerate(SEVERITIES, 1)}
