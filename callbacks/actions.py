"""Actions on the Status cards: ask, confirm, run the webhook, show its answer.

The server owns the rights and the catalogue: a run needs the "action" right and at least the
action's own ``role``, and only an action configured for that service runs, whatever the
browser sends. Every run that reaches this far is audited (``access.audit("action.run", …)``).

The webhook runs in a plain callback bounded by the action's ``timeout`` (at most
``config.ACTION_MAX_TIMEOUT``), not a background callback: those run in another process,
without the request, so neither the user's rights nor the audit's "who" would be known there.
"""

from __future__ import annotations

from dash import ALL, ClientsideFunction, Input, Output, State, ctx
from dash.exceptions import PreventUpdate

import access
from config import Action, Config
from datasources.actions import Busy, Runner, build_request, shown_url
from datasources.errors import DatasourceError
from layouts import actions as view
from layouts import ids
from query.limits import Rejected

EVENT = "action.run"


def rank(role: str) -> int:
    """A role's place in ``access.ROLES`` (least first); -1 for a role it does not know."""
    return access.ROLES.index(role) if role in access.ROLES else -1


def why_not(user: access.User, action: Action) -> str | None:
    """Why ``user`` may not run ``action``, or None when they may."""
    if not user.may("action") or rank(user.role) < rank(action.role):
        needed = action.role if rank(action.role) > rank("operator") else "operator"
        return f"needs the {needed} role ({user.name} is {user.role})"
    return None


def buttons_by_service(config: Config) -> dict:
    """service name -> its card's action buttons, for the user of this request."""
    user = access.current_user()
    services = {name for a in config.actions for name in a.services}
    return {name: view.buttons(name, [(a.name, why_not(user, a))
                                      for a in config.actions_for(name)])
            for name in services}


def authorize(config: Config, pending) -> tuple[Action, access.User]:
    """The action the browser asks for, if configured for that service and the user may run
    it; Rejected (400) or access.Forbidden (403) otherwise, both audited."""
    name, service = _names(pending)
    user = access.current_user()
    if not user.may("action"):
        access.audit(EVENT, "denied", action=name, service=service, status=None)
        access.require("action")  # raises Forbidden, in access's words
    action = config.action(name, service)
    if action is None:
        access.audit(EVENT, "refused", action=name, service=service, status=None)
        raise Rejected(f"no action {name[:100]!r} is configured for {service[:100]!r}")
    if why := why_not(user, action):
        access.audit(EVENT, "denied", action=name, service=service, status=None)
        raise access.Forbidden(f"{action.name} on {service}: {why}")
    return action, user


def _names(pending) -> tuple[str, str]:
    if not isinstance(pending, dict):
        raise Rejected("no action asked for")
    name, service = pending.get("action"), pending.get("service")
    if not isinstance(name, str) or not isinstance(service, str):
        raise Rejected("an action and a service must be named")
    return name, service


def run(config: Config, runner: Runner, pending):
    """Run the action asked for (rights checked, audited); what the dialog shows."""
    action, user = authorize(config, pending)
    service = next(s for s in config.services if s.name == pending["service"])
    fields = {"action": action.name, "service": service.name}
    try:
        answer = runner.run(action, service, user.name, user.role)
    except Busy as exc:
        access.audit(EVENT, "busy", **fields, status=None)
        return view.failed(exc.describe())
    except DatasourceError as exc:
        access.audit(EVENT, "error", **fields, status=None, message=exc.describe())
        return view.failed(exc.describe())
    access.audit(EVENT, "ok" if answer.ok else "failed", **fields, status=answer.status,
                 seconds=round(answer.seconds, 3))
    return view.result(answer.status, answer.reason, answer.body, answer.truncated,
                       answer.seconds, answer.ok)


def ask(config: Config, pending) -> tuple:
    """The dialog for the button clicked: (open, prompt, result cleared, Run disabled)."""
    try:
        name, service = _names(pending)
    except Rejected as exc:
        return True, view.refused(str(exc)), None, True
    user = access.current_user()
    action = config.action(name, service)
    if action is None:
        return True, view.refused(f"No action {name!r} is configured for {service!r}."), None, True
    if why := why_not(user, action):
        return True, view.refused(f"{action.name} on {service} {why}."), None, True
    target = next(s for s in config.services if s.name == service)
    req = build_request(action, target, user.name, user.role)
    call = f"{req.method} {shown_url(action, req.url)}"
    return (True, view.prompt(action.question(service), action.name, service, user.name,
                              user.role, call), None, False)


def register(app, deps, runner: Runner | None = None) -> None:
    """Wire the action buttons and the dialog."""
    runner = runner or Runner()
    app.clientside_callback(
        ClientsideFunction("stackscope_clicks", "pressed"),
        Output(ids.ACTION_PENDING, "data"),
        Input({"type": ids.ACTION_RUN, "action": ALL, "service": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction("stackscope_actions", "close"),
        Output(ids.ACTION_MODAL, "is_open", allow_duplicate=True),
        Input(ids.ACTION_CANCEL, "n_clicks"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(ids.ACTION_MODAL, "is_open"),
        Output(ids.ACTION_PROMPT, "children"),
        Output(ids.ACTION_RESULT, "children"),
        Output(ids.ACTION_CONFIRM, "disabled"),
        Input(ids.ACTION_PENDING, "data"),
        prevent_initial_call=True,
    )
    def open_dialog(pending):
        return ask(deps.config, pending)

    @app.callback(
        Output(ids.ACTION_RESULT, "children", allow_duplicate=True),
        Output(ids.ACTION_CONFIRM, "disabled", allow_duplicate=True),
        Input(ids.ACTION_CONFIRM, "n_clicks"),
        State(ids.ACTION_PENDING, "data"),
        # Run stays disabled while it runs: a second click would supersede this request in
        # the browser, which would then show "already running" instead of the answer.
        running=[(Output(ids.ACTION_CONFIRM, "disabled"), True, True),
                 (Output(ids.ACTION_CANCEL, "disabled"), True, False)],
        prevent_initial_call=True,
    )
    def confirm(clicks, pending):
        if not clicks or ctx.triggered_id != ids.ACTION_CONFIRM:
            raise PreventUpdate
        # Run is disabled once it answered: one confirmation, one run.
        return run(deps.config, runner, pending), True
