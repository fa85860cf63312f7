"""SmppSender against a real SMSC simulator process (tests/fakes/smsc.py) on 127.0.0.1.

The expected octets are written out here from GSM 03.38, UTF-16BE and the
concatenation UDH of 3GPP TS 23.040 (IEI 0x00: reference, total, sequence), not
computed with the adapter's own tables.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine

from simrenew.bootstrap import App, ChannelMisconfigured, sms_sender
from simrenew.config import Settings
from simrenew.domain.outbox import OutboxKind, OutboxState
from simrenew.notify.dev_inbox import DevInbox
from simrenew.notify.smpp import SmppSender, encode_message, parse_receipt
from simrenew.ports import DeliveryError, DeliveryReceipt, DeliveryStatus, PermanentDeliveryError
from tests.fakes.smsc import PASSWORD, SYSTEM_ID, RecordedPdu, SmscProcess, free_port, wait_for

PHONE = "+85291234567"
UNDELIVERED = "+85291110000"  # the simulator reports UNDELIV err:001 for it
REFUSED = "+85200000000"  # the simulator answers ESME_RINVDSTADR
UDH_HEAD = b"\x05\x00\x03"  # UDH length 5, IEI 0x00 (concatenation, 8-bit ref), IE length 3


class MemorySink:
    """A DeliveryStatusSink that keeps what it is told; fed from the listener thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.submissions: list[tuple[str, str, str]] = []
        self.receipts: list[DeliveryReceipt] = []

    def record_submission(
        self, message_id: str, provider_message_id: str, channel: str, part: int = 1
    ) -> None:
        with self._lock:
            self.submissions.append((message_id, provider_message_id, channel))

    def record_receipt(self, receipt: DeliveryReceipt) -> None:
        with self._lock:
            self.receipts.append(receipt)

    def receipts_for(self, message_id: str) -> list[DeliveryReceipt]:
        with self._lock:
            return [r for r in self.receipts if r.message_id == message_id]


@pytest.fixture
def smsc(tmp_path: Path) -> Iterator[SmscProcess]:
    process = SmscProcess(
        tmp_path / "smsc.jsonl",
        "--refuse", REFUSED.lstrip("+"),
        "--receipt", f"{UNDELIVERED.lstrip('+')}=UNDELIV:001",
    )  # fmt: skip
    process.start()
    yield process
    process.stop()


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def sender(smsc: SmscProcess, sink: MemorySink) -> Iterator[SmppSender]:
    sender = SmppSender(
        "127.0.0.1",
        smsc.port,
        SYSTEM_ID,
        PASSWORD,
        source_addr="simrenew",
        system_type="renewals",
        receipts=sink,
        timeout=timedelta(seconds=3),
    )
    yield sender
    sender.close()


def submits(smsc: SmscProcess) -> list[RecordedPdu]:
    return smsc.pdus("submit_sm")


def reassemble(parts: list[bytes]) -> tuple[int, bytes]:
    """Check each part's UDH; the reference and the payloads joined in order."""
    references = set()
    numbered = []
    for part in parts:
        assert part[:3] == UDH_HEAD
        reference, total, number = part[3], part[4], part[5]
        assert total == len(parts)
        references.add(reference)
        numbered.append((number, part[6:]))
    assert len(references) == 1
    assert sorted(number for number, _ in numbered) == list(range(1, len(parts) + 1))
    return references.pop(), b"".join(payload for _, payload in sorted(numbered))


# --- binding ------------------------------------------------------------------------


def test_binds_once_as_a_transceiver_and_answers_the_smscs_enquire_link(
    smsc: SmscProcess, sender: SmppSender
) -> None:
    sender.connect()
    sender.connect()  # already bound: no second bind
    sender.send_sms(PHONE, "hello", message_id="msg_1")

    [bind] = smsc.pdus("bind_transceiver")
    assert bind.text("system_id") == SYSTEM_ID
    assert bind.text("password") == PASSWORD
    assert bind.text("system_type") == "renewals"
    assert bind.fields["interface_version"] == 0x34
    [answer] = smsc.pdus("bind_transceiver_resp", direction="out")
    assert answer.status == 0 and answer.sequence == bind.sequence

    # The simulator probes the link right after the bind; the listener answers it.
    [probe] = smsc.pdus("enquire_link", direction="out")
    [reply] = wait_for(lambda: smsc.pdus("enquire_link_resp"))
    assert (reply.sequence, reply.status) == (probe.sequence, 0)


