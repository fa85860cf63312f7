"""An SMSC simulator speaking SMPP 3.4 over TCP, run as its own process.

Built on smpplib's PDU codec (``smpplib.smpp.parse_pdu`` / ``make_pdu``), from the
SMPP 3.4 specification rather than from our adapter:

- ``bind_transceiver`` with the configured system_id and password is answered by
  ``bind_transceiver_resp`` (else ESME_RINVSYSID / ESME_RINVPASWD); right after a
  bind the SMSC sends one ``enquire_link`` of its own, as SMSCs do to probe a link;
- ``submit_sm`` is answered by ``submit_sm_resp`` with a fresh message_id, or with
  ESME_RINVDSTADR for a refused destination, or ESME_RINVBNDSTS before a bind;
  with ``registered_delivery`` bit 0 set, a ``deliver_sm`` delivery receipt follows
  on the same connection: ``esm_class`` 0x04 and the Appendix B text
  ``id:... sub:001 dlvrd:001 submit date:YYMMDDhhmm done date:YYMMDDhhmm
  stat:DELIVRD err:000 text:<first 20 octets>`` (status per destination, see
  ``--receipt``), with the ``receipted_message_id`` / ``message_state`` TLVs only
  when ``--receipt-tlvs`` is given;
- ``enquire_link`` → ``enquire_link_resp``, ``unbind`` → ``unbind_resp`` and the
  connection closes; other requests → ``generic_nack`` ESME_RINVCMDID;
- ``--decimal-receipt-ids`` writes the receipt's ``id:`` in decimal while
  ``submit_sm_resp`` gave it in hex, as some SMSCs do;
- ``--drop-at K`` closes the connection, unanswered, on the K-th ``submit_sm`` this
  process receives (a crash or a cut line at the worst moment).

Every PDU in either direction is appended to a JSON-lines record file (``"dir"``:
``"in"`` or ``"out"``) that the tests read through ``SmscProcess.pdus``. The
process prints ``LISTENING <port>`` once it accepts connections.

    python -m tests.fakes.smsc --record FILE [--port 0] [--system-id ID]
        [--password PW] [--refuse NUMBER]... [--receipt NUMBER=STAT:ERR]...
        [--receipt-tlvs] [--decimal-receipt-ids] [--drop-at K]...
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smpplib import consts, smpp

SYSTEM_ID = "simrenew"
PASSWORD = "s3cret"
REPO_ROOT = Path(__file__).resolve().parents[2]

# message_state TLV values (SMPP 3.4 5.2.28) by receipt "stat:" text.
_STATES = {
    "DELIVRD": consts.SMPP_MESSAGE_STATE_DELIVERED,
    "EXPIRED": consts.SMPP_MESSAGE_STATE_EXPIRED,
    "DELETED": consts.SMPP_MESSAGE_STATE_DELETED,
    "UNDELIV": consts.SMPP_MESSAGE_STATE_UNDELIVERABLE,
    "ACCEPTD": consts.SMPP_MESSAGE_STATE_ACCEPTED,
    "UNKNOWN": consts.SMPP_MESSAGE_STATE_UNKNOWN,
    "REJECTD": consts.SMPP_MESSAGE_STATE_REJECTED,
}


# --- the server (runs in the child process) ------------------------------------------


class _Numbering:
    """What smpplib's PDU classes ask of a "client": the next sequence number."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self.sequence = 0

    def next_sequence(self) -> int:
        self.sequence = next(self._numbers)
        return self.sequence


@dataclass
class _Config:
    system_id: str
    password: str
    refused: frozenset[str]
    receipts: dict[str, tuple[str, str]]  # destination -> (stat, err)
    receipt_tlvs: bool
    record: Path
    drop_at: frozenset[int] = frozenset()
    decimal_receipt_ids: bool = False
    submits: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    record_lock: threading.Lock = field(default_factory=threading.Lock)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    run: str = field(default_factory=lambda: os.urandom(3).hex())


def _jsonable(value: Any) -> Any:
    return {"hex": value.hex()} if isinstance(value, bytes) else value


