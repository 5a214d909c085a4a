"""The project's trainer: every model the API serves is built here and tracked in MLflow."""
