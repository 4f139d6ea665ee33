#!/usr/bin/env python3
"""A small token server for the registry tests (docker distribution's
token auth): GET /token?service=S&scope=repository:NAME:pull[,push] with
HTTP Basic credentials -> {"token": JWT}, the JWT signed RS256 with --key,
its certificate (--cert, also the registry's rootcertbundle) in x5c.
Standard library plus the openssl command. Listens on 127.0.0.1 only;
writes its port to --port-file."""
import argparse, base64, http.server, json, os, subprocess, time, urllib.parse


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--key", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--issuer", default="berth-test-issuer")
    ap.add_argument("--port-file", required=True)
    a = ap.parse_args()
    der = subprocess.run(["openssl", "x509", "-in", a.cert, "-outform", "DER"],
                         check=True, capture_output=True).stdout
    want = "Basic " + base64.b64encode(f"{a.user}:{a.password}".encode()).decode()

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            u = urllib.parse.urlparse(self.path)
            if u.path != "/token":
                self.send_error(404)
                return
            if self.headers.get("Authorization") != want:
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"details":"bad credentials"}')
                return
            q = urllib.parse.parse_qs(u.query)
            access = []
            for scope in q.get("scope", []):
                parts = scope.split(":")
                if len(parts) == 3:
                    access.append({"type": parts[0], "name": parts[1],
                                   "actions": parts[2].split(",")})
            now = int(time.time())
            hdr = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}
            claims = {"iss": a.issuer, "sub": a.user, "aud": q.get("service", [""])[0],
                      "exp": now + 300, "nbf": now - 10, "iat": now,
                      "jti": b64url(os.urandom(12)), "access": access}
            signing = (b64url(json.dumps(hdr).encode()) + "." +
                       b64url(json.dumps(claims).encode())).encode()
            sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", a.key],
                                 input=signing, check=True, capture_output=True).stdout
            body = json.dumps({"token": signing.decode() + "." + b64url(sig),
                               "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, a.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