class _Session(socketserver.BaseRequestHandler):
    server: _Server

    def setup(self) -> None:
        self.numbering = _Numbering()
        self.bound = False

    def handle(self) -> None:
        while True:
            raw = self._read()
            if raw is None:
                return
            pdu = smpp.parse_pdu(raw, client=self.numbering, allow_unknown_opt_params=True)
            self._record("in", pdu)
            if not self._answer(pdu):
                return

    def _read(self) -> bytes | None:
        head = self._exactly(4)
        if head is None:
            return None
        (length,) = struct.unpack(">L", head)
        body = self._exactly(length - 4)
        return None if body is None else head + body

    def _exactly(self, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            try:
                chunk = self.request.recv(size - len(data))
            except OSError:
                return None
            if not chunk:
                return None
            data += chunk
        return data

    def _answer(self, pdu: Any) -> bool:
        config = self.server.config
        command = pdu.command
        if command == "bind_transceiver":
            status = consts.SMPP_ESME_ROK
            if pdu.system_id != config.system_id.encode():
                status = consts.SMPP_ESME_RINVSYSID
            elif pdu.password != config.password.encode():
                status = consts.SMPP_ESME_RINVPASWD
            self._reply(pdu, "bind_transceiver_resp", status=status, system_id="fakesmsc")
            if status == consts.SMPP_ESME_ROK:
                self.bound = True
                self._send(smpp.make_pdu("enquire_link", client=self.numbering))
        elif command == "submit_sm":
            if next(config.submits) in config.drop_at:
                return False
            self._submit(pdu)
        elif command == "enquire_link":
            self._reply(pdu, "enquire_link_resp")
        elif command == "unbind":
            self._reply(pdu, "unbind_resp")
            return False
        elif pdu.is_request():
            self._reply(pdu, "generic_nack", status=consts.SMPP_ESME_RINVCMDID)
        return True

    def _submit(self, pdu: Any) -> None:
        config = self.server.config
        destination = pdu.destination_addr.decode()
        if not self.bound:
            self._reply(pdu, "submit_sm_resp", status=consts.SMPP_ESME_RINVBNDSTS)
            return
        if destination in config.refused:
            self._reply(pdu, "submit_sm_resp", status=consts.SMPP_ESME_RINVDSTADR)
            return
        message_id = f"{config.run}{next(config.ids):06x}"
        submitted = datetime.now(UTC)
        self._reply(pdu, "submit_sm_resp", message_id=message_id)
        if pdu.registered_delivery and pdu.registered_delivery & 0x01:
            stat, err = config.receipts.get(destination, ("DELIVRD", "000"))
            delivered = "001" if stat == "DELIVRD" else "000"
            date = submitted.strftime("%y%m%d%H%M")
            text_id = str(int(message_id, 16)) if config.decimal_receipt_ids else message_id
            text = (
                f"id:{text_id} sub:001 dlvrd:{delivered} submit date:{date} "
                f"done date:{date} stat:{stat} err:{err} text:"
            ).encode() + (pdu.short_message or b"")[:20]
            extra: dict[str, Any] = {}
            if config.receipt_tlvs:
                extra = {"receipted_message_id": message_id, "message_state": _STATES[stat]}
            receipt = smpp.make_pdu(
                "deliver_sm",
                client=self.numbering,
                service_type="",
                source_addr_ton=pdu.dest_addr_ton,
                source_addr_npi=pdu.dest_addr_npi,
                source_addr=destination,
                dest_addr_ton=pdu.source_addr_ton,
                dest_addr_npi=pdu.source_addr_npi,
                destination_addr=pdu.source_addr.decode(),
                esm_class=0x04,  # xx0001xx: SMSC delivery receipt
                data_coding=consts.SMPP_ENCODING_DEFAULT,
                short_message=text,
                **extra,
            )
            self._send(receipt)

    def _reply(self, request: Any, command: str, *, status: int = 0, **fields: Any) -> None:
        response = smpp.make_pdu(command, client=self.numbering, status=status, **fields)
        response.sequence = request.sequence
        self._send(response)

    def _send(self, pdu: Any) -> None:
        data = pdu.generate()
        self._record("out", smpp.parse_pdu(data, client=_Numbering()))
        with suppress(OSError):
            self.request.sendall(data)

    def _record(self, direction: str, pdu: Any) -> None:
        fields = {
            name: _jsonable(getattr(pdu, name, None))
            for name in getattr(pdu, "params_order", ())
            if getattr(pdu, name, None) is not None
        }
        line = json.dumps(
            {
                "dir": direction,
                "command": pdu.command,
                "sequence": pdu.sequence,
                "status": pdu.status,
                "fields": fields,
            }
        )
        config = self.server.config
        with config.record_lock, config.record.open("a") as record:
            record.write(line + "\n")


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True  # a restarted SMSC takes its port back at once
    daemon_threads = True

    def __init__(self, port: int, config: _Config) -> None:
        super().__init__(("127.0.0.1", port), _Session)
        self.config = config


def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.smsc")
    parser.add_argument("--record", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--system-id", default=SYSTEM_ID)
    parser.add_argument("--password", default=PASSWORD)
    parser.add_argument("--refuse", action="append", default=[])
    parser.add_argument("--receipt", action="append", default=[], help="NUMBER=STAT:ERR")
    parser.add_argument("--receipt-tlvs", action="store_true")
    parser.add_argument("--drop-at", type=int, action="append", default=[])
    parser.add_argument("--decimal-receipt-ids", action="store_true")
    args = parser.parse_args(argv)
    receipts = {}
    for item in args.receipt:
        number, _, outcome = item.partition("=")
        stat, _, err = outcome.partition(":")
        receipts[number] = (stat, err or "000")
    config = _Config(
        system_id=args.system_id,
        password=args.password,
        refused=frozenset(args.refuse),
        receipts=receipts,
        receipt_tlvs=args.receipt_tlvs,
        record=args.record,
        drop_at=frozenset(args.drop_at),
        decimal_receipt_ids=args.decimal_receipt_ids,
    )
    server = _Server(args.port, config)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"LISTENING {server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.05)
    server.server_close()


# --- the handle the tests hold ------------------------------------------------------


@dataclass(frozen=True)
class RecordedPdu:
    direction: str  # "in": the SMSC received it; "out": the SMSC sent it
    command: str
    sequence: int
    status: int
    fields: dict[str, Any]  # ints as ints, octet strings as bytes

    def text(self, name: str) -> str:
        value = self.fields[name]
        assert isinstance(value, bytes)
        return value.decode("latin-1")


class SmscProcess:
    """The simulator as a child process; ``start`` again after ``kill`` to restart
    it on the same port. The record file outlives restarts."""

    def __init__(self, record: Path, *args: str) -> None:
        self.record = record
        self.args = list(args)
        self.port = 0
        self._process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 10.0) -> None:
        assert self._process is None, "already running"
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.smsc", "--record", str(self.record),
             "--port", str(self.port), *self.args],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        self._process = process
        line = _read_line(process, timeout)
        if not line.startswith("LISTENING "):
            self.kill()
            raise RuntimeError(f"the SMSC simulator did not start: {line!r}")
        self.port = int(line.split()[1])

    def kill(self) -> None:
        """Gone at once, as a crash: no unbind, no goodbye."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait(5)
            assert process.stdout is not None
            process.stdout.close()

    def pause(self) -> None:
        """Stopped but not gone (SIGSTOP): connections stay open and nothing answers."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)
        # The signal is delivered asynchronously: wait until the kernel shows it stopped.
        stat = Path(f"/proc/{self._process.pid}/stat")
        wait_for(lambda: stat.read_text().rpartition(")")[2].split()[0] == "T")

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            assert process.stdout is not None
            process.stdout.close()

    def pdus(self, command: str | None = None, direction: str = "in") -> list[RecordedPdu]:
        if not self.record.exists():
            return []
        found = []
        for line in self.record.read_text().splitlines():
            item = json.loads(line)
            if item["dir"] != direction or (command is not None and item["command"] != command):
                continue
            fields = {
                name: bytes.fromhex(value["hex"]) if isinstance(value, dict) else value
                for name, value in item["fields"].items()
            }
            found.append(
                RecordedPdu(direction, item["command"], item["sequence"], item["status"], fields)
            )
        return found


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    result: list[str] = []
    stdout = process.stdout
    reader = threading.Thread(target=lambda: result.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0].strip() if result else ""


@contextmanager
def running_smsc(record: Path, *args: str) -> Iterator[SmscProcess]:
    smsc = SmscProcess(record, *args)
    smsc.start()
    try:
        yield smsc
    finally:
        smsc.stop()


def wait_for(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


if __name__ == "__main__":
    _main(sys.argv[1:])
