/* The range picker's time zone (Metrics): the browser only names zones; the server checks the
   names (query/timezone.py) and sends each chart's times so that this browser, which shows
   plotly's epoch milliseconds on its own clock, shows them on the chosen zone's clock. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    stackscope_time: {
        /* choice is the picker's select ("utc" or "browser"). Returns {zone, browser} for the
           charts, and the select's options with the browser's zone named. */
        zoneName: function (choice) {
            let browser = "";
            try {
                browser = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
            } catch (e) {
                browser = "";
            }
            const options = [
                {label: "UTC", value: "utc"},
                {label: browser ? "Browser: " + browser : "Browser time (unknown zone)",
                 value: "browser", disabled: !browser},
            ];
            const zone = choice === "browser" && browser ? browser : "UTC";
            return [{zone: zone, browser: browser || "UTC"}, options];
        }
    }
});
