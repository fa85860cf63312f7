"""Settings: the only module that reads the environment (``SIMRENEW_*`` variables)."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_VAR_DIR = Path("var")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIMRENEW_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_VAR_DIR / 'simrenew.db'}",
        description="SQLAlchemy URL; sqlite:///path or postgresql+psycopg://user@host/db",
    )
    official_domain: str = Field(
        default="simrenew.example.hk",
        description="The only domain messages link to, and the one every page shows.",
    )
    brand: str = "simrenew"
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where this instance is reached; the sandbox checkout page lives under it.",
    )
    time_zone: str = "Asia/Hong_Kong"
    # NoDecode: the environment gives "a,b", which the validators split; without it
    # pydantic-settings would try to read the value as JSON first and fail.
    sandbox_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=lambda: [SecretStr("sandbox-dev-secret-change-me")],
        description="Sandbox callback secrets; the first signs, all verify (rotation).",
    )
    callback_tolerance_seconds: int = 300
    order_ttl_minutes: int = 30
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_sender: str = "noreply@simrenew.example.hk"
    sms_channel: str = Field(
        default="dev_inbox",
        pattern="^(dev_inbox|smpp|http)$",
        description="dev_inbox, smpp (the smpp_* settings) or http (the http_sms_* settings)",
    )
    # --- SMS channels (notify/smpp.py, notify/http_sms.py) ---
    smpp_host: str | None = None
    smpp_port: int = Field(default=2775, gt=0)
    smpp_system_id: str | None = None
    smpp_password: SecretStr | None = None
    smpp_source_addr: str = Field(
        default="simrenew", description="sender: an alphanumeric id or an international number"
    )
    smpp_system_type: str = ""
    http_sms_url: str | None = None
    http_sms_token: SecretStr | None = Field(
        default=None, description="Bearer token of the gateway; also signs its receipt callbacks"
    )
    outbox_max_attempts: int = 8
    worker_batch_size: int = 50
    worker_lease_seconds: int = 60
    worker_poll_ms: int = Field(default=1000, gt=0, description="idle wait between outbox polls")
    # --- payment providers (providers/registry.py); each is offered only when set ---
    stripe_api_key: SecretStr | None = Field(
        default=None, description="sk_... or a restricted rk_... key; unset: Stripe off"
    )
    stripe_webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="whsec_..., current first (comma-separated)"
    )
    stripe_payment_methods: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["card", "alipay", "wechat_pay"]
    )
    stripe_api_base: str = "https://api.stripe.com"
    stripe_timeout_seconds: int = Field(default=10, gt=0)
    paypal_client_id: str | None = None
    paypal_client_secret: SecretStr | None = None
    paypal_webhook_id: str | None = None
    paypal_api_base: str = Field(
        default="https://api-m.sandbox.paypal.com", description="live: https://api-m.paypal.com"
    )
    paypal_webhook_verification: str = Field(default="offline", pattern="^(offline|api)$")
    paypal_timeout_seconds: int = Field(default=15, gt=0)
    paypal_brand_name: str | None = None
    alipay_app_id: str | None = None
    alipay_app_private_key: SecretStr | None = None
    alipay_public_key: str | None = None
    alipay_gateway_url: str = "https://openapi.alipay.com/gateway.do"
    alipay_product: str = Field(default="page", pattern="^(page|wap)$")
    alipayhk_app_id: str | None = None
    alipayhk_app_private_key: SecretStr | None = None
    alipayhk_public_key: str | None = None
    alipayhk_gateway_url: str | None = None
    alipayhk_product: str = Field(default="page", pattern="^(page|wap)$")
    wechatpay_mchid: str | None = None
    wechatpay_appid: str | None = None
    wechatpay_merchant_serial_no: str | None = None
    wechatpay_merchant_private_key: SecretStr | None = None
    wechatpay_apiv3_key: SecretStr | None = None
    wechatpay_region: str = Field(default="mainland", pattern="^(mainland|global)$")
    wechatpay_base_url: str | None = None
    wechatpay_merchant_category_code: str | None = None
    wechatpay_public_key: str | None = None
    wechatpay_public_key_id: str | None = None
    wechatpay_use_platform_certificates: bool | None = None
    voucher_pepper: SecretStr = Field(
        default=SecretStr("dev-only-voucher-pepper-change-me"),
        description="HMAC key of stored voucher PINs; changing it voids every unused PIN.",
    )
    voucher_tries_per_number_hour: int = Field(default=10, gt=0)
    voucher_tries_per_ip_hour: int = Field(default=30, gt=0)
    fps_payee_id: str | None = Field(
        default=None, description="FPS ID (or registered phone/e-mail); unset: FPS off"
    )
    fps_payee_name: str | None = None
    bank_account: str | None = Field(default=None, description="shown for plain transfers")
    # --- subscriber login (services/auth.py) ---
    redis_url: str | None = Field(
        default=None,
        description="redis://host:port/db for rate limits shared by all processes; "
        "unset: limits kept in process memory (embedded mode)",
    )
    login_secret: SecretStr = Field(
        default=SecretStr("dev-only-login-secret-change-me"),
        description="HMAC key for stored login codes; set a long random value in production.",
    )
    login_country_codes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["852", "86", "853"],
        description="Country calling codes that login codes may be sent to (SMS pumping).",
    )
    quick_lookups_per_ip_minute: int = Field(default=30, gt=0)
    quick_lookups_per_number_minute: int = Field(default=10, gt=0)
    quick_orders_per_ip_minute: int = Field(default=10, gt=0)
    quick_orders_per_number_minute: int = Field(default=5, gt=0)
    login_codes_per_number_hour: int = Field(default=5, gt=0)
    login_codes_per_ip_hour: int = Field(default=20, gt=0)
    login_codes_per_prefix_hour: int = Field(default=30, gt=0)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    @field_validator("login_country_codes", mode="before")
    @classmethod
    def _split_countries(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lstrip("+") for part in value.split(",") if part.strip()]
        return value

    @field_validator(
        "sandbox_secrets", "stripe_webhook_secrets", "stripe_payment_methods", mode="before"
    )
    @classmethod
    def _split_lists(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def order_ttl(self) -> timedelta:
        return timedelta(minutes=self.order_ttl_minutes)

    @property
    def worker_lease(self) -> timedelta:
        return timedelta(seconds=self.worker_lease_seconds)

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
