"""The contract suite: the same scenarios through ``openai_codex`` 0.163.0 and ``codex_actors``, diffed.

See ``docs/fixtures.md``.
"""
