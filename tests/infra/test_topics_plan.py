"""Pure topic planning: capping, drift, idempotence decisions."""

from infra.topics import Existing, TopicSpec, inbox_spec, load_specs, plan


def test_specs_load_and_cover_the_bus() -> None:
    names = {s.name for s in load_specs()}
    assert {"docbus.ingress", "docbus.audit", "docbus.quarantine", "docbus.directory"} <= names
    audit = next(s for s in load_specs() if s.name == "docbus.audit")
    assert audit.partitions == 1 and audit.retention_ms == -1  # one total order, kept forever


def test_replication_is_capped_with_one_warning_on_a_single_broker() -> None:
    p = plan(load_specs(), brokers=1, existing={})
    assert all(s.replication == 1 and s.min_insync == 1 for s in p.create)
    assert len(p.warnings) == 1 and "capped to 1" in p.warnings[0]


def test_three_brokers_keep_rf3_and_min_isr2() -> None:
    p = plan(load_specs(), brokers=3, existing={})
    assert p.warnings == []
    assert all(s.replication == 3 and s.min_insync == 2 for s in p.create)


def test_drift_is_reported_not_hidden() -> None:
    spec = TopicSpec("x", partitions=3, replication=1, cleanup="compact", min_insync=1)
    ok = Existing(3, 1, spec.configs())
    assert plan([spec], 1, {"x": ok}).ok == ["x"]
    drifted = Existing(2, 1, {**spec.configs(), "cleanup.policy": "delete"})
    p = plan([spec], 1, {"x": drifted})
    assert p.create == [] and {d.what for d in p.drift} == {"partitions", "cleanup.policy"}


def test_inbox_template() -> None:
    s = inbox_spec("G03.U001")
    assert s.name == "docbus.inbox.G03.U001" and s.retention_ms == -1
