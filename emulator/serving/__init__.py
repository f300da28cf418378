"""How the emulator is served: gunicorn for ``oir serve`` (:mod:`.server`), an in-process
server for the conformance suite (:mod:`.inprocess`), a WSGI transport that lets one end
call another without a socket (:mod:`.wsgi_transport`), and masked logging (:mod:`.logs`).

The package itself imports nothing, so the SOAP layer can use :mod:`.logs` without pulling
in the server.
"""
