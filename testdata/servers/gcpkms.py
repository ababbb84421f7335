#!/usr/bin/env python3
"""A small local stand-in for Google Cloud KMS, for the GCP KMS tests (scripts/gcpkms).

It implements just what sops and Google's clients call, with real cryptography:

* `POST /v1/{projects/P/locations/L/keyRings/R/cryptoKeys/K}:encrypt` with
  `{"plaintext": base64}` -> `{"name", "ciphertext", ...}` and `:decrypt` with
  `{"ciphertext": base64}` -> `{"plaintext"}`. Each crypto key of KEYS holds a random AES-256
  key made at start; the ciphertext is a key-version byte, a 12-byte nonce and the AES-GCM
  output, the key name as additional data. Unknown keys get 404, a ciphertext of another key
  400, as Cloud KMS answers (`{"error": {"code", "message", "status"}}`).
* `POST /token`: the OAuth token endpoint of the credentials' `token_uri`. The JWT-bearer
  grant (service accounts) has its RS256 signature checked against the service account's
  public key; the refresh-token grant (authorized users) checks the client and refresh token.
  Both hand out random access tokens.
* `GET /computeMetadata/v1/instance/service-accounts/default/token` with
  `Metadata-Flavor: Google`: the metadata server of a Google Cloud machine.

KMS calls need `Authorization: Bearer TOKEN` with a token handed out here, the fixed
`static` token (for `GOOGLE_OAUTH_ACCESS_TOKEN`), or a JWT self-signed by the service account
(Google's own clients send that instead of asking `token_uri`); otherwise 401
UNAUTHENTICATED.

Usage: gcpkms.py DIR. Listens on 127.0.0.1 (HTTP, and HTTPS with a throwaway CA on a second
port), writes into DIR: `sa.json` (service-account credentials), `user.json` (authorized-user
credentials), `token` (the static token), `ca.pem`, and last `ports` ("HTTP HTTPS"), which
tells the starting script it is ready.
"""

import base64
import datetime
import http.server
import ipaddress
import json
import os
import secrets
import ssl
import sys
import threading
import time

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

PROJECT = "projects/sops-test/locations/global/keyRings/sops/cryptoKeys/"
KEYS = {PROJECT + name: AESGCM.generate_key(bit_length=256) for name in ("first", "second")}
SA_EMAIL = "sops-test@sops-test.iam.gserviceaccount.com"
SA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SA_KEY_ID = secrets.token_hex(20)
USER = {"client_id": "sops-test-client", "client_secret": secrets.token_urlsafe(16),
        "refresh_token": secrets.token_urlsafe(32)}
STATIC = "static-" + secrets.token_urlsafe(24)
TOKENS = {STATIC}
LOCK = threading.Lock()
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


def b64d(s):
    s = s.replace("-", "+").replace("_", "/")
    return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)


def b64url_json(part):
    return json.loads(b64d(part))


