"""Face Analytics Home REST API: FastAPI app, SQL persistence and the services behind the routes."""
