"""What the routes call: served models, the in-memory gallery, unknown faces, enrolment and analysis."""
