#!/usr/bin/env python3
"""Drives the local GCP KMS stand-in (gcpkms.py) with Google's own Python client, to prove it
speaks Cloud KMS's REST protocol: encrypt and decrypt through `google-cloud-kms`
(transport="rest") with service-account credentials (a self-signed JWT, as the client sends),
then again with an access token google-auth got at the fake's token_uri.

Usage: gcpkms_sdk_check.py ENDPOINT CREDENTIALS_JSON KEY_NAME [ENC_BASE64]
With ENC_BASE64 (an `enc` value sops wrote), also decrypts it and prints the plaintext's
length. Exits non-zero on any failure.
"""
import base64
import sys

from google.cloud import kms
from google.oauth2 import service_account

endpoint, creds_file, name = sys.argv[1:4]
creds = service_account.Credentials.from_service_account_file(
    creds_file, scopes=["https://www.googleapis.com/auth/cloud-platform"])
client = kms.KeyManagementServiceClient(
    credentials=creds, transport="rest", client_options={"api_endpoint": endpoint})
secret = b"\x00\x01 the data key \xff" * 2
enc = client.encrypt(request={"name": name, "plaintext": secret})
assert enc.ciphertext and enc.ciphertext != secret, enc
dec = client.decrypt(request={"name": name, "ciphertext": enc.ciphertext})
assert dec.plaintext == secret, dec
print("sdk roundtrip ok")
# The OAuth side: google-auth's own JWT-bearer exchange at the fake token_uri, then the
# access token it got used for a call.
import google.auth.transport.requests
import google.oauth2.credentials
creds.refresh(google.auth.transport.requests.Request())
assert creds.token and creds.token.startswith("ya29."), creds.token
client = kms.KeyManagementServiceClient(
    credentials=google.oauth2.credentials.Credentials(creds.token), transport="rest",
    client_options={"api_endpoint": endpoint})
dec = client.decrypt(request={"name": name, "ciphertext": enc.ciphertext})
assert dec.plaintext == secret, dec
print("sdk token_uri exchange ok")
if len(sys.argv) > 4:
    blob = base64.b64decode(sys.argv[4])
    dec = client.decrypt(request={"name": name, "ciphertext": blob})
    print(f"sops enc decrypted: {len(dec.plaintext)} bytes")
