"""The actors: the engine port, and (later) the supervisor, thread actors, tools, approvals, telemetry."""
