"""consumers/bus"""