def test_an_idle_link_is_kept_alive_with_enquire_link(smsc: SmscProcess, sink: MemorySink) -> None:
    sender = SmppSender(
        "127.0.0.1", smsc.port, SYSTEM_ID, PASSWORD, source_addr="simrenew",
        receipts=sink, enquire_link_interval=timedelta(milliseconds=250),
    )  # fmt: skip
    try:
        sender.connect()
        asked = wait_for(lambda: smsc.pdus("enquire_link"))
        answered = wait_for(lambda: smsc.pdus("enquire_link_resp", direction="out"))
        assert asked[0].sequence == answered[0].sequence
    finally:
        sender.close()
    assert smsc.pdus("unbind")  # close unbinds politely


def test_a_wrong_password_is_retryable_and_never_shown(smsc: SmscProcess) -> None:
    sender = SmppSender(
        "127.0.0.1",
        smsc.port,
        SYSTEM_ID,
        "wrongpw9",
        source_addr="simrenew",
        timeout=timedelta(seconds=3),
    )
    with pytest.raises(DeliveryError, match="bind") as caught:
        sender.send_sms(PHONE, "hello", message_id="msg_1")
    assert not isinstance(caught.value, PermanentDeliveryError)
    assert "wrongpw9" not in str(caught.value) and "wrongpw9" not in repr(sender)
    assert "Invalid Password" in str(caught.value)  # ESME_RINVPASWD, as the SMSC said
    assert submits(smsc) == []
    sender.close()


def test_nothing_listening_is_retryable() -> None:
    sender = SmppSender("127.0.0.1", free_port(), SYSTEM_ID, PASSWORD, source_addr="simrenew")
    with pytest.raises(DeliveryError) as caught:
        sender.send_sms(PHONE, "hello", message_id="msg_1")
    assert not isinstance(caught.value, PermanentDeliveryError)


# --- encoding and splitting ---------------------------------------------------------


def test_a_short_text_goes_as_one_gsm_7_bit_message(smsc: SmscProcess, sender: SmppSender) -> None:
    sender.send_sms(PHONE, "Paid HK$88 {ok} €5 @home", message_id="msg_1")

    [submit] = submits(smsc)
    fields = submit.fields
    assert (fields["data_coding"], fields["esm_class"], fields["registered_delivery"]) == (0, 0, 1)
    assert (fields["dest_addr_ton"], fields["dest_addr_npi"]) == (1, 1)
    assert submit.text("destination_addr") == "85291234567"
    assert (fields["source_addr_ton"], submit.text("source_addr")) == (5, "simrenew")
    # GSM 03.38, one septet per octet: "$" is 0x02, "@" 0x00, "{" "}" "€" escaped by 0x1B.
    assert fields["short_message"] == b"Paid HK\x0288 \x1b(ok\x1b) \x1be5 \x00home"


def test_a_chinese_text_goes_as_ucs2(smsc: SmscProcess, sender: SmppSender) -> None:
    text = "您的驗證碼是 482913，五分鐘內有效。"
    sender.send_sms(PHONE, text, message_id="msg_1")

    [submit] = submits(smsc)
    assert (submit.fields["data_coding"], submit.fields["esm_class"]) == (0x08, 0)
    assert submit.fields["short_message"].decode("utf-16-be") == text


def test_a_long_chinese_text_is_split_into_67_character_parts(
    smsc: SmscProcess, sender: SmppSender
) -> None:
    # 66 characters, then an emoji (a surrogate pair) that would straddle the cut.
    text = "續" * 66 + "📶" + "期成功，您的計劃已生效。" * 8
    sender.send_sms(PHONE, text, message_id="msg_long_zh")

    parts = submits(smsc)
    assert len(parts) == 3
    assert {(p.fields["data_coding"], p.fields["esm_class"]) for p in parts} == {(0x08, 0x40)}
    payloads = [p.fields["short_message"] for p in parts]
    assert [len(p) - 6 for p in payloads] == [132, 134, len(text.encode("utf-16-be")) - 266]
    for payload in payloads:
        payload[6:].decode("utf-16-be")  # each part decodes alone: no pair cut in two
    _, joined = reassemble(payloads)
    assert joined.decode("utf-16-be") == text


