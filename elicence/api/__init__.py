"""The FastAPI transport: routers, schemas, auth and the one mapping of domain errors to HTTP."""
