"""The board page's shell: its style and its script (plain JavaScript, no server, no library).

The script does two things: sorts a table by the header clicked (by each cell's `data-value`),
and filters by model, memory and task (select boxes that hide overview rows, task rows and
task sections whose rows are all hidden).
"""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>KMBench leaderboard</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table.board { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
td { white-space: nowrap; }
td.text, th.text { text-align: left; }
th { cursor: pointer; background: #f3f3f3; user-select: none; }
th.asc::after { content: " ▲"; } th.desc::after { content: " ▼"; }
tr.unranked td { color: #777; font-style: italic; }
.filters { position: sticky; top: 0; background: #fff; padding: 0.6em 0; border-bottom: 1px solid #ddd; z-index: 1; }
.filters label { margin-right: 1.2em; }
.note { max-width: 70em; color: #444; font-size: 0.92em; }
section { margin-bottom: 2.5em; }
.plots img { max-width: 48%; margin-right: 1%; }
[hidden] { display: none !important; }
</style></head>
<body>
<h1>KMBench leaderboard</h1>
<p class="note">LoRA, RAG and ICL as knowledge memory: accuracy beside what it costs to write and to read.
Click a column header to sort; choose a model, memory or task to show only its rows.</p>
{{filters}}
{{sections}}
<script>
document.querySelectorAll("table.board").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var ascending = !th.classList.contains("asc");
      table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
      th.classList.add(ascending ? "asc" : "desc");
      var numeric = th.dataset.type === "number";
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].dataset.value, y = b.cells[column].dataset.value;
        var nx = x === "" ? -Infinity : parseFloat(x), ny = y === "" ? -Infinity : parseFloat(y);
        var order = numeric ? (nx > ny) - (nx < ny) : x.localeCompare(y);
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});

function applyFilters() {
  var chosen = {};
  document.querySelectorAll("select[data-filter]").forEach(function (s) { chosen[s.dataset.filter] = s.value; });
  document.querySelectorAll("tr[data-model]").forEach(function (row) {
    row.hidden = (chosen.model !== "" && row.dataset.model !== chosen.model) ||
                 (chosen.memory !== "" && row.dataset.memory !== chosen.memory);
  });
  document.querySelectorAll("section[data-task]").forEach(function (section) {
    var shown = section.querySelectorAll("tbody tr:not([hidden])").length > 0;
    section.hidden = (chosen.task !== "" && section.dataset.task !== chosen.task) || !shown;
  });
}
document.querySelectorAll("select[data-filter]").forEach(function (s) { s.addEventListener("change", applyFilters); });
applyFilters();
</script>
</body></html>
"""
