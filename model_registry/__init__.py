"""The model contract every floor above it shares: which models are registered and how they are
judged (:mod:`.names`), where the registry lives and the client that talks to it (:mod:`.tracking`),
the pyfunc classes the registered models are made of (:mod:`.pyfunc`), the inputs a served model
is handed (:mod:`.inputs`), LFW's verification protocol and the one accuracy threshold
(:mod:`.evaluation`), and the registry chores: promote, roll back, clean, compare, gate
(:mod:`.registry`, :mod:`.gate`).

It sits on the ground floor beside ``face_pipeline``: it imports nothing of ``training``, ``api``,
``scripts`` or ``benchmarks`` (``tests/test_import_layers.py`` checks it). The one CLI,
``python -m model_registry COMMAND`` (:mod:`.cli`), is a door, not a floor: it trains and
evaluates on the trainer's data, so it stands with ``scripts`` and nothing here imports it."""
