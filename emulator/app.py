"""``create_app``: the Flask application that plays every end.

Mounts each service of the contracts at its path (the ØIR services and the fagsystem
callback under Serviceplatformen's ``/service/OIR/<Service>/1``, PSRM's under ``/psrm/…``)
and at its earlier paths (``/oir/…``, ``/fagsystem/…``, kept as aliases for one release),
serves ``?wsdl`` on each with the address rewritten to the host and path that were called
(the host as a trusted reverse proxy reports it, see :mod:`emulator.web.forwarded`; only a
name the emulator serves, see :mod:`emulator.web.guard`),
serves the XSDs under ``/xsd/``, and adds the admin API and the dashboard.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, request
from lxml import etree

from emulator.config import EmulatorConfig
from emulator.ends import debtor, fagsystem, psrm
from emulator.runtime import Runtime
from emulator.soap.dispatch import Route, SoapDispatcher
from emulator.soap.pipeline import XML_CONTENT_TYPE, OperationHandler, serve
from emulator.web import guard as web_guard
from oir_adapter.contracts import SERVICES, Service, contracts_root, wsdl_path

log = logging.getLogger("emulator")

_HANDLERS: dict[str, dict[str, OperationHandler]] = {
    "oir": debtor.HANDLERS,
    "fagsystem": fagsystem.HANDLERS,
    "psrm": psrm.HANDLERS,
}


def create_app(config: EmulatorConfig | None = None, **overrides: Any) -> Flask:
    """Build the emulator app. ``overrides`` set :class:`EmulatorConfig` fields."""
    if config is None:
        config = EmulatorConfig.from_env(**overrides)
    else:
        for key, value in overrides.items():
            setattr(config, key, value)
    runtime = Runtime(config)
    app = Flask("emulator")
    app.config["MAX_CONTENT_LENGTH"] = None  # the SOAP pipeline enforces its own limit
    app.extensions["oir_runtime"] = runtime
    runtime.app = app
    routes: dict[str, Route] = {}
    for svc in SERVICES:
        _mount(app, runtime, svc)
        routes.update((path, Route(svc, _HANDLERS[svc.end])) for path in svc.paths)

    @app.get("/xsd/<path:relative>")
    def xsd(relative: str) -> Response:
        root = (contracts_root() / "xsd").resolve()
        target = (root / relative).resolve()
        if root not in target.parents or target.suffix != ".xsd" or not target.is_file():
            return Response("no such schema\n", 404, content_type="text/plain")
        return Response(target.read_bytes(), 200, content_type=XML_CONTENT_TYPE)

    from emulator.web.admin import admin_blueprint
    from emulator.web.dashboard import dashboard_blueprint
    web_guard.install(app, config)

    app.register_blueprint(admin_blueprint(runtime))
    app.register_blueprint(dashboard_blueprint(runtime))

    if config.replay_dir:
        from pathlib import Path

        from emulator.ends.replay import install_replay

        install_replay(app, runtime, Path(config.replay_dir))  # answers in Flask's views
    else:
        # SOAP POSTs skip Flask: straight into the pipeline (see emulator.soap.dispatch)
        app.wsgi_app = SoapDispatcher(app.wsgi_app, runtime, routes)  # type: ignore[method-assign]

    if config.start_worker:
        from emulator.worker import OutboxWorker

        runtime.worker = OutboxWorker(runtime)
        runtime.worker.start()
    return app


def runtime_of(app: Flask) -> Runtime:
    runtime = app.extensions["oir_runtime"]
    assert isinstance(runtime, Runtime)
    return runtime


def _mount(app: Flask, runtime: Runtime, svc: Service) -> None:
    handlers = _HANDLERS[svc.end]
    missing = [op.name for op in svc.operations if op.name not in handlers]
    if missing:
        raise RuntimeError(f"{svc.end} end has no handler for {', '.join(missing)}")

    def post() -> Response:  # what answers when the dispatcher is not in front (replay)
        return serve(runtime, svc, request, handlers)  # type: ignore[return-value]

    def get() -> Response:
        if "wsdl" in {k.lower() for k in request.args}:
            # the name web_guard checked: a forwarded one only from a trusted proxy
            base = web_guard.caller_base(request, runtime.config)
            return Response(wsdl_for(svc, base, request.path), 200,
                            content_type=XML_CONTENT_TYPE)
        alias = "" if request.path == svc.path else f" (earlier path; now {svc.path})"
        return Response(f"{svc.name}{alias}: POST SOAP 1.1 here, or GET ?wsdl\n", 200,
                        content_type="text/plain; charset=utf-8")

    for n, path in enumerate(svc.paths):
        suffix = f"_alias{n}" if n else ""
        app.add_url_rule(path, f"{svc.name}_post{suffix}", post, methods=["POST"])
        app.add_url_rule(path, f"{svc.name}_get{suffix}", get, methods=["GET"])


def wsdl_for(svc: Service, host_url: str, path: str | None = None) -> bytes:
    """The service's WSDL with soap:address pointing at ``path`` (one of the service's
    paths; default its own) on ``host_url``, and schemaLocation at ``host_url``."""
    doc = etree.parse(str(wsdl_path(svc.wsdl)))
    base = host_url.rstrip("/")
    where = path if path in svc.paths else svc.path
    for address in doc.iter("{http://schemas.xmlsoap.org/wsdl/soap/}address"):
        address.set("location", f"{base}{where}")
    for imp in doc.iter("{http://www.w3.org/2001/XMLSchema}import"):
        location = imp.get("schemaLocation", "")
        if "xsd/" in location:
            imp.set("schemaLocation", f"{base}/xsd/{location.split('xsd/', 1)[1]}")
    return etree.tostring(doc, xml_declaration=True, encoding="UTF-8")
