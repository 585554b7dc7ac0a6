"""consumers/bus/decide"""
