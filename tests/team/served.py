"""One served project per database for a whole test module (a server start costs seconds on a busy machine).

Use as a module-scoped fixture parametrized over both databases::

    @pytest.fixture(scope="module", params=DATABASES)
    def served(request, tmp_path_factory, philips_template):
        yield from served_project(request, tmp_path_factory, philips_template, n_cases=3)
"""

from __future__ import annotations

from collections.abc import Iterator

from team_helpers import Server, make_project

DATABASES = ["sqlite", "postgresql"]


def served_project(request, tmp_path_factory, template, n_cases: int, volume_workers: int = 1,
                   **settings) -> Iterator[tuple]:
    """A project on ``request.param``'s database with ``n_cases`` copies of ``template``, and its running server."""
    url = None if request.param == "sqlite" else request.getfixturevalue("pg_cluster").create_database()
    svc = make_project(tmp_path_factory.mktemp("served") / "p", url, template, n_cases=n_cases, **settings)
    server = Server(svc.root, ("--volume-workers", str(volume_workers))).start()
    try:
        yield svc, server
    finally:
        server.stop()
