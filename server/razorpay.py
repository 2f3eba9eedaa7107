"""A payment provider in the shape of Razorpay's Orders and Refunds APIs (HTTP basic auth with the key pair).

Only order creation and refunds go out; that a payment was captured comes back through the signed
webhook (`proctor.payments.verify_webhook`), never from the page.
"""

from __future__ import annotations

import base64
from typing import Any

import aiohttp

from proctor.payments import ProviderError

API = "https://api.razorpay.com/v1"


class RazorpayProvider:
    name = "razorpay"

    def __init__(self, key_id: str, key_secret: str, *, base_url: str = API, timeout_s: float = 10.0) -> None:
        token = base64.b64encode(f"{key_id}:{key_secret}".encode()).decode("ascii")
        self._headers = {"Authorization": f"Basic {token}"}
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._http is None:
            raise ProviderError("the payment provider is not started")
        try:
            async with self._http.post(self._base + path, json=body) as resp:
                data = await resp.json(content_type=None)
                if resp.status >= 300 or not isinstance(data, dict):
                    raise ProviderError(f"HTTP {resp.status}")
                return data
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ProviderError(str(exc) or exc.__class__.__name__) from None

    async def create_order(self, receipt: str, amount_paise: int, currency: str) -> str:
        data = await self._post("/orders", {"amount": amount_paise, "currency": currency, "receipt": receipt[:40]})
        order_id = data.get("id")
        if not isinstance(order_id, str) or not order_id:
            raise ProviderError("the order has no id")
        return order_id

    async def refund(self, payment_id: str, amount_paise: int) -> None:
        await self._post(f"/payments/{payment_id}/refund", {"amount": amount_paise})
