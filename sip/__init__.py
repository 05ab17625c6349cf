"""The SIP engine on pjsua2: one Endpoint per process, driven from gevent."""
