/* Status tab, client side: a card's "Show 24 h" toggle flips its name in the expanded store
   without a server round trip (the cards are redrawn every refresh, and each redraw brings
   the toggles back with n_clicks 0; only a real click changes the store). */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    stackscope_status: {
        toggleExpanded: function (_clicks, expanded) {
            const noUpdate = window.dash_clientside.no_update;
            const fired = (window.dash_clientside.callback_context.triggered || [])
                .filter(function (t) { return t.value; });
            if (fired.length !== 1) {
                return noUpdate;
            }
            const propId = fired[0].prop_id;
            const name = JSON.parse(propId.slice(0, propId.lastIndexOf("."))).name;
            const list = Array.isArray(expanded) ? expanded.slice() : [];
            const at = list.indexOf(name);
            if (at >= 0) {
                list.splice(at, 1);
            } else {
                list.push(name);
            }
            // The server shows at most callbacks.status.EXPANDED_MAX of them, whatever it gets.
            return list.slice(-8);
        }
    }
});
