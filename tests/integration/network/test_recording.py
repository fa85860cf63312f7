"""RecordingNetworkGateway on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from simrenew.db.tables import network_commands
from simrenew.network.recording import RecordedCommand, RecordingNetworkGateway
from simrenew.ports import NetworkCommand

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ICCID_A = "8985200012345678901"
ICCID_B = "8985200012345678919"


class StepClock:
    def __init__(self) -> None:
        self.current = START

    def __call__(self) -> datetime:
        self.current += timedelta(seconds=1)
        return self.current


def command(command_id: str, iccid: str = ICCID_A, action: str = "activate") -> NetworkCommand:
    return NetworkCommand(
        command_id=command_id,
        action=action,
        iccid=iccid,
        imsi="454001234567890",
        numbers=("+85291234567", "+8613812345678"),
        details={"until": "2026-04-30", "zones": ["HK", "CN"]},
    )


def count_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(network_commands)).scalar_one()


def test_records_commands_and_lists_them_oldest_first(engine: Engine) -> None:
    gateway = RecordingNetworkGateway(engine, now=StepClock())
    gateway.send(command("cmd_1", action="activate"))
    gateway.send(command("cmd_2", action="data_block"))
    gateway.send(
        NetworkCommand(
            command_id="cmd_3",
            action="suspend",
            iccid=ICCID_B,
            imsi=None,
            numbers=("+85298765432",),
        )
    )

    assert gateway.list(ICCID_A) == [
        RecordedCommand(
            command_id="cmd_1",
            action="activate",
            iccid=ICCID_A,
            imsi="454001234567890",
            numbers=("+85291234567", "+8613812345678"),
            details={"until": "2026-04-30", "zones": ["HK", "CN"]},
            created_at=START + timedelta(seconds=1),
        ),
        RecordedCommand(
            command_id="cmd_2",
            action="data_block",
            iccid=ICCID_A,
            imsi="454001234567890",
            numbers=("+85291234567", "+8613812345678"),
            details={"until": "2026-04-30", "zones": ["HK", "CN"]},
            created_at=START + timedelta(seconds=2),
        ),
    ]
    [suspended] = gateway.list(ICCID_B)
    assert (suspended.action, suspended.imsi, suspended.numbers, suspended.details) == (
        "suspend",
        None,
        ("+85298765432",),
        {},
    )
    assert [recorded.command_id for recorded in gateway.list()] == ["cmd_1", "cmd_2", "cmd_3"]
    assert gateway.list("8985200000000000000") == []


def test_a_repeated_command_is_recorded_once(engine: Engine) -> None:
    gateway = RecordingNetworkGateway(engine, now=StepClock())
    gateway.send(command("cmd_same"))
    gateway.send(command("cmd_same"))

    assert count_rows(engine) == 1
    [recorded] = gateway.list()
    assert recorded.created_at == START + timedelta(seconds=1)


def test_concurrent_repeats_of_one_command_record_one_row(engine: Engine) -> None:
    gateway = RecordingNetworkGateway(engine)
    workers = 8
    barrier = threading.Barrier(workers)

    def deliver() -> None:
        barrier.wait(timeout=10)
        gateway.send(command("cmd_race"))

    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(deliver) for _ in range(workers)]
        for future in futures:
            future.result(timeout=30)  # re-raises any worker's error

    assert count_rows(engine) == 1
