"""The architecture, held: the layers of service/ packages and the owner of every table (ARCHITECTURE.md).

Read from the source with `ast`, nothing imported or executed:
- the import graph of service/ packages (a module at service/ top level is a node of its own, and
  so are the few modules in NODES) has no cycle, and every package imports only packages of lower
  layers (not its own layer: sideways; not a higher one: upward);
- every table the migrations create has one owner (a module, or for a few a package) and SQL
  naming it (`FROM`, `JOIN`, `INTO`, `UPDATE`, `DELETE FROM` followed by the table, in a string
  literal) appears only there (FOREIGN_SQL, the exceptions, is empty and may not grow).
The last tests run the same checks over a small fake tree to show that they fail when they should.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Lowest first. A package imports only packages of lower layers: neither a higher layer nor its own
# (a sideways import), so no cycle can form and each layer's packages stand apart.
LAYERS: list[tuple[str, set[str]]] = [
    ("settings and messages", {"config", "i18n"}),
    ("errors and database", {"errors", "db"}),
    ("tenancy, rubrics, job queue", {"tenancy", "rubrics", "jobqueue"}),
    ("identity, items, webhooks, IRT", {"auth", "items", "webhooks", "psychometrics"}),
    ("service clients, scoring, xAPI", {"clients", "scoring", "xapi"}),
    ("assessments", {"assessments"}),
    ("sittings", {"sittings"}),
    ("results", {"results"}),
    ("aggregates", {"aggregates"}),
    ("score pipeline", {"pipeline"}),
    ("delivery", {"delivery"}),
    ("jobs", {"jobs"}),
    ("sample data", {"samples"}),
    ("demo", {"demo"}),
    ("HTTP API", {"api"}),
    ("web console", {"console"}),
    ("composition root", {"app"}),
    ("command line", {"cli"}),
]

# Modules that are nodes of their own rather than part of their package's node.
NODES = {
    "service.api.app": "app",  # the composition root: builds the app from the API and the console
    "service.api.openapi_doc": "app",  # renders the composed app's OpenAPI document
    "service.items.samples": "samples",  # sample banks and assessments (the demo's and the tests' data)
}

# Each table's owner: the one module (or package, a path ending in "/") whose SQL names it.
OWNERS = {
    "tenants": "service/tenancy/tenants.py",
    "trusted_issuers": "service/tenancy/issuers.py",
    "org_units": "service/tenancy/org_units.py",
    "people": "service/tenancy/people.py",
    "service_clients": "service/clients/clients.py",
    "auth_rate_buckets": "service/auth/limits.py",
    "console_sessions": "service/console/sessions.py",
    "frameworks": "service/rubrics/frameworks.py",
    "framework_versions": "service/rubrics/frameworks.py",
    "items": "service/items/bank.py",
    "item_versions": "service/items/bank.py",
    "assessments": "service/assessments/assessments.py",
    "accommodations": "service/assessments/assessments.py",
    "attempts": "service/sittings/attempts.py",
    "responses": "service/sittings/attempts.py",
    "scores": "service/results/scores.py",
    "rescorings": "service/results/rescoring.py",
    "rescoring_batches": "service/results/rescoring.py",
    "ratings": "service/results/ratings.py",
    "rating_tasks": "service/results/ratings.py",
    "rating_corrections": "service/results/ratings.py",
    "rating_allocations": "service/results/rating_allocations.py",
    "statistics_runs": "service/results/item_stats.py",
    "score_exports": "service/results/exports.py",
    "score_export_chunks": "service/results/exports.py",
    "results": "service/results/counted.py",  # read by the feed, a layer below aggregates (its docstring)
    "rollups": "service/aggregates/rollups.py",
    "aggregate_jobs": "service/aggregates/rebuild.py",
    "effect_pairs": "service/aggregates/paired.py",  # the training effect's pairs kept ahead (0026)
    "effect_rollups": "service/aggregates/paired.py",
    "jobs": "service/jobqueue/queue.py",
    "webhook_endpoints": "service/webhooks/",  # endpoints manage them, the outbox and dispatcher read them
    "webhook_events": "service/webhooks/",
    "webhook_deliveries": "service/webhooks/",
    "lrs_endpoints": "service/xapi/",  # the settings own them, the outbox and dispatcher read them
    "lrs_statements": "service/xapi/",
    "item_images": "service/items/images.py",
    "calibrations": "service/results/calibrations.py",
    "credential_issuers": "service/results/credential_setup.py",
    "credential_settings": "service/results/credential_setup.py",
    "credentials": "service/results/credentials.py",
    "audience_tallies": "service/delivery/participation.py",  # written by triggers (migration 0019)
    "participation_tallies": "service/delivery/participation.py",
    "audience_subtree_tallies": "service/delivery/participation.py",  # per subtree (migration 0029)
    "participation_subtree_tallies": "service/delivery/participation.py",
}

# SQL on a table outside its owner, not yet moved to the owner (an owner function): none since
# 2026-12-07 (ARCHITECTURE.md). Do not add to it: move the SQL to the table's owner instead (running
# this file prints what the scan finds).
FOREIGN_SQL: set[tuple[str, str]] = set()

_SQL_TABLE = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE|DELETE\s+FROM)\s+([a-z_][a-z0-9_]*)\b")
_CREATED = re.compile(
    r"CREATE\s+(?:UNLOGGED\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([a-z_][a-z0-9_]*)", re.IGNORECASE
)


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _node(module: str, nodes: dict[str, str]) -> str | None:
    """The graph node of a module under `service.` (None for anything else)."""
    parts = module.split(".")
    if parts[0] != "service" or len(parts) < 2:
        return None
    for prefix, node in nodes.items():
        if module == prefix or module.startswith(prefix + "."):
            return node
    return parts[1]


def _imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every module an import statement anywhere in the file names (in functions too)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")
                package = package if is_package else package[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # `from service import pipeline`
    return found


@functools.cache
def _parse(source: str) -> ast.Module:
    """A source's syntax tree, parsed once per process: several tests walk every file of service/
    (read-only)."""
    return ast.parse(source)


def import_graph(root: Path, nodes: dict[str, str] = NODES) -> dict[str, dict[str, set[str]]]:
    """node -> imported node -> the files that import it."""
    graph: dict[str, dict[str, set[str]]] = {}
    for path in sorted((root / "service").rglob("*.py")):
        module = _module_name(path, root)
        source = _node(module, nodes)
        if source is None:  # service/__init__.py: the version string
            continue
        graph.setdefault(source, {})
        tree = _parse(path.read_text(encoding="utf-8"))
        for name in _imported(tree, module, path.name == "__init__.py"):
            target = _node(name, nodes)
            if target is not None and target != source and _exists(root, name, target, nodes):
                graph[source].setdefault(target, set()).add(str(path.relative_to(root)))
    return graph


def _exists(root: Path, name: str, target: str, nodes: dict[str, str]) -> bool:
    """`from service.x import y` names service.x.y, which may be a class rather than a module: count
    the import once, by the longest prefix that is a module."""
    path = root.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists() or name in nodes


def cycles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer_violations(graph: dict[str, dict[str, set[str]]], layers: list[tuple[str, set[str]]]) -> list[str]:
    """Imports of a package of the same layer (sideways) or of a higher one (upward)."""
    rank = {node: i for i, (_, members) in enumerate(layers) for node in members}
    problems = []
    for source, targets in sorted(graph.items()):
        for target, files in sorted(targets.items()):
            if rank[target] >= rank[source]:
                way = "sideways" if rank[target] == rank[source] else "upward"
                problems.append(
                    f"{source} ({layers[rank[source]][0]}) imports {target} ({layers[rank[target]][0]}) "
                    f"{way}: {', '.join(sorted(files))}"
                )
    return problems


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def foreign_sql(root: Path, owners: dict[str, str]) -> set[tuple[str, str]]:
    """(file, table) for each file whose string literals name a table it does not own."""
    found = set()
    for path in sorted((root / "service").rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        tree = _parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
                for table in _SQL_TABLE.findall(node.value):
                    owner = owners.get(table)
                    if owner is not None and not (relative == owner or relative.startswith(owner)):
                        found.add((relative, table))
    return found


def created_tables(root: Path) -> set[str]:
    tables = set()
    for path in (root / "migrations" / "versions").glob("*.py"):
        tables |= {name.lower() for name in _CREATED.findall(path.read_text(encoding="utf-8"))}
    return tables


# --- the service -------------------------------------------------------------------------------


def test_every_package_has_a_layer():
    placed = set().union(*(members for _, members in LAYERS))
    assert sum(len(members) for _, members in LAYERS) == len(placed), "a node is in two layers"
    assert set(import_graph(ROOT)) - placed == set(), "place new packages in LAYERS and ARCHITECTURE.md"


def test_no_package_cycle():
    assert cycles(import_graph(ROOT)) == []


def test_every_package_imports_only_lower_layers():
    assert layer_violations(import_graph(ROOT), LAYERS) == []


def test_the_layers_are_the_ones_written_down():
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for name, members in LAYERS:
        line = next((line for line in text.splitlines() if line.startswith(f"| {name} |")), None)
        assert line is not None, f"ARCHITECTURE.md has no row for the layer {name!r}"
        assert set(re.findall(r"`([a-z0-9_]+)`", line.split("|")[2])) == members, line


def test_every_table_has_an_owner_that_exists():
    assert created_tables(ROOT) - set(OWNERS) == set()
    for table, owner in OWNERS.items():
        assert (ROOT / owner).exists(), (table, owner)


def test_sql_names_a_table_only_in_its_owner():
    found = foreign_sql(ROOT, OWNERS)
    assert found - FOREIGN_SQL == set(), "move this SQL to the table's owner (OWNERS)"
    assert FOREIGN_SQL - found == set(), "no longer needed: remove from FOREIGN_SQL"


# --- the checks themselves, on a fake tree -------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in {"service/__init__.py": "", **files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


FAKE_LAYERS = [("base", {"tenancy"}), ("domain", {"webhooks", "results"}), ("top", {"pipeline"})]
FAKE_OWNERS = {"people": "service/tenancy/people.py"}
CLEAN = {
    "service/tenancy/__init__.py": "",
    "service/tenancy/people.py": 'async def find(conn):\n    return await conn.fetch("SELECT id FROM people")\n',
    "service/webhooks/__init__.py": "",
    "service/webhooks/outbox.py": "from service.tenancy.people import find\n",
    "service/results/__init__.py": "",
    "service/results/scores.py": "from service.tenancy import people\n",
    "service/pipeline.py": "from service.results import scores\nfrom service.webhooks import outbox\n",
}


def test_a_clean_fake_tree_passes(tmp_path: Path):
    root = _tree(tmp_path, CLEAN)
    graph = import_graph(root, {})
    assert graph["pipeline"].keys() == {"results", "webhooks"} and graph["webhooks"].keys() == {"tenancy"}
    assert cycles(graph) == [] and layer_violations(graph, FAKE_LAYERS) == []
    assert foreign_sql(root, FAKE_OWNERS) == set()


def test_a_sideways_import_fails(tmp_path: Path):
    sideways = {
        "service/results/scores.py": "from service.tenancy import people\nfrom service.webhooks import outbox\n"
    }
    graph = import_graph(_tree(tmp_path, CLEAN | sideways), {})
    assert layer_violations(graph, FAKE_LAYERS) == [
        "results (domain) imports webhooks (domain) sideways: service/results/scores.py"
    ]


def test_an_import_back_makes_a_cycle(tmp_path: Path):
    back = {"service/webhooks/feed.py": "from service.results.scores import people\n"}
    graph = import_graph(
        _tree(
            tmp_path, CLEAN | back | {"service/results/scores.py": "from service.webhooks import outbox\n"}
        ),
        {},
    )
    assert cycles(graph) == [["results", "webhooks"]]


def test_an_import_of_a_higher_layer_fails(tmp_path: Path):
    up = {"service/tenancy/moves.py": "async def move(conn):\n    from service import pipeline\n"}
    graph = import_graph(_tree(tmp_path, CLEAN | up), {})
    assert layer_violations(graph, FAKE_LAYERS) == [
        "tenancy (base) imports pipeline (top) upward: service/tenancy/moves.py"
    ]


def test_relative_imports_count(tmp_path: Path):
    up = {"service/tenancy/moves.py": "from ..pipeline import store\n"}
    graph = import_graph(_tree(tmp_path, CLEAN | up), {})
    assert "pipeline" in graph["tenancy"]


def test_a_foreign_tables_sql_fails_and_prose_does_not(tmp_path: Path):
    foreign = {
        "service/webhooks/outbox.py": '"""Reads from people, in prose."""\n'
        'SQL = f"SELECT p.external_id FROM scores s JOIN people p ON p.id = s.person_id WHERE {1}"\n'
    }
    assert foreign_sql(_tree(tmp_path, CLEAN | foreign), FAKE_OWNERS) == {
        ("service/webhooks/outbox.py", "people")
    }


if __name__ == "__main__":  # `./dev python tests/test_architecture.py`: the foreign SQL as it stands now
    for module, table in sorted(foreign_sql(ROOT, OWNERS)):
        print(f'    ("{module}", "{table}"),')
