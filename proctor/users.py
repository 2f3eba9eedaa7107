"""Who a user is: the `User` value, its `Role`, how logins are normalised, and the JSON that names one.

Students log in by SRN, staff (proctors and admins) by username. Every route and event that shows a
user or a student builds it here, so each wire shape has one definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Row


class Role(StrEnum):
    """What a user may do. The values are what the users table stores and the API shows."""

    STUDENT = "student"
    PROCTOR = "proctor"
    ADMIN = "admin"

    @property
    def is_staff(self) -> bool:
        """Proctors and admins: they watch streams, review flags and approve enrolments."""
        return self is not Role.STUDENT


STAFF_ROLES: tuple[Role, ...] = tuple(r for r in Role if r.is_staff)


@dataclass(frozen=True)
class User:
    id: int
    srn: str | None
    username: str | None
    name: str
    mobile: str | None
    role: Role
    enrollment_status: str
    has_password: bool = False  # False: a student who has not activated the account yet
    totp_enabled: bool = False
    time_zone: str | None = None  # IANA name the user chose; None: the server's `time_zone` setting


def normalize_srn(srn: str) -> str:
    """SRNs compare case-insensitively and without surrounding blanks."""
    return srn.strip().upper()


def normalize_username(username: str) -> str:
    return username.strip().lower()


def user_from_row(r: Row[Any]) -> User:
    """A `User` from a row of the users table."""
    return User(
        id=r.id,
        srn=r.srn,
        username=r.username,
        name=r.name,
        mobile=r.mobile,
        role=Role(r.role),
        enrollment_status=r.enrollment_status,
        has_password=r.password_hash is not None,
        totp_enabled=bool(r.totp_enabled),
        time_zone=r.time_zone,
    )


def user_json(user: User) -> dict[str, Any]:
    """The logged-in user as login and /api/me answer with it."""
    return {
        "srn": user.srn,
        "username": user.username,
        "name": user.name,
        "role": user.role.value,
        "staff": user.role.is_staff,
        "totp_enabled": user.totp_enabled,
        "time_zone": user.time_zone,
    }


def student_json(student_id: int, srn: str | None, name: str) -> dict[str, Any]:
    """A student as proctors' events and flags name one."""
    return {"id": student_id, "srn": srn, "name": name}
