"""The alert list: alerts from every source in one frame, the active ones first."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

ACTIVE = ("firing", "pending")


def active(sources: Sequence[tuple[str, pd.DataFrame | None]]) -> pd.DataFrame | None:
    """Firing and pending alerts of every source that answered (a ``source`` column added),
    firing first, oldest first; None when no source answered."""
    frames = [frame.assign(source=name) for name, frame in sources if frame is not None]
    if not frames:
        return None
    frame = pd.concat(frames, ignore_index=True)
    frame = frame[frame["state"].isin(ACTIVE)]
    return frame.sort_values(["state", "active_at"], ascending=[True, True], kind="stable")


def counts(frame: pd.DataFrame) -> tuple[int, int]:
    """(firing, pending) in an alert frame."""
    return int((frame["state"] == "firing").sum()), int((frame["state"] == "pending").sum())
