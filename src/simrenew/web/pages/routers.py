"""Every page router, in the order they are matched."""

from __future__ import annotations

from simrenew.web.pages import (
    cards,
    dev_inbox,
    fps,
    home,
    kiosk,
    login,
    order_result,
    orders,
    renew,
    settings,
)

ROUTERS = tuple(
    module.router
    for module in (home, login, order_result, cards, renew, orders, settings, kiosk, dev_inbox, fps)
)
