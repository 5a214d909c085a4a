"""The real app with the fake pipeline, for uvicorn in tests that need a live server without
TensorFlow: ``uvicorn tests.fake_app:app`` (settings from the environment, as in production)."""

from __future__ import annotations

from api.config import get_settings
from api.main import create_app
from tests.fake_pipeline import FakePipeline

app = create_app(get_settings(), pipeline=FakePipeline())
