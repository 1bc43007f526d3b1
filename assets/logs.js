/* Logs tab, client side: live tail keeps the reader's place.
   The grid's rows have stable ids (query/log_view.row_ids), so a refresh updates them in
   place; rows that arrive above would still push what the reader looks at down the screen.
   So the first visible row and its offset are remembered on every scroll, and after new
   row data that row is put back where it was — unless the reader was at the very top,
   where the new rows are what they want to see. */
(function () {
    const places = new WeakMap();  // grid api -> {id, offset, top}
    const funcs = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});

    function viewport() {
        const root = document.getElementById("logs-grid");
        return root && root.querySelector(".ag-body-viewport");
    }

    // The first row the reader sees (rendered rows include a buffer above the viewport).
    function firstVisible(api, top) {
        const last = api.getLastDisplayedRowIndex();
        for (let i = Math.max(api.getFirstDisplayedRowIndex(), 0); i <= last; i++) {
            const node = api.getDisplayedRowAtIndex(i);
            if (node && node.rowTop + node.rowHeight > top) {
                return node;
            }
        }
        return null;
    }
    funcs.stackscopeLogsFirstVisible = function (api) {
        const box = viewport();
        return firstVisible(api, box ? box.scrollTop : 0);
    };

    funcs.stackscopeLogsRememberPlace = function (params) {
        if (params.direction && params.direction !== "vertical") {
            return;
        }
        const api = params.api;
        const box = viewport();
        const top = box ? box.scrollTop : 0;
        const node = firstVisible(api, top);
        places.set(api, node ? {id: node.id, offset: node.rowTop - top, top: top} : null);
    };

    funcs.stackscopeLogsKeepPlace = function (params) {
        const api = params.api;
        const place = places.get(api);
        const box = viewport();
        if (!place || !box || place.top <= 0) {
            return;  // at the top (or never scrolled): new rows show
        }
        const node = api.getRowNode(place.id);
        if (!node || node.rowTop === null || node.rowTop === undefined) {
            box.scrollTop = 0;  // that row is gone (a new query): start from the top
            return;
        }
        box.scrollTop = node.rowTop - place.offset;
    };
})();