def test_a_long_latin_text_is_split_into_153_septet_parts(
    smsc: SmscProcess, sender: SmppSender
) -> None:
    # "€" (two septets: 0x1B 0x65) would straddle the first cut at septet 153.
    text = "A" * 152 + "€" + "Your plan is renewed until 30 April. " * 6
    sender.send_sms(PHONE, text, message_id="msg_long_en")
    sender.send_sms(PHONE, text, message_id="msg_long_en_2")

    first = [p.fields["short_message"] for p in submits(smsc)[:3]]
    second = [p.fields["short_message"] for p in submits(smsc)[3:]]
    assert [len(p) - 6 for p in first] == [152, 153, len(text) + 1 - 305]
    assert {p.fields["esm_class"] for p in submits(smsc)} == {0x40}
    reference, joined = reassemble(first)
    assert joined.replace(b"\x1be", "€".encode()).decode() == text
    # Another message gets its own reference (derived from its id), so two long
    # messages to one phone do not mix; 1 in 256 ids would collide, not these two.
    assert reassemble(second)[0] != reference


def test_a_text_needing_over_255_parts_is_permanent(smsc: SmscProcess, sender: SmppSender) -> None:
    with pytest.raises(PermanentDeliveryError, match="255"):
        sender.send_sms(PHONE, "字" * (67 * 255 + 1), message_id="msg_1")
    assert submits(smsc) == []


def test_encoding_picks_the_smallest_fitting_form() -> None:
    assert encode_message("a" * 160, 7).parts == (b"a" * 160,)
    assert len(encode_message("a" * 161, 7).parts) == 2
    assert len(encode_message("字" * 70, 7).parts) == 1
    assert len(encode_message("字" * 71, 7).parts) == 2
    assert encode_message("€" * 80, 7).parts == (b"\x1be" * 80,)  # 160 septets
    assert len(encode_message("€" * 81, 7).parts) == 2


# --- errors -------------------------------------------------------------------------


def test_a_refused_destination_is_permanent_and_the_bind_stays(
    smsc: SmscProcess, sender: SmppSender
) -> None:
    with pytest.raises(PermanentDeliveryError, match="0x0000000B"):
        sender.send_sms(REFUSED, "hello", message_id="msg_1")
    sender.send_sms(PHONE, "hello", message_id="msg_2")
    assert len(smsc.pdus("bind_transceiver")) == 1
    assert [p.text("destination_addr") for p in submits(smsc)] == ["85200000000", "85291234567"]


def test_a_number_that_is_not_a_phone_number_is_permanent(
    smsc: SmscProcess, sender: SmppSender
) -> None:
    with pytest.raises(PermanentDeliveryError):
        sender.send_sms("call me", "hello", message_id="msg_1")
    assert submits(smsc) == []


# --- delivery receipts --------------------------------------------------------------


