#!/usr/bin/env python3
"""Drives the HuaweiCloud KMS fake with Huawei's own Python SDK (huaweicloudsdkkms): encrypts
and decrypts through it, with the region's endpoint taken from
HUAWEICLOUD_SDK_REGION_KMS_<REGION> as the SDK resolves it. Prints the cipher text and exits 0
on success.

Usage: hckms_sdk_check.py REGION KEY_UUID CA_FILE AK SK PROJECT_ID [SECURITY_TOKEN]
"""

import base64
import os
import sys

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkkms.v2 import KmsClient, EncryptDataRequest, EncryptDataRequestBody
from huaweicloudsdkkms.v2 import DecryptDataRequest, DecryptDataRequestBody
from huaweicloudsdkkms.v2.region.kms_region import KmsRegion

region, key, ca, ak, sk, project = sys.argv[1:7]
token = sys.argv[7] if len(sys.argv) > 7 else None

creds = BasicCredentials(ak, sk, project)
if token:
    creds = creds.with_security_token(token)
config = HttpConfig.get_default_config()
config.ssl_ca_cert = ca
client = (KmsClient.new_builder().with_credentials(creds).with_http_config(config)
          .with_region(KmsRegion.value_of(region)).build())

secret = os.urandom(32)
plain = base64.b64encode(secret).decode()
enc = client.encrypt_data(EncryptDataRequest(body=EncryptDataRequestBody(
    key_id=key, plain_text=plain, encryption_algorithm="SYMMETRIC_DEFAULT")))
dec = client.decrypt_data(DecryptDataRequest(body=DecryptDataRequestBody(
    cipher_text=enc.cipher_text, encryption_algorithm="SYMMETRIC_DEFAULT", key_id=key)))
assert base64.b64decode(dec.plain_text) == secret, "round trip through the SDK failed"
print(enc.cipher_text)
