"""No product module imports, directly or through others, a module that imports it back.

An import inside a function is still a dependency: such imports hid cycles (delivery.queue →
delivery.tasks → delivery.queue) that made the layout hard to read in one pass (issue 26).
grimp, the graph engine of import-linter, reads every import statement of a module, inside
functions too. Left out: imports under `if TYPE_CHECKING:` (they never run; a type hint may name
a module above), migrations (frozen history) and the tests. A task named by a string
("delivery.tasks.send_messages", handed to django-q2) is not an import.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import grimp
import pytest

PRODUCT_PACKAGES = (
    "dashboard",
    "delivery",
    "events",
    "senders",
    "status_webhooks",
    "streams",
    "triggered_email",
)


def import_cycles(*packages: str) -> list[str]:
    """Each cycle among the packages' modules once, as "a -> b -> … -> a"."""
    graph = grimp.build_graph(*packages, exclude_type_checking_imports=True, cache_dir=None)
    for module in list(graph.modules):
        if "migrations" in module.split("."):
            graph.remove_module(module)
    cycles = set()
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back:
                cycle = (importer, *back[:-1])
                # The same cycle is found from each of its modules: start it at the least name.
                first = cycle.index(min(cycle))
                cycles.add(cycle[first:] + cycle[:first])
    return sorted(" -> ".join((*cycle, cycle[0])) for cycle in cycles)


def test_product_modules_import_each_other_in_one_direction():
    cycles = import_cycles(*PRODUCT_PACKAGES)
    assert not cycles, (
        "Import cycles between product modules (each imports the next, at module level or "
        "inside a function):\n  " + "\n  ".join(cycles)
    )


@pytest.fixture
def cyclic_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A package whose cycle hides in a function, and whose TYPE_CHECKING import is no cycle."""
    package = tmp_path / "cyclic_example"
    package.mkdir()
    files = {
        "__init__.py": "",
        "low.py": """
            from typing import TYPE_CHECKING

            if TYPE_CHECKING:
                from cyclic_example.top import Thing

            def run():
                from cyclic_example.high import step

                return step()
        """,
        "high.py": "from cyclic_example.low import run\n\ndef step():\n    return 1\n",
        "top.py": "from cyclic_example.low import run\n\nclass Thing:\n    pass\n",
    }
    for name, text in files.items():
        (package / name).write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "cyclic_example"
    for name in [m for m in sys.modules if m.startswith("cyclic_example")]:
        del sys.modules[name]


def test_a_cycle_through_an_import_inside_a_function_is_found(cyclic_package):
    assert import_cycles(cyclic_package) == [
        "cyclic_example.high -> cyclic_example.low -> cyclic_example.high"
    ]
