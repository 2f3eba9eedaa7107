"""`proctor students add|unlock`: an operator enrolls a student from photos, or lifts a lockout."""

from __future__ import annotations

import argparse
import asyncio
import sys

from models import weights
from models.detector import DetectorConfig
from models.engine import Engine
from models.enroll import EnrollmentError, enroll, vectors_to_bytes
from models.images import ImageError
from models.weights import WeightsError
from proctor.clock import SystemClock
from proctor.logins import Logins
from proctor.passwords import hash_password
from proctor.students import StudentExists, Students

from .base import CliError, emit_json, open_db, settings_from

USER_ERRORS = (EnrollmentError, ImageError, WeightsError)


def cmd_students_add(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if len(password) < 8:
            raise CliError("the password must have at least 8 characters")
    photos = []
    for path in args.photo:
        try:
            photos.append(path.read_bytes())
        except OSError as exc:
            raise CliError(f"{path}: {exc.strerror or exc}") from None
    enrollment = None
    if photos:
        weights.fetch(settings.model, quiet=True)
        engine = Engine(settings.model, device=settings.device or None, backend=settings.backend,
                        detector=DetectorConfig(min_face_px=settings.min_face_px))
        enrollment = enroll(engine, photos)  # EnrollmentError → exit 2 with the reason

    async def run() -> int:
        db = await open_db(settings.db_url())
        try:
            students = Students(db)
            try:
                user_id = await students.add_student(args.srn, args.name, args.mobile,
                                                     hash_password(password) if password else None)
            except StudentExists as exc:
                raise CliError(str(exc)) from None
            if enrollment is not None:
                dim = int(enrollment.embeddings.shape[1])
                for photo, vec in zip(enrollment.photos, vectors_to_bytes(enrollment.embeddings), strict=True):
                    await students.add_reference(user_id, photo, enrollment.model, [vec], dim)
                await students.set_enrollment_status(user_id, "approved")  # an operator's enrollment counts
            return user_id
        finally:
            await db.aclose()

    user_id = asyncio.run(run())
    out = {"id": user_id, "srn": args.srn.strip().upper(), "name": args.name,
           "enrollment": "approved" if enrollment else "none", "photos": len(photos)}
    if args.json:
        emit_json(out)
    else:
        print(f"added {out['srn']} ({args.name}); enrollment {out['enrollment']}")
    return 0


def cmd_students_unlock(args: argparse.Namespace) -> int:
    settings = settings_from(args)

    async def run() -> bool:
        db = await open_db(settings.db_url())
        try:
            user = await Students(db).get_by_srn(args.srn)
            if user is None:
                raise CliError(f"no student with SRN {args.srn.strip().upper()}")
            return await Logins(db, SystemClock()).unlock(user.id)
        finally:
            await db.aclose()

    was_locked = asyncio.run(run())
    srn = args.srn.strip().upper()
    if args.json:
        emit_json({"srn": srn, "was_locked": was_locked})
    else:
        print(f"{srn}: {'unlocked' if was_locked else 'was not locked'}")
    return 0
