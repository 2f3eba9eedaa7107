"""Shared test fixtures.

The autouse `no_leaked_tasks` fixture fails any async test that leaves asyncio tasks running:
a leaked task is a component whose `aclose()` forgot to cancel and await something.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

# SQLite + PostgreSQL fixtures (`open_db`, `db`) shared by every SQL test; Chromium fixtures
# (`chromium`, `page_rules`, `new_page`) shared by the browser tests.
pytest_plugins = ["tests.databases", "tests.browser"]


@pytest.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    before = set(asyncio.all_tasks())
    yield
    current = asyncio.current_task()
    # Give tasks that were cancelled in teardown one loop turn to finish unwinding.
    await asyncio.sleep(0)
    leaked = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
    if leaked:
        for t in leaked:
            t.cancel()
        await asyncio.gather(*leaked, return_exceptions=True)
        names = ", ".join(sorted(t.get_name() + ":" + repr(t.get_coro()) for t in leaked))
        pytest.fail(f"test leaked {len(leaked)} asyncio task(s): {names}")


# --- real assets: the verified FaceNet weights and the labelled celebrity photos ------------------
# Fetched (once, checksummed) by `make test` through `proctor models fetch`; cached outside the repo.


@pytest.fixture(scope="session")
def dataset_root():  # type: ignore[no-untyped-def]
    from models.dataset import fetch_dataset

    return fetch_dataset()


@pytest.fixture(scope="session")
def engine():  # type: ignore[no-untyped-def]
    from models import weights
    from models.engine import Engine

    weights.fetch(weights.DEFAULT_MODEL, quiet=True)
    return Engine(device="cpu")


@pytest.fixture(scope="session")
def photos(dataset_root):  # type: ignore[no-untyped-def]
    """person → decoded RGB arrays of a few photos each (val split), for building frames."""
    from models.dataset import people
    from models.images import read_image_file

    return {person: [read_image_file(p) for p in paths[:3]] for person, paths in people(dataset_root / "val").items()}


@pytest.fixture(scope="session")
def references(engine, dataset_root):  # type: ignore[no-untyped-def]
    """person → reference embeddings enrolled from the first 3 train photos."""
    import numpy as np

    from models.dataset import people
    from models.enroll import EnrollmentError, enroll

    out = {}
    for person, paths in people(dataset_root / "train").items():
        vectors = []
        for p in paths:
            try:
                vectors.append(enroll(engine, [p.read_bytes()]).embeddings)
            except EnrollmentError:
                continue  # a few dataset photos are group shots or tiny faces
            if len(vectors) == 3:
                break
        out[person] = np.concatenate(vectors)
    return out
