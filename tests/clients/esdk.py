"""The AWS Encryption SDK for Python against Keyshard: envelope encryption through the SDK's
AWS KMS keyring, the strictest real client of GenerateDataKey and Decrypt.

Usage: esdk.py http://127.0.0.1:PORT
"""

import logging
import sys

import boto3
import aws_encryption_sdk
from aws_encryption_sdk import CommitmentPolicy
from aws_cryptographic_material_providers.mpl import AwsCryptographicMaterialProviders
from aws_cryptographic_material_providers.mpl.config import MaterialProvidersConfig
from aws_cryptographic_material_providers.mpl.models import CreateAwsKmsKeyringInput


def main(endpoint):
    # The SDK logs the refusals this test provokes; only the assertions matter here.
    logging.getLogger("aws_encryption_sdk").setLevel(logging.CRITICAL)
    kms = boto3.client(
        "kms",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="AKIDCLIENTTEST000000",
        aws_secret_access_key="client-test-secret",
    )
    key_arn = kms.create_key(Description="esdk")["KeyMetadata"]["Arn"]
    other_arn = kms.create_key(Description="esdk other")["KeyMetadata"]["Arn"]

    providers = AwsCryptographicMaterialProviders(config=MaterialProvidersConfig())
    keyring = providers.create_aws_kms_keyring(
        input=CreateAwsKmsKeyringInput(kms_key_id=key_arn, kms_client=kms)
    )
    other_keyring = providers.create_aws_kms_keyring(
        input=CreateAwsKmsKeyringInput(kms_key_id=other_arn, kms_client=kms)
    )
    sdk = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
    )

    message = b"a message sealed under a Keyshard data key\n" * 100
    context = {"tenant": "blue", "purpose": "esdk-test"}
    ciphertext, header = sdk.encrypt(source=message, keyring=keyring, encryption_context=context)
    assert ciphertext != message
    assert [k.key_provider.key_info.decode() for k in header.encrypted_data_keys] == [key_arn]

    decrypted, decrypted_header = sdk.decrypt(source=ciphertext, keyring=keyring)
    assert decrypted == message
    for name, value in context.items():
        assert decrypted_header.encryption_context[name] == value

    # A keyring for another key cannot open the message.
    try:
        sdk.decrypt(source=ciphertext, keyring=other_keyring)
    except Exception as err:  # the SDK raises its own error types; any refusal is correct
        refused = type(err).__name__
    else:
        raise AssertionError("a keyring for another key decrypted the message")

    # A disabled key refuses the data key, so the message stays sealed until it is enabled.
    kms.disable_key(KeyId=key_arn)
    try:
        sdk.decrypt(source=ciphertext, keyring=keyring)
    except Exception as err:  # the keyring reports that no KMS key could decrypt
        assert "No Configured KMS Key was able to decrypt" in str(err), err
    else:
        raise AssertionError("a message under a disabled key decrypted")
    kms.enable_key(KeyId=key_arn)
    assert sdk.decrypt(source=ciphertext, keyring=keyring)[0] == message

    # A changed byte in the body is detected.
    tampered = bytearray(ciphertext)
    tampered[-40] ^= 1
    try:
        sdk.decrypt(source=bytes(tampered), keyring=keyring)
    except Exception:
        pass
    else:
        raise AssertionError("a tampered message decrypted")

    print(f"esdk: encrypted and decrypted {len(message)} bytes under {key_arn}; "
          f"another key's keyring was refused ({refused}); tampering was detected")


if __name__ == "__main__":
    main(sys.argv[1])
