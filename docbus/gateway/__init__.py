"""The HTTP gateway of a node (docs/GATEWAY.md): e-office systems submit and receive through it.

``docbus.gateway.app.create_app(Gateway(settings))``; ``docbus gateway run`` serves it on uvicorn.
"""
