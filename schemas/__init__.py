"""The docbus contract: Avro schemas, typed models, codec, canonical signing input.

Pure: imports neither aiokafka nor faust. Shared by nodes (producers) and processors (consumers).

Entry points: ``schemas.envelope.parse_envelope`` / ``schemas.receipt.parse_receipt`` (untrusted
bytes -> checked record, raising only ``schemas.errors.ContractError``), ``schemas.codec.encode``,
and ``schemas.canonical`` (signing inputs and hashes). Specification: docs/ENVELOPE.md.
"""
