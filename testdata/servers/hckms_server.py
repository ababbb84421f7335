#!/usr/bin/env python3
"""A local stand-in for HuaweiCloud KMS's `encrypt-data` / `decrypt-data` API, for tests.

It verifies Huawei's `SDK-HMAC-SHA256` AK/SK signatures for real (recomputing the canonical
request over whatever `SignedHeaders` lists), checks `X-Sdk-Date`, the project id and, for
temporary credentials, `X-Security-Token`, and encrypts with real AES-256-GCM keys held in
memory (one per key UUID). Served over HTTPS with a throwaway CA made at start.

Usage: hckms_server.py STATE_DIR
Writes STATE_DIR/ca.pem and, once listening, STATE_DIR/port. Settings come from the
environment: HCKMS_FAKE_AK, HCKMS_FAKE_SK, HCKMS_FAKE_PROJECT, HCKMS_FAKE_TEMP_AK,
HCKMS_FAKE_TEMP_SK, HCKMS_FAKE_TOKEN, HCKMS_FAKE_KEYS (comma-separated key UUIDs).
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import ssl
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, urlsplit, parse_qsl

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
import ipaddress

STATE = sys.argv[1]
AK = os.environ["HCKMS_FAKE_AK"]
SK = os.environ["HCKMS_FAKE_SK"]
PROJECT = os.environ["HCKMS_FAKE_PROJECT"]
TEMP_AK = os.environ.get("HCKMS_FAKE_TEMP_AK", "")
TEMP_SK = os.environ.get("HCKMS_FAKE_TEMP_SK", "")
TOKEN = os.environ.get("HCKMS_FAKE_TOKEN", "")
KEYS = {k: AESGCM.generate_key(bit_length=256)
        for k in os.environ["HCKMS_FAKE_KEYS"].split(",") if k}
# (ak) -> (sk, required security token or None)
SECRETS = {AK: (SK, None)}
if TEMP_AK:
    SECRETS[TEMP_AK] = (TEMP_SK, TOKEN)
MAX_SKEW = datetime.timedelta(minutes=15)
CIPHER_MAGIC = b"hckms-fake-v1"


def make_certificates():
    """A CA and a server certificate for 127.0.0.1 and localhost signed by it."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hckms fake test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
    with open(os.path.join(STATE, "ca.pem"), "wb") as f:
        f.write(pem(ca))
    with open(os.path.join(STATE, "server.pem"), "wb") as f:
        f.write(pem(cert))
    with open(os.path.join(STATE, "server.key"), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


def escape(s):
    return quote(s, safe="-_.~")


def canonical_uri(path):
    uri = "/".join(escape(unquote(seg)) for seg in path.split("/"))
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(query):
    pairs = sorted((escape(k), escape(v)) for k, v in parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{k}={v}" for k, v in pairs)


AUTH_RE = re.compile(
    r"^SDK-HMAC-SHA256\s+Access=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]+)$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hckms-fake"

    def log_message(self, fmt, *args):
        if os.environ.get("HCKMS_FAKE_LOG"):
            sys.stderr.write("hckms-fake: " + fmt % args + "\n")

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-Id", uuid.uuid4().hex)
        self.end_headers()
        self.wfile.write(body)

    def gateway_error(self, status, code, msg):
        self.reply(status, {"error_msg": msg, "error_code": code,
                            "request_id": uuid.uuid4().hex})

    def kms_error(self, status, code, msg):
        self.reply(status, {"error": {"error_code": code, "error_msg": msg}})

    def authenticate(self, body):
        """The access key of a valid signature, or None after replying with an error."""
        auth = self.headers.get("Authorization", "")
        m = AUTH_RE.match(auth.strip())
        if not m:
            self.gateway_error(401, "APIGW.0301", "Incorrect IAM authentication information: "
                                                  "Authorization header missing or malformed")
            return None
        ak, signed, signature = m.groups()
        if ak not in SECRETS:
            self.gateway_error(401, "APIGW.0301", "Incorrect IAM authentication information: "
                                                  "unknown access key")
            return None
        sk, token = SECRETS[ak]
        names = signed.split(";")
        if "x-sdk-date" not in names:
            self.gateway_error(401, "APIGW.0301", "x-sdk-date is not signed")
            return None
        date = self.headers.get("X-Sdk-Date", "")
        try:
            when = datetime.datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.timezone.utc)
        except ValueError:
            self.gateway_error(401, "APIGW.0303", "Incorrect IAM authentication information: "
                                                  "bad X-Sdk-Date")
            return None
        if abs(datetime.datetime.now(datetime.timezone.utc) - when) > MAX_SKEW:
            self.gateway_error(401, "APIGW.0303", "Incorrect IAM authentication information: "
                                                  "X-Sdk-Date is out of range")
            return None
        headers = []
        for name in names:
            values = self.headers.get_all(name) or []
            for v in sorted(values):
                headers.append(f"{name}:{v.strip()}")
        url = urlsplit(self.path)
        canonical = "\n".join([
            self.command, canonical_uri(url.path), canonical_query(url.query),
            "\n".join(headers) + "\n", signed, hashlib.sha256(body).hexdigest()])
        to_sign = "SDK-HMAC-SHA256\n%s\n%s" % (
            date, hashlib.sha256(canonical.encode()).hexdigest())
        expected = hmac.new(sk.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            self.gateway_error(401, "APIGW.0301", "Incorrect IAM authentication information: "
                                                  "verify aksk signature fail")
            return None
        if token is not None:
            if self.headers.get("X-Security-Token") != token or "x-security-token" not in names:
                self.gateway_error(401, "APIGW.0301", "Incorrect IAM authentication "
                                                      "information: security token missing")
                return None
        return ak

    def do_GET(self):
        self.kms_error(404, "APIGW.0101", "The API does not exist or has not been published")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.authenticate(body) is None:
            return
        m = re.fullmatch(r"/v1\.0/([^/]+)/kms/(encrypt-data|decrypt-data)", urlsplit(self.path).path)
        if not m:
            return self.kms_error(404, "APIGW.0101",
                                  "The API does not exist or has not been published")
        project, action = m.groups()
        if project != PROJECT or self.headers.get("X-Project-Id", project) != project:
            return self.gateway_error(403, "APIGW.0306", "project id mismatch")
        try:
            req = json.loads(body)
        except ValueError:
            return self.kms_error(400, "KMS.0201", "Invalid request body")
        if action == "encrypt-data":
            key_id = req.get("key_id", "")
            if key_id not in KEYS:
                return self.kms_error(404, "KMS.0205", f"The key {key_id} does not exist.")
            plain = req.get("plain_text")
            if not isinstance(plain, str) or not plain:
                return self.kms_error(400, "KMS.0201", "plain_text is required")
            nonce = os.urandom(12)
            sealed = AESGCM(KEYS[key_id]).encrypt(nonce, plain.encode(), key_id.encode())
            blob = CIPHER_MAGIC + b"|" + key_id.encode() + b"|" + nonce + sealed
            return self.reply(200, {"key_id": key_id,
                                    "cipher_text": base64.b64encode(blob).decode()})
        cipher = req.get("cipher_text", "")
        try:
            blob = base64.b64decode(cipher, validate=True)
            magic, key_id, rest = blob.split(b"|", 2)
            key_id = key_id.decode()
            if magic != CIPHER_MAGIC:
                raise ValueError
        except Exception:
            return self.kms_error(400, "KMS.0207", "Invalid cipher_text")
        if req.get("key_id") not in (None, "", key_id):
            return self.kms_error(400, "KMS.0207", "The key does not match the cipher_text")
        if key_id not in KEYS:
            return self.kms_error(404, "KMS.0205", f"The key {key_id} does not exist.")
        try:
            plain = AESGCM(KEYS[key_id]).decrypt(rest[:12], rest[12:], key_id.encode())
        except Exception:
            return self.kms_error(400, "KMS.0207", "Decryption failed")
        text = plain.decode()
        self.reply(200, {"key_id": key_id, "plain_text": text,
                         "plain_text_base64": base64.b64encode(plain).decode()})


def main():
    make_certificates()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(STATE, "server.pem"), os.path.join(STATE, "server.key"))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    with open(os.path.join(STATE, "port.tmp"), "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(os.path.join(STATE, "port.tmp"), os.path.join(STATE, "port"))
    server.serve_forever()


if __name__ == "__main__":
    main()
