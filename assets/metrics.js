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

/* Shared crosshair: hovering one Metrics chart shows the same time on every other chart.
   Plotly.Fx.hover with noHoverEvent=true draws the others' hover labels without emitting
   plotly_hover (so it cannot loop) and without changing any figure or relayoutData (so no
   request reaches the server). Charts are found as they mount (a MutationObserver). */
(function () {
    let syncing = false;
    let pending = null;

    function others(source) {
        return Array.from(document.querySelectorAll(".metrics-tab .js-plotly-plot"))
            .filter((gd) => gd !== source && gd.offsetParent !== null && gd._fullLayout
                    && gd._fullLayout.xaxis && gd.data && gd.data.length);
    }

    function follow(source, xval) {
        if (syncing || !window.Plotly || !window.Plotly.Fx) {
            return;
        }
        syncing = true;
        try {
            others(source).forEach(function (gd) {
                if (xval === null) {
                    window.Plotly.Fx.unhover(gd);
                } else {
                    window.Plotly.Fx.hover(gd, {xval: xval}, "xy", true);
                }
            });
        } catch (e) {
            // a chart being redrawn: its labels come back on the next move
        } finally {
            syncing = false;
        }
    }

    function schedule(source, xval) {
        if (pending !== null) {
            cancelAnimationFrame(pending);
        }
        pending = requestAnimationFrame(function () {
            pending = null;
            follow(source, xval);
        });
    }

    function attach(gd) {
        if (gd._stackscopeCrosshair || typeof gd.on !== "function") {
            return;
        }
        gd._stackscopeCrosshair = true;
        gd.on("plotly_hover", function (ev) {
            if (syncing || !ev || !ev.points || !ev.points.length) {
                return;
            }
            // xvals are data values (date text on a date axis); Fx.hover wants epoch ms
            const pt = ev.points[0];
            const axis = (ev.xaxes && ev.xaxes[0]) || pt.xaxis;
            const xval = axis.d2c(ev.xvals && ev.xvals.length ? ev.xvals[0] : pt.x);
            schedule(gd, xval);
        });
        gd.on("plotly_unhover", function () {
            if (!syncing) {
                schedule(gd, null);
            }
        });
    }

    function scan() {
        document.querySelectorAll(".metrics-tab .js-plotly-plot").forEach(attach);
    }

    let queued = false;
    function start() {
        new MutationObserver(function () {
            if (!queued) {
                queued = true;
                setTimeout(function () { queued = false; scan(); }, 200);
            }
        }).observe(document.body, {childList: true, subtree: true});
        scan();
    }
    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", start);
    } else {
        start();
    }
})();
