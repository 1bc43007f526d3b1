/* The range picker's time zone (Metrics): the browser only names its zone; the server checks
   the name (query/timezone.py) and moves the charts' times onto that zone's clock. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    stackscope_time: {
        /* choice is the picker's select ("utc" or "browser"). Returns the zone's IANA name
           for the charts, and the select's options with the browser's zone named. */
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
            return [choice === "browser" && browser ? browser : "UTC", options];
        }
    }
});
