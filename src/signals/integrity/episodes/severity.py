"""The anomaly decision (docs/semantics.md): a window count against its signal type's threshold.

`count > threshold` is anomalous; `count >= 1.5 * threshold` is critical, else warning. The 1.5
is compared in integers (`2 * count >= 3 * threshold`) so no float rounding moves the boundary.
"""

from __future__ import annotations

from signals.labels import Severity


def severity_for(count: int, threshold: int) -> Severity | None:
    """The severity of a window holding `count` events, or None when it is not anomalous."""
    if count <= threshold:
        return None
    return "critical" if 2 * count >= 3 * threshold else "warning"
