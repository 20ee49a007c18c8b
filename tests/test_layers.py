"""The package's layers show in its imports: no module imports back into a module that imports it, counting the
imports inside functions, and the shared frame arithmetic is a leaf."""

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "qa_lab").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """module -> the qa_lab modules it imports anywhere in its file (top of file or inside a function)."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for t in targets:
                while t not in modules and "." in t:
                    t = t.rpartition(".")[0]
                if t.startswith("qa_lab") and t in modules and t != name:
                    deps.add(t)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_sees_a_circle_through_a_function_body_import():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_back_into_a_module_that_imports_it():
    found = cycles({m: {d for d in deps if not m.startswith(d + ".")} for m, deps in import_graph().items()})
    assert not found, f"import circles (imports inside functions count): {found}"


def test_the_frame_arithmetic_module_is_a_leaf():
    assert import_graph()["qa_lab.frames"] == set()


def test_core_model_does_not_import_the_data_pipeline_for_a_constant():
    deps = import_graph()["qa_lab.core.model"]
    assert "qa_lab.data.dataset" not in deps


# Package circles not yet taken apart (none today). A new circle fails; taking one apart means deleting its entry.
KNOWN_PACKAGE_CIRCLES: list[list[str]] = []


def test_no_new_circle_between_packages():
    package = lambda m: ".".join(m.split(".")[:2])  # noqa: E731
    graph: dict[str, set[str]] = {}
    for m, deps in import_graph().items():
        graph.setdefault(package(m), set()).update(package(d) for d in deps if package(d) != package(m))
    found = cycles(graph)
    assert sorted(found) == KNOWN_PACKAGE_CIRCLES, f"package circles: {found}"


def test_architecture_names_every_module():
    text = (SRC.parent / "ARCHITECTURE.md").read_text()
    named = set(re.findall(r"`([A-Za-z_][A-Za-z_0-9]*)(?:/|\.py)?`", text))  # `dataset`, `metrics/`, `cli.py`
    missing = [m for m in _modules() if m != "qa_lab" and m.rpartition(".")[2] not in named]
    assert not missing, f"ARCHITECTURE.md does not name: {missing}"


def test_train_depends_on_no_study_module():
    graph = import_graph()
    up = sorted(f"{m} -> {d}" for m, deps in graph.items() if m.startswith("qa_lab.train")
                for d in deps if d.startswith("qa_lab.study"))
    assert not up, f"train imports study (study drives train, not the other way): {up}"


def test_the_model_layer_reads_no_generated_world_and_config_no_model_code():
    graph = import_graph()
    core_world = sorted(f"{m} -> {d}" for m, deps in graph.items() if m.startswith("qa_lab.core")
                        for d in deps if d.startswith("qa_lab.world"))
    assert not core_world, f"core imports the generated world: {core_world}"
    config_model = sorted(f"{m} -> {d}" for m, deps in graph.items() if m.split(".")[:2] == ["qa_lab", "config"]
                          for d in deps if d.startswith(("qa_lab.core", "qa_lab.train")))
    assert not config_model, f"config imports model code: {config_model}"


def test_imports_sit_at_the_top_of_files_unless_they_say_why():
    """An import inside a function hides an edge of the dependency graph from the file's header (a qa_lab module) or
    a cost from the reader (a heavy library): allowed only with a reason on its lines, e.g. an optional dependency or
    a library the module would otherwise load for nothing. The command line (cli.py) is the exception its docstring
    states: each subcommand's handler imports its machinery when called, so `qa-lab tags show` does not load torch."""
    hidden = []
    for name, path in _modules().items():
        if name == "qa_lab.cli":
            continue
        lines = path.read_text().splitlines()
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                hidden += [f"{path.relative_to(SRC)}:{node.lineno}" for node in ast.walk(fn)
                           if isinstance(node, (ast.Import, ast.ImportFrom))
                           and not any("#" in line for line in lines[node.lineno - 1:node.end_lineno])]
    assert not sorted(set(hidden)), f"imports inside functions with no reason given: {sorted(set(hidden))}"
