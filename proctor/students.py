"""Users (students and staff) and their enrolment references.

Embeddings stay opaque here: `dim` float32 values, little-endian, as bytes. Decoding them is the
models wing's business.

Webcam enrolments wait as 'pending' for a proctor: `pending_enrollments` lists them,
`approve_enrollment` approves exactly the photos the proctor saw (by id) and `reject_enrollment`
deletes the photos and embeddings so the student enrolls again; both are audited in the same
transaction. A new webcam enrollment replaces the pending photos (`replace_pending_references`),
and no reference is ever added to an approved user (`EnrollmentLocked`).
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from proctor import audit
from proctor.clock import Clock, SystemClock
from proctor.db import Database
from proctor.tables import ENROLLMENT_STATUSES
from proctor.tables import photo_ids as _PHOTO_IDS
from proctor.tables import reference_embeddings as _EMB
from proctor.tables import reference_photos as _PHOTOS
from proctor.tables import users as _USERS
from proctor.users import STAFF_ROLES, Role, User, normalize_srn, normalize_username, user_from_row


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


class EnrollmentLocked(ValueError):
    """The user's references are approved: they change only through a new enrollment and approval."""

    def __init__(self, user_id: int) -> None:
        super().__init__(f"user {user_id}'s references are approved; they cannot change without a new approval")
        self.user_id = user_id


class EnrollmentChanged(ValueError):
    """The photos named in an approval are not the ones pending (the student sent others since)."""


