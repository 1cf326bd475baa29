"""The live inspector: a local page that shows each request to collect, its normalized
events and every vendor's outcome as it happens (``make run`` serves it on 127.0.0.1:8090).

It reads what the stack already writes (the JSON log lines of docs/contracts.md) and watches
the dead-letter topic through its own pull subscription; it never talks to the functions.
"""

from devstack.inspector.server import Inspector

__all__ = ["Inspector"]
