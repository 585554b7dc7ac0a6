"""Routed records in the bus's table: written with signing_hash, read back in either spelling."""

from __future__ import annotations

import json

from consumers.bus.decide.routed import RoutedRecord


def test_round_trip_and_a_record_written_before_the_rename() -> None:
    record = RoutedRecord("G03", ("H01", "H02"), bytes(range(32)), "G03,2026/03/01,12/CT-BGDĐT", (0, 7))
    assert RoutedRecord.from_bytes(record.to_bytes()) == record
    old = json.loads(record.to_bytes())
    old["envelope_hash"] = old.pop("signing_hash")
    assert RoutedRecord.from_bytes(json.dumps(old).encode()) == record
