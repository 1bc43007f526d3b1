// Actions on the Status cards: which button was clicked, and closing the dialog, without a
// round trip (the cards are redrawn every few seconds, re-adding their buttons unclicked).
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    stackscope_actions: {
        pending: function () {
            const ctx = window.dash_clientside.callback_context;
            const hit = (ctx.triggered || []).find(function (t) { return t.value; });
            if (!hit) {
                return window.dash_clientside.no_update;
            }
            const id = JSON.parse(hit.prop_id.slice(0, hit.prop_id.lastIndexOf(".")));
            return {action: id.action, service: id.service, at: Date.now()};
        },
        close: function (clicks) {
            return clicks ? false : window.dash_clientside.no_update;
        }
    }
});
