"""Repository-wide pytest settings (tests/conftest.py has the fixtures)."""

# test_api.py is the smoke client `python test_api.py [image.jpg]`, not a test module.
collect_ignore = ["test_api.py"]