def test_receipts_reach_the_sink_with_our_ids_and_statuses(
    smsc: SmscProcess, sender: SmppSender, sink: MemorySink
) -> None:
    before = datetime.now(UTC).replace(second=0, microsecond=0)
    sender.send_sms(PHONE, "delivered", message_id="msg_ok")
    sender.send_sms(UNDELIVERED, "lost", message_id="msg_lost")
    sender.send_sms(PHONE, "長" * 100, message_id="msg_two_parts")
    wait_for(lambda: len(sink.receipts) == 4)

    smsc_ids = [p.text("message_id") for p in smsc.pdus("submit_sm_resp", direction="out")]
    assert sink.submissions == [
        ("msg_ok", smsc_ids[0], "smpp"),
        ("msg_lost", smsc_ids[1], "smpp"),
        ("msg_two_parts", smsc_ids[2], "smpp"),
        ("msg_two_parts", smsc_ids[3], "smpp"),
    ]
    [ok] = sink.receipts_for("msg_ok")
    assert (ok.provider_message_id, ok.status, ok.error_code) == (
        smsc_ids[0],
        DeliveryStatus.DELIVERED,
        "000",
    )
    assert ok.done_at is not None and before <= ok.done_at <= datetime.now(UTC)
    [lost] = sink.receipts_for("msg_lost")
    assert (lost.provider_message_id, lost.status, lost.error_code) == (
        smsc_ids[1],
        DeliveryStatus.UNDELIVERABLE,
        "001",
    )
    assert lost.status.final
    parts = sink.receipts_for("msg_two_parts")
    assert sorted(r.provider_message_id for r in parts) == smsc_ids[2:]

    # Every receipt was acknowledged with ESME_ROK under its own sequence number.
    sent = smsc.pdus("deliver_sm", direction="out")
    acks = wait_for(lambda: len(smsc.pdus("deliver_sm_resp")) == 4 and smsc.pdus("deliver_sm_resp"))
    assert sorted(a.sequence for a in acks) == sorted(d.sequence for d in sent)
    assert {a.status for a in acks} == {0}
    assert {d.fields["esm_class"] for d in sent} == {0x04}


def test_receipt_tlvs_are_read_when_the_smsc_sends_them(tmp_path: Path) -> None:
    sink = MemorySink()
    smsc = SmscProcess(
        tmp_path / "smsc.jsonl", "--receipt-tlvs", "--receipt", "85291234567=EXPIRED:027"
    )
    smsc.start()
    sender = SmppSender(
        "127.0.0.1", smsc.port, SYSTEM_ID, PASSWORD, source_addr="+85260000000", receipts=sink
    )
    try:
        sender.send_sms(PHONE, "hello", message_id="msg_1")
        [receipt] = wait_for(lambda: sink.receipts_for("msg_1"))
    finally:
        sender.close()
        smsc.stop()
    [submit] = submits(smsc)
    assert (submit.fields["source_addr_ton"], submit.text("source_addr")) == (1, "85260000000")
    assert receipt.status is DeliveryStatus.EXPIRED and receipt.error_code == "027"


def test_a_receipt_giving_the_id_in_decimal_still_finds_our_message(tmp_path: Path) -> None:
    sink = MemorySink()
    smsc = SmscProcess(tmp_path / "smsc.jsonl", "--decimal-receipt-ids")
    smsc.start()
    sender = SmppSender(
        "127.0.0.1", smsc.port, SYSTEM_ID, PASSWORD, source_addr="simrenew", receipts=sink
    )
    try:
        sender.send_sms(PHONE, "hello", message_id="msg_1")
        [receipt] = wait_for(lambda: sink.receipts)
    finally:
        sender.close()
        smsc.stop()
    [(_, hex_id, _)] = sink.submissions
    assert receipt.provider_message_id == str(int(hex_id, 16))
    assert receipt.message_id == "msg_1"


class BrokenSink(MemorySink):
    def record_receipt(self, receipt: DeliveryReceipt) -> None:
        raise RuntimeError("database down")


def test_a_receipt_the_sink_cannot_take_is_answered_with_a_temporary_error(
    smsc: SmscProcess,
) -> None:
    sender = SmppSender(
        "127.0.0.1", smsc.port, SYSTEM_ID, PASSWORD, source_addr="simrenew", receipts=BrokenSink()
    )
    try:
        sender.send_sms(PHONE, "hello", message_id="msg_1")
        [ack] = wait_for(lambda: smsc.pdus("deliver_sm_resp"))
    finally:
        sender.close()
    assert ack.status == 0x64  # ESME_RX_T_APPN: the SMSC will deliver it again later