class PendingEnrollment(NamedTuple):
    user_id: int
    srn: str | None
    name: str
    photo_ids: list[int]


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
                        role=Role.STUDENT.value,
                        password_hash=password_hash,
                        enrollment_status="none",
                        created_at=self._clock.now(),
                    )
                    .returning(_USERS.c.id)
                )
                return int(result.scalar_one())
        except IntegrityError as e:
            raise StudentExists(srn) from e

    async def add_staff(self, username: str, name: str, role: Role | str, password_hash: str) -> int:
        """Create a proctor or admin (logs in by username, stored lower case); returns the id."""
        username = normalize_username(username)
        if not username:
            raise ValueError("username must not be empty")
        if role not in STAFF_ROLES:
            raise ValueError(f"staff role must be one of {tuple(r.value for r in STAFF_ROLES)}, got {role!r}")
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
                        role=Role(role).value,
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

    async def set_time_zone(self, user_id: int, time_zone: str | None) -> None:
        """The user's own time zone (an IANA name, checked by the caller), or None for the server's."""
        async with self._db.engine.begin() as conn:
            result = await conn.execute(update(_USERS).where(_USERS.c.id == user_id).values(time_zone=time_zone))
            if result.rowcount == 0:
                raise UnknownUser(user_id)

    async def set_enrollment_status(
        self, user_id: int, status: str, *, actor: int | None = None, note: str | None = None
    ) -> None:
        """Set the status; with `actor` (a proctor approving), 'approved' is audited as
        'enrollment_approved' in the same transaction."""
        if status not in ENROLLMENT_STATUSES:
            raise ValueError(f"enrollment status must be one of {ENROLLMENT_STATUSES}, got {status!r}")
        if actor is None or status != "approved":
            async with self._db.engine.begin() as conn:
                result = await conn.execute(
                    update(_USERS).where(_USERS.c.id == user_id).values(enrollment_status=status)
                )
                if result.rowcount == 0:
                    raise UnknownUser(user_id)
            return
        async with audit.write_transaction(self._db) as conn:
            result = await conn.execute(
                update(_USERS).where(_USERS.c.id == user_id).values(enrollment_status=status)
            )
            if result.rowcount == 0:
                raise UnknownUser(user_id)
            await audit.append(
                conn,
                at=self._clock.now(),
                action="enrollment_approved",
                actor=actor,
                subject=f"user:{user_id}",
                details={"note": note} if note else {},
            )

    async def pending_enrollments(self) -> list[PendingEnrollment]:
        """Students whose webcam enrolment waits for a proctor, oldest account first."""
        async with self._db.engine.connect() as conn:
            users = (
                await conn.execute(
                    select(_USERS.c.id, _USERS.c.srn, _USERS.c.name)
                    .where(_USERS.c.enrollment_status == "pending")
                    .order_by(_USERS.c.id)
                )
            ).all()
            photos: dict[int, list[int]] = {int(u.id): [] for u in users}
            if photos:
                rows = await conn.execute(
                    select(_PHOTOS.c.user_id, _PHOTOS.c.id)
                    .where(_PHOTOS.c.user_id.in_(list(photos)))
                    .order_by(_PHOTOS.c.id)
                )
                for user_id, photo_id in rows.all():
                    photos[int(user_id)].append(int(photo_id))
        return [PendingEnrollment(int(u.id), u.srn, str(u.name), photos[int(u.id)]) for u in users]

    async def photo(self, user_id: int, photo_id: int, *, viewed_by: int | None = None) -> bytes | None:
        """One of the user's reference photos (None if no such photo of that user).

        With `viewed_by`, a served photo also writes a 'photo_viewed' audit row.
        """
        query = select(_PHOTOS.c.image).where(_PHOTOS.c.id == photo_id, _PHOTOS.c.user_id == user_id)
        if viewed_by is None:
            async with self._db.engine.connect() as conn:
                image = (await conn.execute(query)).scalar()
            return None if image is None else bytes(image)
        async with audit.write_transaction(self._db) as conn:
            image = (await conn.execute(query)).scalar()
            if image is None:
                return None
            await audit.append(
                conn,
                at=self._clock.now(),
                action="photo_viewed",
                actor=viewed_by,
                subject=f"user:{user_id}",
                details={"photo_id": photo_id},
            )
            return bytes(image)

    async def approve_enrollment(self, user_id: int, photo_ids: list[int], *, actor: int,
                                 note: str | None = None) -> None:
        """Approve a pending enrollment if its photos are exactly `photo_ids` (what the proctor saw);
        EnrollmentChanged otherwise, UnknownUser if nothing is pending."""
        async with audit.write_transaction(self._db) as conn:
            status = (await conn.execute(select(_USERS.c.enrollment_status).where(_USERS.c.id == user_id))).scalar()
            if status != "pending":
                raise UnknownUser(user_id)
            current = set((await conn.execute(select(_PHOTOS.c.id).where(_PHOTOS.c.user_id == user_id))).scalars())
            if not current or current != set(photo_ids):
                raise EnrollmentChanged("the student's photos changed since you saw them; look again")
            await conn.execute(update(_USERS).where(_USERS.c.id == user_id).values(enrollment_status="approved"))
            details: dict[str, object] = {"photo_ids": sorted(current)}
            if note:
                details["note"] = note
            await audit.append(conn, at=self._clock.now(), action="enrollment_approved", actor=actor,
                               subject=f"user:{user_id}", details=details)

    async def replace_pending_references(
        self, user_id: int, refs: list[tuple[bytes, list[bytes]]], model: str, dim: int, status: str
    ) -> list[int]:
        """A new enrollment: the user's photos and embeddings become `refs` (photo, vectors), all
        earlier ones go, and the status becomes `status`, in one transaction. EnrollmentLocked if
        the user is approved by then. Returns the new photo ids."""
        _check_vectors([v for _, vs in refs for v in vs], dim)
        now = self._clock.now()
        async with self._db.engine.begin() as conn:
            moved = await conn.execute(
                update(_USERS).where(_USERS.c.id == user_id, _USERS.c.enrollment_status != "approved")
                .values(enrollment_status=status))
            if moved.rowcount == 0:
                raise EnrollmentLocked(user_id)
            old = list((await conn.execute(select(_PHOTOS.c.id).where(_PHOTOS.c.user_id == user_id))).scalars())
            # Photo ids are never reused (migration 0009), so a replacement never takes the id of a
            # photo a proctor saw (an approval names ids).
            new = [await _insert_reference(conn, user_id, photo, model, dim, vectors, now) for photo, vectors in refs]
            if old:
                await conn.execute(delete(_EMB).where(_EMB.c.photo_id.in_(old)))
                await conn.execute(delete(_PHOTOS).where(_PHOTOS.c.id.in_(old)))
            return new

    async def reject_enrollment(self, user_id: int, *, actor: int | None = None, note: str | None = None) -> int:
        """Delete the user's reference photos and embeddings and set the status back to 'none' (the
        student enrolls again); audited as 'enrollment_rejected'. Returns how many photos went."""
        async with audit.write_transaction(self._db) as conn:
            result = await conn.execute(
                update(_USERS).where(_USERS.c.id == user_id).values(enrollment_status="none")
            )
            if result.rowcount == 0:
                raise UnknownUser(user_id)
            embeddings = (await conn.execute(delete(_EMB).where(_EMB.c.user_id == user_id))).rowcount
            photos = (await conn.execute(delete(_PHOTOS).where(_PHOTOS.c.user_id == user_id))).rowcount
            details: dict[str, object] = {"photos": photos, "embeddings": embeddings}
            if note:
                details["note"] = note
            await audit.append(
                conn,
                at=self._clock.now(),
                action="enrollment_rejected",
                actor=actor,
                subject=f"user:{user_id}",
                details=details,
            )
        return int(photos)

    async def count_users(self) -> int:
        async with self._db.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(_USERS))).scalar_one())

    async def add_reference(
        self, user_id: int, photo_bytes: bytes, model: str, vectors: list[bytes], dim: int
    ) -> int:
        """Store an enrolment photo and its embeddings under `model`; returns the photo id.

        Each vector must be exactly `dim` float32 values (4 * dim bytes).
        """
        _check_vectors(vectors, dim)
        now = self._clock.now()
        try:
            async with self._db.engine.begin() as conn:
                status = (await conn.execute(select(_USERS.c.enrollment_status).where(_USERS.c.id == user_id))).scalar()
                if status == "approved":
                    raise EnrollmentLocked(user_id)  # a stand-in's photo must not join approved ones
                return await _insert_reference(conn, user_id, photo_bytes, model, dim, vectors, now)
        except IntegrityError as e:
            raise UnknownUser(user_id) from e

    async def references(self, user_id: int, model: str) -> list[bytes]:
        """The user's embeddings for `model`, oldest first (float32 little-endian bytes each)."""
        async with self._db.engine.connect() as conn:
            rows = await conn.execute(
                select(_EMB.c.vector)
                .where(_EMB.c.user_id == user_id, _EMB.c.model == model)
                .order_by(_EMB.c.id)
            )
            return [bytes(v) for v in rows.scalars()]


def _check_vectors(vectors: list[bytes], dim: int) -> None:
    if dim <= 0:
        raise ValueError(f"dim must be positive, got {dim}")
    for i, v in enumerate(vectors):
        if len(v) != 4 * dim:
            raise ValueError(f"vector {i} has {len(v)} bytes, expected {4 * dim} (float32 x {dim})")


async def _insert_reference(conn: AsyncConnection, user_id: int, photo: bytes, model: str, dim: int,
                            vectors: list[bytes], now: float) -> int:
    # The id comes from the high-water row, so no id is ever handed out twice (see migration 0009);
    # the update also serialises concurrent enrollments on that row.
    photo_id = int((await conn.execute(
        update(_PHOTO_IDS).where(_PHOTO_IDS.c.id == 1).values(last_id=_PHOTO_IDS.c.last_id + 1)
        .returning(_PHOTO_IDS.c.last_id))).scalar_one())
    await conn.execute(_PHOTOS.insert().values(id=photo_id, user_id=user_id, image=photo, created_at=now))
    if vectors:
        await conn.execute(_EMB.insert(), [
            {"user_id": user_id, "photo_id": photo_id, "model": model, "dim": dim, "vector": bytes(v),
             "created_at": now} for v in vectors])
    return photo_id
