"""The wire: JSON-RPC framing and codec, and the typed protocol generated from the engine schema."""