def test_parse_receipt_reads_the_appendix_b_text_and_prefers_tlvs() -> None:
    text = (
        b"id:0000012345 sub:001 dlvrd:000 submit date:2603010405 done date:260301040530 "
        b"stat:REJECTD err:0B1 text:stat:DELIVRD id:999"
    )
    parsed = parse_receipt(text, tz=UTC)
    assert (parsed.provider_message_id, parsed.status, parsed.error_code) == (
        "0000012345",
        DeliveryStatus.REJECTED,
        "0B1",
    )
    assert parsed.done_at == datetime(2026, 3, 1, 4, 5, 30, tzinfo=UTC)
    hk = parse_receipt(b"id:1 stat:DELIVRD done date:2603010405", tz=ZoneInfo("Asia/Hong_Kong"))
    assert hk.done_at == datetime(2026, 2, 28, 20, 5, tzinfo=UTC)
    tlv = parse_receipt(text, receipted_message_id=b"3039", message_state=2)
    assert (tlv.provider_message_id, tlv.status) == ("3039", DeliveryStatus.DELIVERED)
    with pytest.raises(ValueError):
        parse_receipt(b"hello from a phone")


# --- reconnecting -------------------------------------------------------------------


def test_after_the_smsc_dies_and_restarts_the_sender_binds_again_and_delivers(
    smsc: SmscProcess, sender: SmppSender, sink: MemorySink
) -> None:
    sender.send_sms(PHONE, "before", message_id="msg_1")
    smsc.kill()
    wait_for(lambda: not sender.bound)  # the listener saw the connection drop
    with pytest.raises(DeliveryError) as caught:
        sender.send_sms(PHONE, "while down", message_id="msg_2")
    assert not isinstance(caught.value, PermanentDeliveryError)

    smsc.start()  # same port, a new process
    sender.send_sms(PHONE, "after", message_id="msg_3")
    wait_for(lambda: sink.receipts_for("msg_3"))
    assert len(smsc.pdus("bind_transceiver")) == 2
    assert [p.fields["short_message"] for p in submits(smsc)] == [b"before", b"after"]


def test_a_restart_between_two_messages_goes_unnoticed_by_the_caller(
    smsc: SmscProcess, sender: SmppSender, sink: MemorySink
) -> None:
    sender.send_sms(PHONE, "one", message_id="msg_1")
    smsc.kill()
    smsc.start()
    sender.send_sms(PHONE, "two", message_id="msg_2")  # binds again, stale link or not
    wait_for(lambda: sink.receipts_for("msg_2"))
    assert [p.fields["short_message"] for p in submits(smsc)] == [b"one", b"two"]


def test_an_smsc_gone_silent_is_noticed_by_the_enquire_link_probe(
    smsc: SmscProcess, sink: MemorySink
) -> None:
    sender = SmppSender(
        "127.0.0.1", smsc.port, SYSTEM_ID, PASSWORD, source_addr="simrenew",
        receipts=sink, enquire_link_interval=timedelta(milliseconds=250),
    )  # fmt: skip
    try:
        sender.connect()
        smsc.pause()
        try:
            wait_for(lambda: not sender.bound)  # one probe unanswered for a whole interval
        finally:
            smsc.resume()
        sender.send_sms(PHONE, "back", message_id="msg_1")
    finally:
        sender.close()
    assert len(smsc.pdus("bind_transceiver")) == 2


def test_a_submit_left_unanswered_is_retryable(smsc: SmscProcess, sink: MemorySink) -> None:
    sender = SmppSender(
        "127.0.0.1", smsc.port, SYSTEM_ID, PASSWORD, source_addr="simrenew",
        receipts=sink, timeout=timedelta(milliseconds=300),
    )  # fmt: skip
    try:
        sender.connect()
        smsc.pause()
        try:
            with pytest.raises(DeliveryError, match="no answer") as caught:
                sender.send_sms(PHONE, "hello", message_id="msg_1")
        finally:
            smsc.resume()
        assert not isinstance(caught.value, PermanentDeliveryError)
        assert not sender.bound  # a late answer must not be matched to a later PDU
        sender.timeout = timedelta(seconds=5)  # the resumed simulator may be slow to catch up
        sender.send_sms(PHONE, "hello", message_id="msg_1")  # the relay's retry
        wait_for(lambda: sink.receipts_for("msg_1"))
    finally:
        sender.close()


