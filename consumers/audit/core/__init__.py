"""consumers/audit/core"""
