"""A tiny stdio stand-in for ``codex app-server``: scripted JSON-RPC errors, for the contract suite only.

Neither the real engine nor ``tests/support/fakes/fake_engine.py`` can be made to send a chosen JSON-RPC error
(the real engine's -32001 "Server overloaded; retry later." needs a full ingress queue; the fake answers every
unknown method with -32600). This one answers ``initialize`` like the real engine and ``model/list`` with the
error objects of the JSON list ``$CONTRACT_STAND_IN_ERRORS``, one per call, then ``{"data": []}``. Everything
else gets the real engine's -32600 unknown-variant answer. Stdlib only; run with ``python -I -S``.
"""

import json
import os
import sys
from typing import Any


def send(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> None:
    errors = json.loads(os.environ.get("CONTRACT_STAND_IN_ERRORS") or "[]")
    for line in sys.stdin:
        message = json.loads(line)
        if "id" not in message:
            continue
        request_id, method = message["id"], message.get("method")
        if method == "initialize":
            result = {
                "userAgent": "stand_in/0.163.0 (contract)",
                "codexHome": "/nonexistent",
                "platformFamily": "unix",
                "platformOs": "linux",
            }
            send({"id": request_id, "result": result})
        elif method == "model/list" and errors:
            send({"id": request_id, "error": errors.pop(0)})
        elif method == "model/list":
            send({"id": request_id, "result": {"data": []}})
        else:
            error = {"code": -32600, "message": f"Invalid request: unknown variant `{method}`"}
            send({"id": request_id, "error": error})


main()
