"""Money in integer minor units. There is no float anywhere on the money path."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from simrenew.domain.errors import CurrencyMismatch, InvalidMoney

# Minor units per currency; both currencies we sell in have cents / fen.
MINOR_DIGITS: Final[dict[str, int]] = {"HKD": 2, "CNY": 2}
SYMBOLS: Final[dict[str, str]] = {"HKD": "HK$", "CNY": "¥"}

# ASCII digits only: \d would also take full-width and other scripts' digits.
_DECIMAL = re.compile(r"^(?P<sign>-?)(?P<whole>[0-9]+)(?:\.(?P<frac>[0-9]+))?$")


def check_currency(currency: str) -> str:
    if currency not in MINOR_DIGITS:
        raise InvalidMoney(value=currency, reason="currency must be HKD or CNY")
    return currency


@dataclass(frozen=True, slots=True, order=True)
class Money:
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount_minor, bool) or not isinstance(self.amount_minor, int):
            raise InvalidMoney(value=self.amount_minor, reason="amount must be integer minor units")
        check_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str | int, currency: str) -> Money:
        """Parse ``"88"``, ``"88.5"`` or ``"88.50"`` (major units) exactly; ints are major units."""
        check_currency(currency)
        digits = MINOR_DIGITS[currency]
        if isinstance(text, bool) or not isinstance(text, (str, int)):
            raise InvalidMoney(
                value=text, reason='write amounts as a quoted decimal string, e.g. "88.00"'
            )
        if isinstance(text, int):
            return cls(text * 10**digits, currency)
        match = _DECIMAL.match(text.strip())
        if not match:
            raise InvalidMoney(value=text, reason="expected a decimal like 88.00")
        frac = match["frac"] or ""
        if len(frac) > digits:
            raise InvalidMoney(value=text, reason=f"at most {digits} decimal places")
        minor = int(match["whole"]) * 10**digits + int(frac.ljust(digits, "0") or "0")
        return cls(-minor if match["sign"] else minor, currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(left=self.currency, right=other.currency)

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount_minor, self.currency)

    def percent(self, percent: int) -> Money:
        """``percent`` % of this amount, rounded half up to the minor unit."""
        return Money((self.amount_minor * percent + 50) // 100, self.currency)

    def is_zero(self) -> bool:
        return self.amount_minor == 0

    def decimal_str(self) -> str:
        digits = MINOR_DIGITS[self.currency]
        sign = "-" if self.amount_minor < 0 else ""
        whole, frac = divmod(abs(self.amount_minor), 10**digits)
        return f"{sign}{whole}.{frac:0{digits}d}"

    def display(self) -> str:
        """``HK$88.00`` / ``¥30.00``; locale-aware formatting lives at the web edge."""
        text = self.decimal_str()
        if text.startswith("-"):
            return f"-{SYMBOLS[self.currency]}{text[1:]}"
        return f"{SYMBOLS[self.currency]}{text}"

    def __str__(self) -> str:
        return self.display()