def self_signed_jwt_ok(token):
    """A service account's self-signed JWT used directly as the access token (what Google's
    Python and Go clients send for service accounts): RS256 by the account's key, unexpired."""
    try:
        head, claims, sig = token.split(".")
        SA_KEY.public_key().verify(b64d(sig), f"{head}.{claims}".encode(),
                                   padding.PKCS1v15(), hashes.SHA256())
        header, claims = b64url_json(head), b64url_json(claims)
    except (ValueError, InvalidSignature):
        return False
    return (header.get("alg") == "RS256" and claims.get("iss") == SA_EMAIL
            and claims.get("iat", 0) - 300 <= time.time() <= claims.get("exp", 0) + 300)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    token_uri = ""

    def log_message(self, fmt, *args):
        if os.environ.get("GCPKMS_VERBOSE"):
            sys.stderr.write("gcpkms: " + (fmt % args) + "\n")

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, code, status, message):
        self.reply(code, {"error": {"code": code, "message": message, "status": status}})

    def oauth_error(self, error, description):
        self.reply(400, {"error": error, "error_description": description})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n)

    def new_token(self):
        token = "ya29." + secrets.token_urlsafe(32)
        with LOCK:
            TOKENS.add(token)
        return {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/computeMetadata/v1/instance/service-accounts/default/token":
            if self.headers.get("Metadata-Flavor") != "Google":
                return self.error(403, "PERMISSION_DENIED", "missing Metadata-Flavor: Google")
            return self.reply(200, self.new_token())
        self.error(404, "NOT_FOUND", "no such path " + path)

    def do_POST(self):
        path = self.path.split("?")[0]
        raw = self.body()
        if path == "/token":
            return self.token(raw)
        if path.startswith("/v1/") and ":" in path:
            name, method = path[len("/v1/"):].rsplit(":", 1)
            auth = self.headers.get("Authorization", "")
            token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
            with LOCK:
                known = token in TOKENS
            if not known and not self_signed_jwt_ok(token):
                return self.error(401, "UNAUTHENTICATED",
                                  "Request had invalid authentication credentials.")
            try:
                req = json.loads(raw or b"{}")
            except ValueError:
                return self.error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
            if req.get("name", name) != name:
                return self.error(400, "INVALID_ARGUMENT", "name in the body and the URL differ")
            key = KEYS.get(name)
            if key is None:
                return self.error(404, "NOT_FOUND", f"CryptoKey {name} not found.")
            if method == "encrypt":
                return self.encrypt(name, key, req)
            if method == "decrypt":
                return self.decrypt(name, key, req)
        self.error(404, "NOT_FOUND", "no such method " + path)

    def encrypt(self, name, key, req):
        try:
            plaintext = b64d(req.get("plaintext", ""))
        except ValueError:
            return self.error(400, "INVALID_ARGUMENT", "plaintext is not base64")
        nonce = os.urandom(12)
        ct = b"\x01" + nonce + AESGCM(key).encrypt(nonce, plaintext, name.encode())
        self.reply(200, {"name": name + "/cryptoKeyVersions/1",
                         "ciphertext": base64.b64encode(ct).decode(),
                         "verifiedPlaintextCrc32c": False,
                         "protectionLevel": 1})

    def decrypt(self, name, key, req):
        try:
            ct = b64d(req.get("ciphertext", ""))
            if len(ct) < 29 or ct[0] != 1:
                raise ValueError
            plaintext = AESGCM(key).decrypt(ct[1:13], ct[13:], name.encode())
        except (ValueError, InvalidTag):
            return self.error(400, "INVALID_ARGUMENT",
                              "Decryption failed: the ciphertext is invalid.")
        self.reply(200, {"plaintext": base64.b64encode(plaintext).decode(),
                         "usedPrimary": True, "protectionLevel": 1})

    def token(self, raw):
        form = dict(pair.split("=", 1) for pair in raw.decode().split("&") if "=" in pair)
        from urllib.parse import unquote_plus
        form = {k: unquote_plus(v) for k, v in form.items()}
        grant = form.get("grant_type")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            try:
                head, claims, sig = form["assertion"].split(".")
                SA_KEY.public_key().verify(b64d(sig), f"{head}.{claims}".encode(),
                                           padding.PKCS1v15(), hashes.SHA256())
                header, claims = b64url_json(head), b64url_json(claims)
            except (KeyError, ValueError, InvalidSignature):
                return self.oauth_error("invalid_grant", "Invalid JWT Signature.")
            now = time.time()
            if (header.get("alg") != "RS256" or claims.get("iss") != SA_EMAIL
                    # google-auth (Python) always names Google's endpoint; Go names token_uri.
                    or claims.get("aud") not in (self.token_uri, GOOGLE_TOKEN_URI)
                    or not claims.get("iat", 0) - 300 <= now <= claims.get("exp", 0) + 300
                    or not claims.get("scope")):
                return self.oauth_error("invalid_grant", "Invalid JWT claims.")
            return self.reply(200, self.new_token())
        if grant == "refresh_token":
            if any(form.get(k) != v for k, v in USER.items()):
                return self.oauth_error("invalid_grant", "Bad Request")
            return self.reply(200, self.new_token())
        self.oauth_error("unsupported_grant_type", "Invalid grant_type: " + str(grant))


def make_tls(directory):
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sops-rs test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False,
                                       False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
    with open(os.path.join(directory, "ca.pem"), "wb") as f:
        f.write(pem(ca))
    with open(os.path.join(directory, "server.pem"), "wb") as f:
        f.write(pem(cert))
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(directory, "server.pem"))
    return ctx


def main():
    directory = sys.argv[1]
    http_srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    https_srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    https_srv.socket = make_tls(directory).wrap_socket(https_srv.socket, server_side=True)
    port, tls_port = http_srv.server_address[1], https_srv.server_address[1]
    Handler.token_uri = f"http://127.0.0.1:{port}/token"
    pem = SA_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption()).decode()
    files = {
        "sa.json": {"type": "service_account", "project_id": "sops-test",
                    "private_key_id": SA_KEY_ID, "private_key": pem,
                    "client_email": SA_EMAIL, "client_id": "1234567890",
                    "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                    "token_uri": Handler.token_uri, "universe_domain": "googleapis.com"},
        "user.json": dict(USER, type="authorized_user", token_uri=Handler.token_uri),
    }
    for name, obj in files.items():
        with open(os.path.join(directory, name), "w") as f:
            json.dump(obj, f, indent=2)
    with open(os.path.join(directory, "token"), "w") as f:
        f.write(STATIC)
    threading.Thread(target=https_srv.serve_forever, daemon=True).start()
    with open(os.path.join(directory, "ports.tmp"), "w") as f:
        f.write(f"{port} {tls_port}\n")
    os.rename(os.path.join(directory, "ports.tmp"), os.path.join(directory, "ports"))
    http_srv.serve_forever()


if __name__ == "__main__":
    main()
