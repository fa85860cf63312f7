"""Which payment providers this instance offers: the sandbox always (the embedded
default), and each real provider only when its credentials are configured — a
provider without credentials is not offered anywhere (pages, API, webhooks)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from simrenew.config import Settings
from simrenew.ports import PaymentProvider
from simrenew.providers.alipay import AlipayConfig, AlipayProvider
from simrenew.providers.fps import FpsProvider, Payee
from simrenew.providers.paypal import PayPalProvider
from simrenew.providers.stripe import StripeProvider
from simrenew.providers.wechatpay import Region, WeChatPayConfig, WeChatPayProvider


class ProviderMisconfigured(ValueError):
    """A provider is half configured: some of its settings are there, not all."""


def _need(provider: str, **values: Any) -> None:
    missing = [name for name, value in values.items() if not value]
    if missing:
        names = ", ".join(f"SIMRENEW_{name.upper()}" for name in missing)
        raise ProviderMisconfigured(f"{provider} is half configured: set {names}")


def _secret(value: Any) -> str:
    return str(value.get_secret_value())


def configured_providers(
    settings: Settings, now: Callable[[], datetime]
) -> dict[str, PaymentProvider]:
    """The real providers whose credentials are set, by the name payments file them
    under (and their webhooks arrive at: ``/webhooks/<name>``)."""
    s = settings
    webhook_base = s.public_url.rstrip("/") + "/webhooks/"
    providers: dict[str, PaymentProvider] = {}
    if s.stripe_api_key:
        _need("Stripe", stripe_webhook_secrets=s.stripe_webhook_secrets)
        providers["stripe"] = StripeProvider(
            _secret(s.stripe_api_key),
            [_secret(secret) for secret in s.stripe_webhook_secrets],
            fallback_return_url=s.public_url,
            payment_method_types=s.stripe_payment_methods,
            api_base=s.stripe_api_base,
            timeout_seconds=s.stripe_timeout_seconds,
            tolerance_seconds=s.callback_tolerance_seconds,
        )
    if s.paypal_client_id:
        _need(
            "PayPal",
            paypal_client_secret=s.paypal_client_secret,
            paypal_webhook_id=s.paypal_webhook_id,
        )
        providers["paypal"] = PayPalProvider(
            client_id=s.paypal_client_id,
            client_secret=_secret(s.paypal_client_secret),
            webhook_id=str(s.paypal_webhook_id),
            api_base=s.paypal_api_base,
            verification=s.paypal_webhook_verification,
            timeout_seconds=s.paypal_timeout_seconds,
            brand_name=s.paypal_brand_name,
        )
    for name, currency, app_id, key, public_key, gateway, product in (
        ("alipay", "CNY", s.alipay_app_id, s.alipay_app_private_key, s.alipay_public_key,
         s.alipay_gateway_url, s.alipay_product),
        ("alipayhk", "HKD", s.alipayhk_app_id, s.alipayhk_app_private_key, s.alipayhk_public_key,
         s.alipayhk_gateway_url, s.alipayhk_product),
    ):  # fmt: skip
        if app_id:
            _need(name, **{f"{name}_app_private_key": key, f"{name}_public_key": public_key})
            _need(name, **{f"{name}_gateway_url": gateway})
            providers[name] = AlipayProvider(
                AlipayConfig(
                    app_id=app_id,
                    app_private_key=_secret(key),
                    alipay_public_key=str(public_key),
                    notify_url=webhook_base + name,
                    name=name,
                    gateway_url=str(gateway),
                    currency=currency,
                    product=product,
                ),
                now=now,
            )
    if s.wechatpay_mchid:
        _need(
            "WeChat Pay",
            wechatpay_appid=s.wechatpay_appid,
            wechatpay_merchant_serial_no=s.wechatpay_merchant_serial_no,
            wechatpay_merchant_private_key=s.wechatpay_merchant_private_key,
            wechatpay_apiv3_key=s.wechatpay_apiv3_key,
        )
        providers["wechatpay"] = WeChatPayProvider(
            WeChatPayConfig(
                mchid=s.wechatpay_mchid,
                appid=str(s.wechatpay_appid),
                merchant_serial_no=str(s.wechatpay_merchant_serial_no),
                merchant_private_key=_secret(s.wechatpay_merchant_private_key),
                apiv3_key=_secret(s.wechatpay_apiv3_key),
                notify_url=webhook_base + "wechatpay",
                region=Region(s.wechatpay_region),
                base_url=s.wechatpay_base_url,
                merchant_category_code=s.wechatpay_merchant_category_code,
                platform_public_key=s.wechatpay_public_key,
                platform_public_key_id=s.wechatpay_public_key_id,
                use_platform_certificates=s.wechatpay_use_platform_certificates,
            ),
            now=now,
        )
    if s.fps_payee_id:
        _need("FPS", fps_payee_name=s.fps_payee_name)
        providers["fps"] = FpsProvider(
            Payee(
                fps_id=s.fps_payee_id, name=str(s.fps_payee_name), bank_account=s.bank_account or ""
            ),
            instructions_base_url=s.public_url,
        )
    return providers


def close_providers(providers: Mapping[str, PaymentProvider]) -> None:
    """Close the HTTP clients the real providers hold."""
    for provider in providers.values():
        close = getattr(provider, "close", None)
        if callable(close):
            close()