def test_a_connection_dropped_under_the_first_part_is_bound_again_once(
    tmp_path: Path, sink: MemorySink
) -> None:
    smsc = SmscProcess(
        tmp_path / "smsc.jsonl", "--drop-at", "1", "--drop-at", "3", "--drop-at", "4"
    )
    smsc.start()
    sender = SmppSender(
        "127.0.0.1", smsc.port, SYSTEM_ID, PASSWORD, source_addr="simrenew", receipts=sink
    )
    try:
        sender.connect()
        sender.send_sms(PHONE, "one", message_id="msg_1")  # dropped, bound again, sent
        assert len(smsc.pdus("bind_transceiver")) == 2
        wait_for(lambda: sink.receipts_for("msg_1"))

        # Dropped again after binding again: the caller hears of it, once.
        with pytest.raises(DeliveryError) as caught:
            sender.send_sms(PHONE, "two", message_id="msg_2")
        assert not isinstance(caught.value, PermanentDeliveryError)
        assert len(smsc.pdus("bind_transceiver")) == 3
    finally:
        sender.close()
        smsc.stop()
    assert [p.fields["short_message"] for p in submits(smsc)] == [b"one", b"one", b"two", b"two"]


def test_a_long_message_cut_off_midway_is_resent_whole_under_the_same_reference(
    tmp_path: Path,
) -> None:
    smsc = SmscProcess(tmp_path / "smsc.jsonl", "--drop-at", "2")
    smsc.start()
    sender = SmppSender("127.0.0.1", smsc.port, SYSTEM_ID, PASSWORD, source_addr="simrenew")
    text = "續期提醒" * 40  # 160 characters: 3 parts
    try:
        with pytest.raises(DeliveryError):
            sender.send_sms(PHONE, text, message_id="msg_long")  # part 2 never answered
        sender.send_sms(PHONE, text, message_id="msg_long")  # the relay's retry
    finally:
        sender.close()
        smsc.stop()
    payloads = [p.fields["short_message"] for p in submits(smsc)]
    assert len(payloads) == 5  # parts 1 and 2 of the first attempt, then all 3
    first_reference = payloads[0][3]
    reference, joined = reassemble(payloads[2:])
    # The handset can complete the message from either attempt's parts.
    assert reference == first_reference == payloads[1][3]
    assert joined.decode("utf-16-be") == text


# --- wiring and the outbox (SQLite and PostgreSQL) ----------------------------------


def test_the_relay_delivers_queued_sms_over_smpp(
    app: App, smsc: SmscProcess, sender: SmppSender, sink: MemorySink
) -> None:
    now = app.ctx.clock.now()
    with app.uow() as uow:
        good = uow.outbox.add(OutboxKind.SMS, {"to": PHONE, "text": "續期成功"}, at=now)
        bad = uow.outbox.add(OutboxKind.SMS, {"to": REFUSED, "text": "續期成功"}, at=now)
        uow.commit()

    stats = replace(app.relay, sms=sender).drain()

    assert (stats.delivered, stats.dead) == (1, 1)
    with app.uow(write=False) as uow:
        states = {m.id: m.state for m in uow.outbox.list(limit=10)}
    assert states == {good: OutboxState.DELIVERED, bad: OutboxState.DEAD}
    [receipt] = wait_for(lambda: sink.receipts_for(good))
    assert receipt.status is DeliveryStatus.DELIVERED
    assert [p.fields["short_message"].decode("utf-16-be") for p in submits(smsc)] == [
        "續期成功",
        "續期成功",
    ]


def test_bootstrap_picks_smpp_and_refuses_it_half_configured(tmp_path: Path) -> None:
    inbox = DevInbox(create_engine("sqlite://"))  # never used: no message is sent here
    configured = Settings(
        sms_channel="smpp",
        smpp_host="smsc.example.hk",
        smpp_system_id="simrenew",
        smpp_password="pw-123456",  # type: ignore[arg-type]  # pydantic coerces
    )
    sender = sms_sender(configured, inbox)
    assert isinstance(sender, SmppSender) and not sender.bound
    assert "pw-123456" not in repr(sender)
    with pytest.raises(ChannelMisconfigured, match=r"SIMRENEW_SMPP_HOST.*SIMRENEW_SMPP_PASSWORD"):
        sms_sender(Settings(sms_channel="smpp", smpp_system_id="simrenew"), inbox)
    assert sms_sender(Settings(), inbox) is inbox
    with pytest.raises(ValidationError):
        Settings(sms_channel="carrier-pigeon")
