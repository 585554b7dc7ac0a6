"""consumers/inbox"""
