"""The control API over HTTP: a FastAPI app served by uvicorn inside `ordergate serve`.

- `app.build_control_app(gate, ...)`: the ASGI app (reads, gated writes, OpenAPI at
  `/openapi.json`); more routers can be included by the caller (`extra_routers`) or afterwards
  (`app.include_router(...)`), e.g. metrics or a dashboard.
- `server.ControlServer`: binds the socket and runs uvicorn as a task of the running event loop.
- `client.ServiceClient`: the CLI's client (urllib only, so the CLI pays nothing for FastAPI).

Nothing is imported here: FastAPI and uvicorn are the optional `service` extra, loaded only by
the modules that need them.
"""
