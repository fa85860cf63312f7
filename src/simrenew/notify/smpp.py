"""SMS over SMPP 3.4 (smpplib), bound as a transceiver.

One connection is kept open: it is bound on the first message (or by ``connect``)
and bound again after it drops. A listener thread owns the reading side: it hands
each ``submit_sm_resp`` to the waiting sender, answers ``enquire_link``, sends one
itself when the link is idle, and turns ``deliver_sm`` delivery receipts into
``DeliveryReceipt``s for the ``DeliveryStatusSink``.

Encoding: texts that fit the GSM 03.38 default alphabet go as ``data_coding`` 0,
one septet per octet (the SMSC packs them), anything else (Chinese) as UCS-2
(``data_coding`` 8, UTF-16BE). A text too long for one SMS (160 septets, 70 UCS-2
units) is split into parts of 153 septets or 67 units, each carrying a
concatenation UDH (IEI 0x00: 8-bit reference, total, sequence) with ``esm_class``
0x40; an escaped GSM character or a surrogate pair is never cut in two. The
reference is derived from our message id, so a retried message reassembles with
the parts of the first attempt rather than beside them.

Errors, as the outbox understands them:

    DeliveryError                 try again later: no connection, a refused or
     │                            failed bind, a throttled or failed submit_sm,
     │                            no answer in time
     └── PermanentDeliveryError   retrying cannot help: the SMSC refused the
                                  destination (ESME_RINVDSTADR and kin) or the
                                  message, or the text needs over 255 parts

Delivery receipts follow the de-facto format of SMPP 3.4 Appendix B
(``id:... sub:... dlvrd:... submit date:YYMMDDhhmm[ss] done date:... stat:DELIVRD
err:000 text:...``) in a ``deliver_sm`` with ``esm_class`` 0x04; the
``receipted_message_id`` and ``message_state`` TLVs are preferred when present.
Some SMSCs give the id in hex in one place and in decimal in the other; both are
tried when matching a receipt to our message.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import select
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from smpplib import client as smpp_client
from smpplib import consts, exceptions, smpp

from simrenew.ports import (
    DeliveryError,
    DeliveryReceipt,
    DeliveryStatus,
    DeliveryStatusSink,
    PermanentDeliveryError,
)

if TYPE_CHECKING:
    from simrenew.config import Settings

log = logging.getLogger(__name__)

CHANNEL = "smpp"

# --- encoding -----------------------------------------------------------------------

# GSM 03.38 default alphabet, by septet value; 0x1B escapes into the extension table.
_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = {
    "\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F,
    "[": 0x3C, "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65,
}  # fmt: skip
_GSM_CODES = {char: bytes([code]) for code, char in enumerate(_GSM_BASIC) if code != 0x1B}
_GSM_CODES.update({char: bytes([0x1B, code]) for char, code in _GSM_EXTENSION.items()})

DATA_CODING_GSM = consts.SMPP_ENCODING_DEFAULT  # 0x00
DATA_CODING_UCS2 = consts.SMPP_ENCODING_ISO10646  # 0x08
ESM_CLASS_UDHI = consts.SMPP_GSMFEAT_UDHI  # 0x40
_GSM_SINGLE, _GSM_PART = 160, 153  # septets; the 6-octet UDH takes 7 septets
_UCS2_SINGLE, _UCS2_PART = 140, 134  # octets: 70 and 67 UTF-16 units
_MAX_PARTS = 255


def gsm_encode(text: str) -> bytes | None:
    """``text`` in the GSM default alphabet, one septet per octet; None if it does not fit."""
    try:
        return b"".join(_GSM_CODES[char] for char in text)
    except KeyError:
        return None


@dataclass(frozen=True, slots=True)
class EncodedMessage:
    """What goes into the ``short_message`` of each ``submit_sm``."""

    data_coding: int
    esm_class: int
    parts: tuple[bytes, ...]


def encode_message(text: str, reference: int) -> EncodedMessage:
    """``text`` as one or more ``short_message``s; ``reference`` (0-255) ties the parts.

    Raises ``ValueError`` for an empty text or one that needs more than 255 parts.
    """
    if not text:
        raise ValueError("empty text")
    gsm = gsm_encode(text)
    if gsm is not None:
        units = [_GSM_CODES[char] for char in text]
        data_coding, single, part_size = DATA_CODING_GSM, _GSM_SINGLE, _GSM_PART
        whole = gsm
    else:
        data_coding, single, part_size = DATA_CODING_UCS2, _UCS2_SINGLE, _UCS2_PART
        # One unit per character: a character outside the BMP is a surrogate pair
        # (4 octets) that must stay in one part.
        units = [char.encode("utf-16-be") for char in text]
        whole = b"".join(units)
    if len(whole) <= single:
        return EncodedMessage(data_coding, 0, (whole,))
    chunks = list(_pack(units, part_size))
    if len(chunks) > _MAX_PARTS:
        raise ValueError(f"text needs {len(chunks)} parts, more than {_MAX_PARTS}")
    parts = tuple(
        bytes([0x05, 0x00, 0x03, reference, len(chunks), number]) + chunk
        for number, chunk in enumerate(chunks, start=1)
    )
    return EncodedMessage(data_coding, ESM_CLASS_UDHI, parts)


def _pack(units: list[bytes], size: int) -> Iterator[bytes]:
    chunk = b""
    for unit in units:
        if len(chunk) + len(unit) > size:
            yield chunk
            chunk = b""
        chunk += unit
    if chunk:
        yield chunk


def concat_reference(message_id: str) -> int:
    return hashlib.sha256(message_id.encode()).digest()[0]


# --- delivery receipts --------------------------------------------------------------

_RECEIPT_STATS = {
    "DELIVRD": DeliveryStatus.DELIVERED,
    "EXPIRED": DeliveryStatus.EXPIRED,
    "DELETED": DeliveryStatus.DELETED,
    "UNDELIV": DeliveryStatus.UNDELIVERABLE,
    "ACCEPTD": DeliveryStatus.ACCEPTED,
    "UNKNOWN": DeliveryStatus.UNKNOWN,
    "REJECTD": DeliveryStatus.REJECTED,
    "ENROUTE": DeliveryStatus.ENROUTE,
}
# The message_state TLV (SMPP 3.4 5.2.28).
_MESSAGE_STATES = {
    consts.SMPP_MESSAGE_STATE_ENROUTE: DeliveryStatus.ENROUTE,
    consts.SMPP_MESSAGE_STATE_DELIVERED: DeliveryStatus.DELIVERED,
    consts.SMPP_MESSAGE_STATE_EXPIRED: DeliveryStatus.EXPIRED,
    consts.SMPP_MESSAGE_STATE_DELETED: DeliveryStatus.DELETED,
    consts.SMPP_MESSAGE_STATE_UNDELIVERABLE: DeliveryStatus.UNDELIVERABLE,
    consts.SMPP_MESSAGE_STATE_ACCEPTED: DeliveryStatus.ACCEPTED,
    consts.SMPP_MESSAGE_STATE_UNKNOWN: DeliveryStatus.UNKNOWN,
    consts.SMPP_MESSAGE_STATE_REJECTED: DeliveryStatus.REJECTED,
}
_ESM_MESSAGE_TYPE = 0x3C
_ESM_DELIVERY_RECEIPT = 0x04
_RECEIPT_FIELD = re.compile(r"(id|stat|err|done date):(\S*)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ParsedReceipt:
    provider_message_id: str
    status: DeliveryStatus
    error_code: str | None
    done_at: datetime | None


def parse_receipt(
    short_message: bytes,
    *,
    receipted_message_id: bytes | None = None,
    message_state: int | None = None,
    tz: tzinfo = UTC,
) -> ParsedReceipt:
    """A delivery receipt's fields; ``tz`` is the SMSC's zone for its dates.

    Raises ``ValueError`` when neither the text nor the TLVs name the message and
    its state.
    """
    text = short_message.decode("latin-1")
    # "text:" carries the start of the message itself: never read fields from it.
    head = re.split(r"\btext:", text, maxsplit=1, flags=re.IGNORECASE)[0]
    fields = {name.lower(): value for name, value in _RECEIPT_FIELD.findall(head)}
    provider_id = (
        receipted_message_id.decode("latin-1") if receipted_message_id else fields.get("id")
    )
    if message_state in _MESSAGE_STATES:
        status: DeliveryStatus | None = _MESSAGE_STATES[message_state]
    else:
        status = _RECEIPT_STATS.get(fields.get("stat", "").upper())
    if not provider_id or status is None:
        raise ValueError(f"not a delivery receipt: {text[:80]!r}")
    return ParsedReceipt(
        provider_message_id=provider_id,
        status=status,
        error_code=fields.get("err") or None,
        done_at=_receipt_time(fields.get("done date", ""), tz),
    )


def _receipt_time(value: str, tz: tzinfo) -> datetime | None:
    # strptime would read "2603010405" with seconds as 04:0:5: pick by length.
    pattern = {10: "%y%m%d%H%M", 12: "%y%m%d%H%M%S"}.get(len(value))
    if pattern is None or not value.isdigit():
        return None
    try:
        return datetime.strptime(value, pattern).replace(tzinfo=tz).astimezone(UTC)
    except ValueError:
        return None


class _SentIds:
    """Which of our messages each recent SMSC message id belongs to, bounded."""

    def __init__(self, limit: int = 100_000) -> None:
        self._ids: OrderedDict[str, str] = OrderedDict()
        self._limit = limit
        self._lock = threading.Lock()

    def add(self, provider_id: str, message_id: str) -> None:
        with self._lock:
            self._ids[_normal(provider_id)] = message_id
            while len(self._ids) > self._limit:
                self._ids.popitem(last=False)

    def find(self, provider_id: str) -> str | None:
        with self._lock:
            for candidate in _id_variants(provider_id):
                if candidate in self._ids:
                    return self._ids[candidate]
        return None


def _normal(provider_id: str) -> str:
    return provider_id.strip().lower().lstrip("0") or "0"


def _id_variants(provider_id: str) -> Iterator[str]:
    normal = _normal(provider_id)
    yield normal
    if normal.isdigit():
        yield _normal(format(int(normal), "x"))
    if re.fullmatch(r"[0-9a-f]+", normal):
        yield _normal(str(int(normal, 16)))


# --- the connection -----------------------------------------------------------------

# submit_sm answers that no retry can change: the destination or the message is wrong.
_PERMANENT_STATUSES = frozenset(
    {
        consts.SMPP_ESME_RINVDSTADR,
        consts.SMPP_ESME_RINVDSTTON,
        consts.SMPP_ESME_RINVDSTNPI,
        consts.SMPP_ESME_RINVMSGLEN,
        consts.SMPP_ESME_RINVESMCLASS,
        consts.SMPP_ESME_RX_P_APPN,
        consts.SMPP_ESME_RX_R_APPN,
        0x00000104,  # ESME_RINVDCS in some SMSCs' tables: the data coding is refused
    }
)


_CLOSE_WAIT = timedelta(seconds=2)


class _LinkLost(Exception):
    """The connection dropped (or answered nothing in time) while we waited."""


class _NoAnswer(_LinkLost):
    """The SMSC answered nothing in time: it may have taken the PDU all the same."""


class _FirstPartLost(_LinkLost):
    """The connection dropped before the SMSC took any part of the message."""


class _SequenceGenerator:
    """smpplib's generator, safe to share between the sender and the listener."""

    def __init__(self) -> None:
        self._sequence = 0
        self._lock = threading.Lock()

    @property
    def sequence(self) -> int:
        return self._sequence

    def next_sequence(self) -> int:
        with self._lock:
            self._sequence = self._sequence % 0x7FFFFFFF + 1
            return self._sequence


