"""What tests/lb/test_engine.py and test_features.py share."""
import socket

_GIVEN = set()


def free_port(kind=socket.SOCK_STREAM):
    """A port nothing listens on now, never one handed out before (the
    kernel may give a just-closed port again before its user binds it)."""
    while True:
        s = socket.socket(socket.AF_INET, kind)
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if p not in _GIVEN:
            _GIVEN.add(p)
            return p


def read_to_eof(s):
    """Everything the peer sends on socket s until its FIN."""
    out = b""
    while True:
        d = s.recv(65536)
        if not d:
            return out
        out += d
