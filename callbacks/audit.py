"""The admins' audit log modal: refused on the server for anyone else."""

from __future__ import annotations

from dash import Input, Output

import access
from layouts import audit, ids

#: entries shown: the newest
SHOWN = 100

access.guard_output(ids.AUDIT_BODY, "audit")


def register(app) -> None:
    """Open the modal with the latest entries (admins only; 403 for anyone else)."""

    @app.callback(Output(ids.AUDIT_MODAL, "is_open"), Output(ids.AUDIT_BODY, "children"),
                  Input(ids.AUDIT_OPEN, "n_clicks"), prevent_initial_call=True)
    def show(_clicks):
        return True, audit.table(access.recent_audit(SHOWN))
