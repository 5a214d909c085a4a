"""Code shipped with the project's pyfunc models."""
