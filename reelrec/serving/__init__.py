"""The HTTP feed service: FastAPI app, request schemas, metrics, hot reload."""
