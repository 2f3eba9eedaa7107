"""Users (students and staff) and their enrolment references.

Embeddings stay opaque here: `dim` float32 values, little-endian, as bytes. Decoding them is the
models wing's business.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError

from proctor.accounts import User, normalize_srn, normalize_username, user_from_row
from proctor.clock import Clock, SystemClock
from proctor.db import Database
from proctor.tables import ENROLLMENT_STATUSES
from proctor.tables import reference_embeddings as _EMB
from proctor.tables import reference_photos as _PHOTOS
from proctor.tables import users as _USERS

STAFF_ROLES = ("proctor", "admin")


class UserExists(ValueError):
    """A user with that login already exists."""


class StudentExists(UserExists):
    def __init__(self, srn: str) -> None:
        super().__init__(f"a student with SRN {srn!r} already exists")
        self.srn = srn


class StaffExists(UserExists):
    def __init__(self, username: str) -> None:
        super().__init__(f"a staff user named {username!r} already exists")
        self.username = username


class UnknownUser(LookupError):
    """No user with that id."""


class Students:
    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self._db = db
        self._clock: Clock = clock or SystemClock()

    async def add_student(self, srn: str, name: str, mobile: str | None, password_hash: str | None) -> int:
        """Create a student (enrollment_status 'none'); returns the user id.

        The SRN is stored normalized (stripped, upper case). Raises StudentExists on a duplicate.
        """
        srn = normalize_srn(srn)
        if not srn:
            raise ValueError("SRN must not be empty")
        if not name.strip():
            raise ValueError("name must not be empty")
        # Checked first for a clear error; the unique constraint still guards against a race.
        if await self.get_by_srn(srn) is not None:
            raise StudentExists(srn)
        try:
            async with self._db.engine.begin() as conn:
                result = await conn.execute(
                    _USERS.insert()
                    .values(
                        srn=srn,
                        username=None,
                        name=name.strip(),
                        mobile=mobile,
                        role="student",
                        password_hash=password_hash,
                        enrollment_status="none",
                        created_at=self._clock.now(),
                    )
                    .returning(_USERS.c.id)
                )
                return int(result.scalar_one())
        except IntegrityError as e:
            raise StudentExists(srn) from e

    async def add_staff(self, username: str, name: str, role: str, password_hash: str) -> int:
        """Create a proctor or admin (logs in by username, stored lower case); returns the id."""
        username = normalize_username(username)
        if not username:
            raise ValueError("username must not be empty")
        if role not in STAFF_ROLES:
            raise ValueError(f"staff role must be one of {STAFF_ROLES}, got {role!r}")
        if await self._get_where(_USERS.c.username == username) is not None:
            raise StaffExists(username)
        try:
            async with self._db.engine.begin() as conn:
                result = await conn.execute(
                    _USERS.insert()
                    .values(
                        srn=None,
                        username=username,
                        name=name.strip() or username,
                        mobile=None,
                        role=role,
                        password_hash=password_hash,
                        enrollment_status="none",
                        created_at=self._clock.now(),
                    )
                    .returning(_USERS.c.id)
                )
                return int(result.scalar_one())
        except IntegrityError as e:
            raise StaffExists(username) from e

    async def _get_where(self, where: ColumnElement[bool]) -> User | None:
        async with self._db.engine.connect() as conn:
            row = (await conn.execute(select(_USERS).where(where))).first()
        return None if row is None else user_from_row(row)

    async def get(self, user_id: int) -> User | None:
        return await self._get_where(_USERS.c.id == user_id)

    async def get_by_srn(self, srn: str) -> User | None:
        return await self._get_where(_USERS.c.srn == normalize_srn(srn))

    async def get_by_username(self, username: str) -> User | None:
        return await self._get_where(_USERS.c.username == normalize_username(username))

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                update(_USERS).where(_USERS.c.id == user_id).values(password_hash=password_hash)
            )
            if result.rowcount == 0:
                raise UnknownUser(user_id)

    async def set_enrollment_status(self, user_id: int, status: str) -> None:
        if status not in ENROLLMENT_STATUSES:
            raise ValueError(f"enrollment status must be one of {ENROLLMENT_STATUSES}, got {status!r}")
        async with self._db.engine.begin() as conn:
            result = await conn.execute(
                update(_USERS).where(_USERS.c.id == user_id).values(enrollment_status=status)
            )
            if result.rowcount == 0:
                raise UnknownUser(user_id)

    async def count_users(self) -> int:
        async with self._db.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(_USERS))).scalar_one())

    async def add_reference(
        self, user_id: int, photo_bytes: bytes, model: str, vectors: list[bytes], dim: int
    ) -> int:
        """Store an enrolment photo and its embeddings under `model`; returns the photo id.

        Each vector must be exactly `dim` float32 values (4 * dim bytes).
        """
        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        for i, v in enumerate(vectors):
            if len(v) != 4 * dim:
                raise ValueError(f"vector {i} has {len(v)} bytes, expected {4 * dim} (float32 x {dim})")
        now = self._clock.now()
        try:
            async with self._db.engine.begin() as conn:
                photo_id = int(
                    (
                        await conn.execute(
                            _PHOTOS.insert()
                            .values(user_id=user_id, image=photo_bytes, created_at=now)
                            .returning(_PHOTOS.c.id)
                        )
                    ).scalar_one()
                )
                if vectors:
                    await conn.execute(
                        _EMB.insert(),
                        [
                            {
                                "user_id": user_id,
                                "photo_id": photo_id,
                                "model": model,
                                "dim": dim,
                                "vector": bytes(v),
                                "created_at": now,
                            }
                            for v in vectors
                        ],
                    )
        except IntegrityError as e:
            raise UnknownUser(user_id) from e
        return photo_id

    async def references(self, user_id: int, model: str) -> list[bytes]:
        """The user's embeddings for `model`, oldest first (float32 little-endian bytes each)."""
        async with self._db.engine.connect() as conn:
            rows = await conn.execute(
                select(_EMB.c.vector)
                .where(_EMB.c.user_id == user_id, _EMB.c.model == model)
                .order_by(_EMB.c.id)
            )
            return [bytes(v) for v in rows.scalars()]
