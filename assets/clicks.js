// Which of a redrawn list's buttons was really pressed, decided in the browser.
//
// Lists on the Status tab are redrawn every refresh, re-adding their buttons with n_clicks 0.
// Each redraw fires a server callback on the ALL-pattern of those buttons again, and the
// browser then drops a click's request still in flight as superseded: a click answered
// slower than one refresh was lost. A clientside callback runs at once, so the click is kept
// in a store outside the list, and the server callback listens to that store instead.
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    stackscope_clicks: {
        pressed: function () {
            const ctx = window.dash_clientside.callback_context;
            const hit = (ctx.triggered || []).find(function (t) { return t.value; });
            if (!hit) {
                return window.dash_clientside.no_update;
            }
            const id = JSON.parse(hit.prop_id.slice(0, hit.prop_id.lastIndexOf(".")));
            return Object.assign({}, id, {at: Date.now()});
        }
    }
});
