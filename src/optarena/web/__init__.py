"""The web arena: FastAPI routes over the core, and a no-build page in static/."""
