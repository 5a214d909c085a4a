"""SQL persistence: table models, engine/session creation and migrations at start-up."""