@dataclass
class _Pending:
    message_id: str | None
    part: int = 1
    done: threading.Event = field(default_factory=threading.Event)
    response: Any = None  # the answering PDU; None when the link was lost


class _Link:
    """One bound connection and the listener thread that reads it."""

    def __init__(
        self,
        client: Any,
        *,
        sent: _SentIds,
        on_receipt: Callable[[ParsedReceipt], None],
        on_submitted: Callable[[str, str, int], None],
        enquire_interval: timedelta,
        receipt_tz: tzinfo,
    ) -> None:
        self._client = client
        self._receipt_tz = receipt_tz
        self._sent = sent
        self._on_receipt = on_receipt
        self._on_submitted = on_submitted
        self._enquire_seconds = enquire_interval.total_seconds()
        self._pending: dict[int, _Pending] = {}
        self._lock = threading.Lock()  # guards writes and _pending
        self._alive = True
        self._thread = threading.Thread(target=self._listen, name="smpp-listener", daemon=True)

    @property
    def alive(self) -> bool:
        return self._alive

    @property
    def client(self) -> Any:
        """The smpplib client: PDUs are made with it (it numbers them)."""
        return self._client

    def start(self) -> None:
        self._thread.start()

    def request(
        self, pdu: Any, timeout: timedelta, *, message_id: str | None = None, part: int = 1
    ) -> Any:
        """Send ``pdu`` and wait for its answer; raises ``_LinkLost``."""
        pending = _Pending(message_id, part)
        with self._lock:
            if not self._alive:
                raise _LinkLost("not connected")
            self._pending[pdu.sequence] = pending
            try:
                self._client.send_pdu(pdu)
            except (exceptions.ConnectionError, OSError) as exc:
                self._pending.pop(pdu.sequence, None)
                raise _LinkLost(f"sending {pdu.command} failed") from exc
        if not pending.done.wait(timeout.total_seconds()):
            # An answer that may still come would be matched to nothing: start afresh.
            self.close()
            raise _NoAnswer(f"no answer to {pdu.command} within {timeout.total_seconds():g} s")
        if pending.response is None:
            raise _LinkLost("the connection dropped")
        return pending.response

    def close(self, *, unbind: bool = False, timeout: timedelta = _CLOSE_WAIT) -> None:
        if unbind and self._alive:
            with contextlib.suppress(_LinkLost):
                self.request(smpp.make_pdu("unbind", client=self._client), timeout)
        with self._lock:
            self._alive = False
            sock = self._client._socket
        if sock is not None:
            # shutdown wakes the listener blocked in select/recv; close alone may not.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if threading.current_thread() is not self._thread and self._thread.is_alive():
            self._thread.join(timeout.total_seconds())
        self._release()

    def _release(self) -> None:
        with self._lock:
            self._alive = False
            pending, self._pending = self._pending, {}
            if self._client._socket is not None:
                self._client.disconnect()
        for waiter in pending.values():
            waiter.done.set()

    def _send(self, pdu: Any) -> None:
        with self._lock:
            if self._alive:
                self._client.send_pdu(pdu)

    def _listen(self) -> None:
        probing = False
        try:
            while self._alive:
                sock = self._client._socket
                if sock is None:
                    break
                readable, _, _ = select.select([sock], [], [], self._enquire_seconds)
                if not self._alive:
                    break
                if not readable:
                    if probing:
                        # A peer gone without closing (a cut line, a dead NAT entry).
                        raise exceptions.ConnectionError("no answer to enquire_link")
                    # Idle: prove the link still works (the answer needs no waiter).
                    self._send(smpp.make_pdu("enquire_link", client=self._client))
                    probing = True
                    continue
                probing = False
                pdu = self._client.read_pdu()
                if not self._handle(pdu):
                    break
        except (exceptions.ConnectionError, exceptions.PDUError, OSError, ValueError) as exc:
            if self._alive:
                log.warning("SMPP connection lost: %s", str(exc) or type(exc).__name__)
        except Exception:
            log.exception("SMPP listener failed")
        finally:
            self._release()

    def _handle(self, pdu: Any) -> bool:
        """Act on one PDU; False when the SMSC ends the session."""
        command = pdu.command
        if command == "deliver_sm":
            status = self._on_deliver(pdu)
            self._respond(pdu, "deliver_sm_resp", status=status)
        elif command == "enquire_link":
            self._respond(pdu, "enquire_link_resp")
        elif command == "unbind":
            self._respond(pdu, "unbind_resp")
            return False
        elif pdu.is_response():
            with self._lock:
                pending = self._pending.pop(pdu.sequence, None)
            if pending is not None:
                if command == "submit_sm_resp" and not pdu.is_error():
                    # Recorded here, before the next PDU is read: its receipt may be next.
                    self._record_submission(pending.message_id, _text(pdu.message_id), pending.part)
                pending.response = pdu
                pending.done.set()
        else:
            self._respond(pdu, "generic_nack", status=consts.SMPP_ESME_RINVCMDID)
        return True

    def _respond(self, request: Any, command: str, *, status: int = 0) -> None:
        response = smpp.make_pdu(command, client=self._client, status=status)
        response.sequence = request.sequence
        self._send(response)

    def _record_submission(self, message_id: str | None, provider_id: str, part: int) -> None:
        if message_id is None or not provider_id:
            return
        self._sent.add(provider_id, message_id)
        try:
            self._on_submitted(message_id, provider_id, part)
        except Exception:
            log.exception("recording SMPP submission %s failed", provider_id)

    def _on_deliver(self, pdu: Any) -> int:
        if (pdu.esm_class or 0) & _ESM_MESSAGE_TYPE != _ESM_DELIVERY_RECEIPT:
            # A message from a phone: simrenew takes no replies by SMS.
            log.info("ignored a mobile-originated SMS from %s", _text(pdu.source_addr))
            return int(consts.SMPP_ESME_ROK)
        try:
            receipt = parse_receipt(
                pdu.short_message or b"",
                receipted_message_id=pdu.receipted_message_id,
                message_state=pdu.message_state,
                tz=self._receipt_tz,
            )
        except ValueError as exc:
            log.warning("unreadable SMPP delivery receipt: %s", exc)
            return int(consts.SMPP_ESME_ROK)  # a retry would be just as unreadable
        try:
            self._on_receipt(receipt)
        except Exception:
            log.exception("recording SMPP receipt %s failed", receipt.provider_message_id)
            # A temporary error: the SMSC delivers the receipt again later.
            return int(consts.SMPP_ESME_RX_T_APPN)
        return int(consts.SMPP_ESME_ROK)


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("latin-1") if isinstance(value, bytes) else value


