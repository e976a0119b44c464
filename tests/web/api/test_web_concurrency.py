"""Concurrent requests in one process: each request's services serve one thread at a time, and
of concurrent writes from the same version exactly one wins, the rest get 412."""

from __future__ import annotations

import asyncio

import httpx2 as httpx

from engine.web.accounts import Role
from tests.web.api.conftest import PATIENT, Clinic

PHQ9 = {"fact": "measurement", "date": "2026-05-30", "instrument": "PHQ-9", "score": 9}


async def _burst(clinic: Clinic, n: int) -> tuple[list[int], list[int]]:
    headers = {"Authorization": f"Bearer {clinic.tokens[Role.coordinator]}"}
    transport = httpx.ASGITransport(app=clinic.app, raise_app_exceptions=True)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=headers
    ) as client:
        reads = await asyncio.gather(
            *(client.get(f"/api/v1/patients/{pid}") for pid in [PATIENT, "EX-01", "EX-02"] * n)
        )
        assert reads[0].status_code == 200, (reads[0].status_code, reads[0].text[:500])
        etag = reads[0].headers["etag"]
        writes = await asyncio.gather(
            *(
                client.post(
                    f"/api/v1/patients/{PATIENT}/facts",
                    json={"facts": [PHQ9]},
                    headers={"If-Match": etag},
                )
                for _ in range(n)
            )
        )
    return [r.status_code for r in reads], [w.status_code for w in writes]


def test_concurrent_reads_and_writes(clinic: Clinic) -> None:
    before = clinic.version()
    reads, writes = asyncio.run(_burst(clinic, 12))
    assert set(reads) == {200}
    assert sorted(writes) == [200] + [412] * 11
    assert clinic.version() == before + 1
