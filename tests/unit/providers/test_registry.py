"""A provider is offered only with its credentials, and a half-configured one is a
start-up error naming what is missing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from simrenew.config import Settings
from simrenew.providers.registry import (
    ProviderMisconfigured,
    close_providers,
    configured_providers,
)


def _now() -> datetime:
    return datetime(2026, 11, 30, tzinfo=UTC)


def _pem_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_without_credentials_no_real_provider_is_offered() -> None:
    assert configured_providers(_settings(), _now) == {}


def test_each_configured_provider_is_offered_under_its_name() -> None:
    private, public = _pem_pair()
    providers = configured_providers(
        _settings(
            stripe_api_key="sk_test_123",
            stripe_webhook_secrets="whsec_new,whsec_old",
            paypal_client_id="client",
            paypal_client_secret="secret",
            paypal_webhook_id="WH-1",
            alipay_app_id="2021000000000001",
            alipay_app_private_key=private,
            alipay_public_key=public,
            alipayhk_app_id="2021000000000099",
            alipayhk_app_private_key=private,
            alipayhk_public_key=public,
            alipayhk_gateway_url="https://openapi.alipayhk.example/gateway.do",
            wechatpay_mchid="1900000001",
            wechatpay_appid="wx0000000000000001",
            wechatpay_merchant_serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
            wechatpay_merchant_private_key=private,
            wechatpay_apiv3_key="0123456789abcdef0123456789abcdef",
            wechatpay_public_key=public,
            wechatpay_public_key_id="PUB_KEY_ID_0000000001",
            fps_payee_id="1234567",
            fps_payee_name="SIMRENEW LTD",
        ),
        _now,
    )
    try:
        assert sorted(providers) == ["alipay", "alipayhk", "fps", "paypal", "stripe", "wechatpay"]
        assert all(provider.name == name for name, provider in providers.items())
    finally:
        close_providers(providers)


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({"stripe_api_key": "sk_test_123"}, "SIMRENEW_STRIPE_WEBHOOK_SECRETS"),
        ({"paypal_client_id": "client"}, "SIMRENEW_PAYPAL_CLIENT_SECRET"),
        ({"alipayhk_app_id": "2021"}, "SIMRENEW_ALIPAYHK_APP_PRIVATE_KEY"),
        ({"wechatpay_mchid": "1900000001"}, "SIMRENEW_WECHATPAY_APIV3_KEY"),
        ({"fps_payee_id": "1234567"}, "SIMRENEW_FPS_PAYEE_NAME"),
    ],
)
def test_a_half_configured_provider_names_what_is_missing(
    values: dict[str, object], missing: str
) -> None:
    with pytest.raises(ProviderMisconfigured, match=missing):
        configured_providers(_settings(**values), _now)
