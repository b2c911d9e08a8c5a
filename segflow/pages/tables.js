// Sortable and filterable tables: click a header to sort (numbers by their value), type in
// the box above a table to show only the rows that contain the text.
(function () {
  function key(td) {
    var v = td.getAttribute("data-sort");
    if (v === null) v = td.textContent.trim();
    var n = parseFloat(v.replace(/[₹$€£¥,%\s]/g, "").replace(/(crore|lakh|[KMB])$/, ""));
    if (td.classList.contains("num") && !isNaN(n)) {
      var t = td.textContent;
      if (td.getAttribute("data-sort") === null) {
        if (/crore/.test(t)) n *= 1e7; else if (/lakh/.test(t)) n *= 1e5;
        else if (/B$/.test(t)) n *= 1e9; else if (/M$/.test(t)) n *= 1e6; else if (/K$/.test(t)) n *= 1e3;
      }
      return n;
    }
    return v.toLowerCase();
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th, col) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("thead th").forEach(function (o) { o.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  document.querySelectorAll("input.filter").forEach(function (input) {
    var table = input.parentNode.querySelector("table");
    input.addEventListener("input", function () {
      var q = input.value.toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
        r.style.display = r.textContent.toLowerCase().indexOf(q) >= 0 ? "" : "none";
      });
    });
  });
})();
