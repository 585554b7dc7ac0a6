"""consumers/audit/kafka"""
