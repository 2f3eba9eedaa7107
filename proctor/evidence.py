"""Evidence: the JPEG frame that raised a flag, kept for a limited time and then deleted for good.

A snapshot older than the retention period is never served (`get` answers None) even before
`purge` has deleted it. `purge` deletes the rows; on SQLite the connection hook sets
`PRAGMA secure_delete=ON` (proctor.db), so freed pages are zeroed, and purge then checkpoints the
WAL (TRUNCATE) so the old pages do not linger in the -wal file either. On PostgreSQL deleted rows
stay in the table's pages until VACUUM reclaims (but does not zero) them.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from proctor import audit
from proctor.clock import Clock
from proctor.db import Database
from proctor.session_records import SNAPSHOT_RETENTION_S, UnknownFlag
from proctor.tables import flags as _FL
from proctor.tables import snapshots as _SNAP

__all__ = ["MAX_SNAPSHOT_BYTES", "SNAPSHOT_RETENTION_S", "Evidence", "UnknownFlag"]

MAX_SNAPSHOT_BYTES = 2 * 1024 * 1024
_JPEG_MAGIC = b"\xff\xd8\xff"


class Evidence:
    def __init__(self, db: Database, clock: Clock, retention_s: float = SNAPSHOT_RETENTION_S) -> None:
        if not retention_s > 0:
            raise ValueError(f"retention_s must be positive, got {retention_s}")
        self._db = db
        self._clock = clock
        self._retention_s = float(retention_s)

    def cutoff(self) -> float:
        """Snapshots created at or before this time are past retention.

        Flag views take it too (`session_timeline`), so a flag shows a snapshot only while `get`
        would serve it.
        """
        return self._clock.now() - self._retention_s

    async def store(self, flag_id: int, session_id: str, jpeg: bytes) -> bool:
        """Keep the frame that raised `flag_id`; False (nothing written) if the flag has one already.

        ValueError: not a JPEG, too large, or the flag belongs to another session. UnknownFlag.
        """
        jpeg = bytes(jpeg)
        if not jpeg.startswith(_JPEG_MAGIC):
            raise ValueError("snapshot must be a JPEG image")
        if len(jpeg) > MAX_SNAPSHOT_BYTES:
            raise ValueError(f"snapshot must be at most {MAX_SNAPSHOT_BYTES} bytes, got {len(jpeg)}")
        async with self._db.engine.begin() as conn:
            owner = (await conn.execute(select(_FL.c.session_id).where(_FL.c.id == flag_id))).first()
            if owner is None:
                raise UnknownFlag(flag_id)
            if owner.session_id != session_id:
                raise ValueError(f"flag {flag_id} does not belong to session {session_id}")
            if (await conn.execute(select(_SNAP.c.id).where(_SNAP.c.flag_id == flag_id))).first() is not None:
                return False
            await conn.execute(
                _SNAP.insert().values(flag_id=flag_id, session_id=session_id, jpeg=jpeg, created_at=self._clock.now())
            )
        return True

    async def get(self, flag_id: int, *, viewed_by: int | None = None) -> bytes | None:
        """The snapshot, or None if there is none or it is past retention (even if not purged yet).

        With `viewed_by`, a served snapshot also writes a 'snapshot_viewed' audit row.
        """
        query = select(_SNAP.c.jpeg, _SNAP.c.session_id).where(
            _SNAP.c.flag_id == flag_id, _SNAP.c.created_at > self.cutoff()
        )
        if viewed_by is None:
            async with self._db.engine.connect() as conn:
                row = (await conn.execute(query)).first()
            return None if row is None else bytes(row.jpeg)
        async with audit.write_transaction(self._db) as conn:
            row = (await conn.execute(query)).first()
            if row is None:
                return None
            await audit.append(
                conn,
                at=self._clock.now(),
                action="snapshot_viewed",
                actor=viewed_by,
                subject=f"flag:{flag_id}",
                details={"session_id": row.session_id},
            )
            return bytes(row.jpeg)

    async def purge(self) -> int:
        """Delete every snapshot past retention; returns how many. On SQLite, checkpoints the WAL."""
        async with self._db.engine.begin() as conn:
            deleted = (await conn.execute(delete(_SNAP).where(_SNAP.c.created_at <= self.cutoff()))).rowcount
        if deleted and self._db.dialect == "sqlite":
            # secure_delete zeroed the pages; TRUNCATE copies them into the main file and empties the
            # WAL, which still held the pages as they were written. Best effort: a reader holding an
            # old snapshot can keep the WAL from being reset; the next purge tries again.
            async with self._db.engine.connect() as conn:
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(deleted)
