/* Metrics tab, client side: measure a panel's plot width so each query asks Prometheus for
   about one point per pixel (Grafana's max data points). */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    stackscope_metrics: {
        /* boxId is the panels container's id, passed by the callback so a renamed id cannot
           break the measuring. Resolves the width in pixels, or 0 when the box cannot be
           measured: the panels must still load, at config.metrics.max_data_points. */
        panelWidth: function (tab, _state, current, boxId) {
            const noUpdate = window.dash_clientside.no_update;
            if (tab !== "metrics") {
                return noUpdate;
            }
            // The tab's content is mounted after the tab switch; measure once it is laid out.
            return new Promise(function (resolve) {
                let tries = 0;
                (function measure() {
                    const box = document.getElementById(boxId);
                    if (!box || box.clientWidth === 0) {
                        tries += 1;
                        if (tries < 40) {
                            return setTimeout(measure, 50);
                        }
                        // A width measured before stays; else fall back so the panels build.
                        return resolve(current === null || current === undefined ? 0 : noUpdate);
                    }
                    // Two panels a row from Bootstrap's lg breakpoint; ~70 px of axis margins.
                    const columns = window.innerWidth >= 992 ? 2 : 1;
                    const plot = Math.max(100, box.clientWidth / columns - 24 - 70);
                    const width = Math.round(plot / 10) * 10;
                    resolve(width === current ? noUpdate : width);
                })();
            });
        }
    }
});
