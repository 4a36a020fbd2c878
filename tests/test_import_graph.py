"""No module of lback_mw imports itself through others: the layering in
pyproject.toml's import-linter contracts, and beyond it, no cycle anywhere.

Imports under ``TYPE_CHECKING`` and inside functions count: a cycle that only a
type checker or a late call walks is still one a reader has to untangle.
"""

from __future__ import annotations

import grimp


def test_no_import_cycle() -> None:
    graph = grimp.build_graph("lback_mw")
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                cycles.append(" -> ".join((importer, *back)))
    assert cycles == []
