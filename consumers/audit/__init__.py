"""The tamper-evident audit trail, pure part: hash chain, Merkle tree, checkpoints, verification,
archives and evidence bundles (docs/AUDIT.md). Imports neither aiokafka nor faust."""
