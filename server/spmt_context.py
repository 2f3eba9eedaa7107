"""The module tests' services on the app: the payment provider, bookings and attempts (a cleanup context)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from proctor.outbox import OutboxSender
from proctor.payments import PaymentProvider, TestProvider
from proctor.spmt import Spmt, SpmtConfig
from proctor.spmt_attempts import Attempts

from .config import Settings
from .keys import SERVICES, SETTINGS, SPMT, SpmtServices
from .razorpay import RazorpayProvider

log = logging.getLogger("proctor.spmt")


def spmt_config(settings: Settings) -> SpmtConfig:
    return SpmtConfig(late_entry_s=settings.spmt_late_entry_min * 60,
                      cancel_cutoff_s=settings.spmt_cancel_cutoff_min * 60,
                      payment_hold_s=settings.spmt_payment_hold_min * 60,
                      questions_per_test=settings.spmt_questions)


async def spmt_context(app: web.Application) -> AsyncIterator[None]:
    settings, services = app[SETTINGS], app[SERVICES]
    razorpay = None
    provider: PaymentProvider
    if settings.payment_provider == "razorpay":
        razorpay = RazorpayProvider(settings.razorpay_key_id, settings.razorpay_key_secret,
                                    base_url=settings.razorpay_api_url)
        await razorpay.start()
        provider = razorpay
    else:
        provider = TestProvider()
    config = spmt_config(settings)
    attempts = Attempts(services.db, services.clock, config)
    if settings.spmt_demo_bank:
        filled = await attempts.install_demo_banks({m.id for m in services.catalog.modules})
        if filled:
            log.info("installed the demo question bank for %d module(s)", filled)
    bookings = Spmt(services.db, services.clock, services.catalog, provider, OutboxSender(services.db, services.clock),
                    config)
    app[SPMT] = SpmtServices(bookings, attempts, provider)
    try:
        yield
    finally:
        if razorpay is not None:
            await razorpay.aclose()
