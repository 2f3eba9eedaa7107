"""HTTP handlers by audience: signing in, one's account, students, WebRTC offers, proctors, operators, pages."""

from aiohttp import web

from . import accounts, health, login, openapi, pages, payments, proctor, spmt, spmt_staff, student, study, webrtc


def setup_routes(app: web.Application) -> None:
    for module in (login, accounts, student, study, webrtc, proctor, spmt, spmt_staff, payments, openapi, health,
                   pages):
        module.setup_routes(app)
