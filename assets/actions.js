// Actions on the Status cards: closing the dialog without a round trip (which button was
// clicked is stackscope_clicks.pressed, in clicks.js).
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    stackscope_actions: {
        close: function (clicks) {
            return clicks ? false : window.dash_clientside.no_update;
        }
    }
});