# --- the sender ---------------------------------------------------------------------


class SmppSender:
    """An ``SmsSender`` over one SMPP transceiver bind.

    ``send_sms`` submits each part and waits for its ``submit_sm_resp``; it is
    thread-safe and sends one message at a time. Receipts reach ``receipts`` from
    the listener thread (logged when no sink is given). The password appears in no
    message, error or ``repr``. Call ``close`` to unbind.
    """

    def __init__(
        self,
        host: str,
        port: int,
        system_id: str,
        password: str,
        *,
        source_addr: str,
        system_type: str = "",
        receipts: DeliveryStatusSink | None = None,
        timeout: timedelta = timedelta(seconds=10),
        enquire_link_interval: timedelta = timedelta(seconds=30),
        receipt_tz: tzinfo = UTC,
    ) -> None:
        if not source_addr or not source_addr.isascii():
            raise ValueError("source_addr must be a non-empty ASCII sender id or number")
        self.host = host
        self.port = port
        self.system_id = system_id
        self._password = password
        self.system_type = system_type
        self.source_addr = source_addr
        self.timeout = timeout
        self.enquire_link_interval = enquire_link_interval
        self._receipts = receipts
        self._receipt_tz = receipt_tz
        self._sent = _SentIds()
        self._link: _Link | None = None
        self._lock = threading.RLock()
        digits = source_addr.lstrip("+")
        if digits.isdigit():
            self._source = (consts.SMPP_TON_INTL, consts.SMPP_NPI_ISDN, digits)
        else:  # an alphanumeric sender id, e.g. "simrenew"
            self._source = (consts.SMPP_TON_ALNUM, consts.SMPP_NPI_UNK, source_addr)

    @classmethod
    def from_settings(
        cls, settings: Settings, receipts: DeliveryStatusSink | None = None
    ) -> SmppSender:
        if not (settings.smpp_host and settings.smpp_system_id and settings.smpp_password):
            raise ValueError("smpp_host, smpp_system_id and smpp_password must be set")
        return cls(
            settings.smpp_host,
            settings.smpp_port,
            settings.smpp_system_id,
            settings.smpp_password.get_secret_value(),
            source_addr=settings.smpp_source_addr,
            system_type=settings.smpp_system_type,
            receipts=receipts,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(host={self.host!r}, port={self.port!r}, "
            f"system_id={self.system_id!r}, source_addr={self.source_addr!r})"
        )

    @property
    def bound(self) -> bool:
        link = self._link
        return link is not None and link.alive

    def connect(self) -> None:
        """Bind now (if not bound) so receipts flow before the first message;
        raises ``DeliveryError``."""
        with self._lock:
            self._bound_link()

    def close(self) -> None:
        with self._lock:
            link, self._link = self._link, None
            if link is not None:
                link.close(unbind=True, timeout=self.timeout)

    def send_sms(self, to: str, text: str, *, message_id: str) -> None:
        destination = to.strip().removeprefix("+")
        if not destination.isdigit() or len(destination) > 20:
            raise PermanentDeliveryError(f"{to!r} is not an international phone number")
        try:
            message = encode_message(text, concat_reference(message_id))
        except ValueError as exc:
            raise PermanentDeliveryError(f"cannot send SMS {message_id!r}: {exc}") from exc
        with self._lock:
            reused = self.bound
            link = self._bound_link()
            try:
                self._submit(link, destination, message, message_id)
            except _FirstPartLost as exc:
                if not reused:
                    raise DeliveryError(f"{self._where()}: {exc}") from exc
                # The connection dropped under the first part: most likely it had
                # gone stale while idle (an SMSC restart the listener had not yet
                # seen). Bind again and resend once; a second drop is the relay's.
                log.info("SMPP connection was stale; binding again")
                link = self._bound_link()
                try:
                    self._submit(link, destination, message, message_id)
                except _LinkLost as exc2:
                    raise DeliveryError(f"{self._where()}: {exc2}") from exc2
            except _LinkLost as exc:
                raise DeliveryError(f"{self._where()}: {exc}") from exc

    def _submit(
        self, link: _Link, destination: str, message: EncodedMessage, message_id: str
    ) -> None:
        source_ton, source_npi, source = self._source
        for number, short_message in enumerate(message.parts, start=1):
            pdu = smpp.make_pdu(
                "submit_sm",
                client=link.client,
                service_type="",
                source_addr_ton=source_ton,
                source_addr_npi=source_npi,
                source_addr=source,
                dest_addr_ton=consts.SMPP_TON_INTL,
                dest_addr_npi=consts.SMPP_NPI_ISDN,
                destination_addr=destination,
                esm_class=message.esm_class,
                data_coding=message.data_coding,
                registered_delivery=consts.SMPP_SMSC_DELIVERY_RECEIPT_BOTH,
                short_message=short_message,
            )
            try:
                response = link.request(pdu, self.timeout, message_id=message_id, part=number)
            except _NoAnswer:
                raise
            except _LinkLost as exc:
                if number == 1:
                    raise _FirstPartLost(str(exc)) from exc
                raise
            if response.is_error():
                status = int(response.status)
                description = consts.DESCRIPTIONS.get(status, "unknown status")
                error = (
                    f"{self._where()} refused part {number}/{len(message.parts)} of "
                    f"{message_id!r} to {destination}: 0x{status:08X} {description}"
                )
                if response.command == "submit_sm_resp" and status in _PERMANENT_STATUSES:
                    raise PermanentDeliveryError(error)
                raise DeliveryError(error)

    def _bound_link(self) -> _Link:
        link = self._link
        if link is not None and link.alive:
            return link
        if link is not None:
            link.close()
        client = smpp_client.Client(
            self.host,
            self.port,
            timeout=self.timeout.total_seconds(),
            sequence_generator=_SequenceGenerator(),
            logger_name=__name__ + ".client",
            allow_unknown_opt_params=True,
        )
        try:
            client.connect()
            client.bind_transceiver(
                system_id=self.system_id,
                password=self._password,
                system_type=self.system_type,
            )
        except (exceptions.ConnectionError, exceptions.PDUError, OSError) as exc:
            client.disconnect()
            # smpplib's texts name the status, never the password.
            raise DeliveryError(
                f"{self._where()}: bind as {self.system_id!r} failed: {exc}"
            ) from exc
        self._link = _Link(
            client,
            sent=self._sent,
            on_receipt=self._deliver_receipt,
            on_submitted=self._record_submission,
            enquire_interval=self.enquire_link_interval,
            receipt_tz=self._receipt_tz,
        )
        self._link.start()
        return self._link

    def _record_submission(self, message_id: str, provider_id: str, part: int) -> None:
        if self._receipts is not None:
            self._receipts.record_submission(message_id, provider_id, CHANNEL, part)

    def _deliver_receipt(self, parsed: ParsedReceipt) -> None:
        receipt = DeliveryReceipt(
            channel=CHANNEL,
            provider_message_id=parsed.provider_message_id,
            message_id=self._sent.find(parsed.provider_message_id),
            status=parsed.status,
            error_code=parsed.error_code,
            done_at=parsed.done_at,
        )
        if self._receipts is None:
            log.info(
                "SMS %s (%s): %s", receipt.message_id, receipt.provider_message_id, receipt.status
            )
        else:
            self._receipts.record_receipt(receipt)

    def _where(self) -> str:
        return f"SMPP {self.host}:{self.port}"
