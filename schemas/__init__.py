"""The docbus contract: Avro schemas, typed models, codec, canonical signing input.

Pure: imports neither aiokafka nor faust. Shared by nodes (producers) and processors (consumers).
"""
