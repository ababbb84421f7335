#!/usr/bin/env python3
"""A local Azure Key Vault (keys) and Microsoft Entra login fake, for the Azure key tests.

HTTPS on 127.0.0.1 with a throwaway CA made at start. It keeps real RSA-2048 keys and really
encrypts and decrypts with RSA-OAEP-256 (OAEP, SHA-256), as Key Vault does; tokens are issued
by its own token endpoints, so a client's credential code runs for real:

- vault: `GET /keys/NAME[/VERSION]`, `POST /keys/NAME/create`,
  `POST /keys/NAME/VERSION/encrypt|decrypt` (`{"alg": "RSA-OAEP-256", "value": base64url}`),
  any `api-version`; a request without a valid bearer token gets `401` with
  `WWW-Authenticate: Bearer authorization="BASE/adfs", resource="https://0.0.1:PORT"` (a
  resource that is a dot-suffix of the vault's host `127.0.0.1:PORT`, as real clients check);
- login: `/common/discovery/instance`, `/{tenant}/v2.0/.well-known/openid-configuration`,
  `/adfs/.well-known/openid-configuration`, `/{tenant}/oauth2/v2.0/token`,
  `/{tenant}/oauth2/token`: client credentials with the client secret, a certificate-signed
  JWT assertion (RS256/PS256, checked against the test client certificate) or the federated
  token of workload identity;
- managed identity (App Service protocol): `GET /msi/token` with `X-IDENTITY-HEADER`.

Usage: azure_kv.py DIR — writes DIR/ca.pem, DIR/client.pem (certificate + key),
DIR/federated-token and, once listening, DIR/server.json with the port and the secrets.
"""
import base64
import http.server
import json
import os
import secrets
import ssl
import sys
import threading
import time
import datetime
import urllib.parse

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
import ipaddress

OUT = sys.argv[1]
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_SECRET = secrets.token_urlsafe(24)
CERT_CLIENT_ID = "66666666-7777-8888-9999-000000000000"
WORKLOAD_CLIENT_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
FEDERATED_TOKEN = secrets.token_urlsafe(32)
IDENTITY_HEADER = secrets.token_urlsafe(16)

KEYS = {}  # name -> {version: private key}, insertion ordered (last = latest)
TOKENS = {}  # token -> expiry
LOCK = threading.Lock()
LOG = []


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_cert(subject, issuer_name, key, issuer_key, ca=False, ip=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip:
        b = b.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
            critical=False,
        )
    return b.sign(issuer_key, hashes.SHA256())


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def new_key(name):
    version = secrets.token_hex(16)
    with LOCK:
        KEYS.setdefault(name, {})[version] = rsa.generate_private_key(65537, 2048)
    return version


OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        LOG.append(fmt % args)

    def base(self):
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    def send_json(self, status, obj, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, code, message):
        self.send_json(status, {"error": {"code": code, "message": message}})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def challenge(self):
        port = self.server.server_address[1]
        self.send_json(
            401,
            {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}},
            [(
                "WWW-Authenticate",
                f'Bearer authorization="{self.base()}/adfs", resource="https://0.0.1:{port}"',
            )],
        )

    def authorized(self):
        auth = self.headers.get("Authorization") or ""
        if not auth.startswith("Bearer "):
            return False
        with LOCK:
            exp = TOKENS.get(auth[7:])
        return exp is not None and exp > time.time()

    def issue(self):
        token = secrets.token_urlsafe(32)
        with LOCK:
            TOKENS[token] = time.time() + 3600
        return token

    # ---- login
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/common/discovery/instance":
            tenant_ep = query.get("authorization_endpoint", [""])[0]
            return self.send_json(200, {
                "tenant_discovery_endpoint": f"{self.base()}/common/v2.0/.well-known/openid-configuration",
                "api-version": "1.1",
                "metadata": [],
                "_for": tenant_ep,
            })
        if url.path.endswith("/.well-known/openid-configuration"):
            tenant = parts[0]
            if tenant == "adfs":
                token_ep = f"{self.base()}/adfs/oauth2/token"
                issuer = f"{self.base()}/adfs"
            else:
                token_ep = f"{self.base()}/{tenant}/oauth2/v2.0/token"
                issuer = f"{self.base()}/{tenant}/v2.0"
            return self.send_json(200, {
                "token_endpoint": token_ep,
                "authorization_endpoint": token_ep.replace("/token", "/authorize"),
                "issuer": issuer,
                "device_authorization_endpoint": token_ep.replace("/token", "/devicecode"),
            })
        if url.path == "/msi/token":
            if self.headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER:
                return self.send_json(401, {"error": "unauthorized", "error_description": "bad identity header"})
            if not query.get("resource"):
                return self.send_json(400, {"error": "invalid_request", "error_description": "no resource"})
            return self.send_json(200, {
                "access_token": self.issue(),
                "expires_on": str(int(time.time()) + 3600),
                "resource": query["resource"][0],
                "token_type": "Bearer",
                "client_id": CLIENT_ID,
            })
        if parts[:1] == ["keys"]:
            if not self.authorized():
                return self.challenge()
            return self.get_key(parts)
        self.error(404, "NotFound", f"no such path {url.path}")

    def token(self, tenant):
        form = urllib.parse.parse_qs(self.body().decode())
        get = lambda k: form.get(k, [""])[0]
        client = get("client_id")
        ok = False
        if get("grant_type") != "client_credentials":
            return self.send_json(400, {"error": "unsupported_grant_type", "error_description": "only client_credentials"})
        if get("client_secret"):
            ok = client == CLIENT_ID and secrets.compare_digest(get("client_secret"), CLIENT_SECRET)
        elif get("client_assertion"):
            assertion = get("client_assertion")
            if client == WORKLOAD_CLIENT_ID:
                ok = secrets.compare_digest(assertion, FEDERATED_TOKEN)
            elif client == CERT_CLIENT_ID:
                ok = self.check_jwt(assertion, client)
        if not ok:
            return self.send_json(401, {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret or assertion provided.",
            })
        self.send_json(200, {
            "token_type": "Bearer",
            "expires_in": 3599,
            "ext_expires_in": 3599,
            "access_token": self.issue(),
        })

    def check_jwt(self, jwt, client):
        try:
            h, c, s = jwt.split(".")
            header = json.loads(unb64url(h))
            claims = json.loads(unb64url(c))
            pub = CLIENT_CERT.public_key()
            if header.get("alg") == "RS256":
                pub.verify(unb64url(s), f"{h}.{c}".encode(), padding.PKCS1v15(), hashes.SHA256())
            elif header.get("alg") == "PS256":
                pub.verify(unb64url(s), f"{h}.{c}".encode(),
                           padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
            else:
                return False
            now = time.time()
            return claims.get("iss") == client and claims.get("sub") == client \
                and claims.get("exp", 0) > now and claims.get("nbf", now) <= now + 60
        except (ValueError, InvalidSignature, KeyError):
            return False

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        if len(parts) >= 2 and parts[-1] == "token" and parts[-2] == "oauth2" or parts[-3:-1] == ["oauth2", "v2.0"]:
            return self.token(parts[0])
        if parts[:1] == ["keys"]:
            if not self.authorized():
                self.body()
                return self.challenge()
            if len(parts) == 3 and parts[2] == "create":
                self.body()
                version = new_key(parts[1])
                return self.get_key(["keys", parts[1], version])
            if len(parts) == 4 and parts[3] in ("encrypt", "decrypt"):
                return self.operate(parts[1], parts[2], parts[3])
        self.body()
        self.error(404, "NotFound", f"no such path {url.path}")

    def find(self, name, version):
        with LOCK:
            versions = KEYS.get(name, {})
            if not version:
                if not versions:
                    return None, None
                version = list(versions)[-1]
            return version, versions.get(version)

    def key_bundle(self, name, version, key):
        nums = key.public_key().public_numbers()
        n = nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")
        return {
            "key": {
                "kid": f"{self.base()}/keys/{name}/{version}",
                "kty": "RSA",
                "key_ops": ["encrypt", "decrypt", "wrapKey", "unwrapKey"],
                "n": b64url(n),
                "e": b64url(nums.e.to_bytes(3, "big")),
            },
            "attributes": {"enabled": True, "created": int(time.time()), "updated": int(time.time()),
                           "recoveryLevel": "Purgeable", "exportable": False},
        }

    def get_key(self, parts):
        if len(parts) not in (2, 3):
            return self.error(404, "NotFound", "no such path")
        version, key = self.find(parts[1], parts[2] if len(parts) == 3 else "")
        if key is None:
            return self.error(404, "KeyNotFound", f"A key with (name/id) {parts[1]} was not found in this key vault.")
        self.send_json(200, self.key_bundle(parts[1], version, key))

    def operate(self, name, version, op):
        try:
            req = json.loads(self.body() or b"{}")
        except ValueError:
            return self.error(400, "BadParameter", "invalid JSON")
        version, key = self.find(name, version)
        if key is None:
            return self.error(404, "KeyNotFound", f"A key with (name/id) {name}/{version} was not found in this key vault.")
        if req.get("alg") != "RSA-OAEP-256":
            return self.error(400, "BadParameter", f"unsupported algorithm {req.get('alg')!r} in this fake")
        try:
            value = unb64url(req.get("value", ""))
            out = key.public_key().encrypt(value, OAEP) if op == "encrypt" else key.decrypt(value, OAEP)
        except Exception:  # noqa: BLE001 - a bad ciphertext is the client's fault
            return self.error(400, "BadParameter", "Bad Request (the ciphertext cannot be decrypted)")
        self.send_json(200, {"kid": f"{self.base()}/keys/{name}/{version}", "value": b64url(out)})


ca_key = rsa.generate_private_key(65537, 2048)
ca = make_cert("sops-rs test CA", "sops-rs test CA", ca_key, ca_key, ca=True)
server_key = rsa.generate_private_key(65537, 2048)
server_cert = make_cert("127.0.0.1", "sops-rs test CA", server_key, ca_key, ip="127.0.0.1")
client_key = rsa.generate_private_key(65537, 2048)
CLIENT_CERT = make_cert("sops-rs test client", "sops-rs test client", client_key, client_key)
with open(os.path.join(OUT, "ca.pem"), "wb") as f:
    f.write(pem(ca))
with open(os.path.join(OUT, "server.pem"), "wb") as f:
    f.write(pem(server_cert) + key_pem(server_key))
with open(os.path.join(OUT, "client.pem"), "wb") as f:
    f.write(pem(CLIENT_CERT) + key_pem(client_key))
with open(os.path.join(OUT, "federated-token"), "w") as f:
    f.write(FEDERATED_TOKEN)

first_version = new_key("sops-key")
new_key("second-key")

httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(OUT, "server.pem"))
httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
port = httpd.server_address[1]
info = {
    "vault": f"https://127.0.0.1:{port}",
    "authority": f"https://127.0.0.1:{port}",
    "ca": os.path.join(OUT, "ca.pem"),
    "client_id": CLIENT_ID,
    "client_secret": CLIENT_SECRET,
    "cert_client_id": CERT_CLIENT_ID,
    "client_cert": os.path.join(OUT, "client.pem"),
    "workload_client_id": WORKLOAD_CLIENT_ID,
    "federated_token_file": os.path.join(OUT, "federated-token"),
    "identity_endpoint": f"https://127.0.0.1:{port}/msi/token",
    "identity_header": IDENTITY_HEADER,
    "key_version": first_version,
}
tmp = os.path.join(OUT, "server.json.tmp")
with open(tmp, "w") as f:
    json.dump(info, f)
os.rename(tmp, os.path.join(OUT, "server.json"))
httpd.serve_forever()
