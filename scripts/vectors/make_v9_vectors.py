#!/usr/bin/env python3
"""Golden vectors of emissions v9 worker payloads and transactions, made with
the official Allora Python SDK's own v9 protobuf classes and its signing.

The official SDK (PyPI allora-sdk 1.3.0) ships the emissions.v9 messages
(`allora_sdk.rpc_client.protos.emissions.v9`, betterproto2) but its worker
only sends v10. This script builds v9 payloads the way its v10 path builds
v10 ones (`rpc_client/client_emissions.py`, `insert_worker_payload`):

  - values in canonical decimal text (`allora_sdk.rpc_client.dec_canonical`);
    on v9 the inference is one value, in `InputInference.value` (field 4);
  - forecast elements sorted by inferer address;
  - bundle signature: cosmpy `PrivateKey.sign_digest(sha256(bundle))`,
    RFC 6979 deterministic k, low-S, 64-byte r||s;
  - `pubkey`: lower-case hex of the 33-byte compressed key;
  - transactions: cosmpy `Transaction` (SIGN_MODE_DIRECT) with the message
    wrapped as the SDK's `TxManager._create_any_message` does, signed with
    `deterministic=True` (the SDK itself uses a random k for transactions;
    everything but the signature is the same either way);
  - simulation bytes as `TxManager.simulate_transaction` builds them: a
    1 uallo fee, the SDK's worker-payload gas estimate (250000 x 1.2) and an
    empty signature.

Run it with the interpreter that scripts/install-test-deps.sh sets up:

    bash scripts/install-test-deps.sh
    target/test-deps/venv/bin/python scripts/vectors/make_v9_vectors.py \
        > allora-sdk/tests/vectors/allora-sdk-py-1.3.0-emissions-v9.json

The output is deterministic: running it again gives the same file. The test
suite reads the committed file (allora-sdk/tests/golden_vectors_v9.rs) and
does not run this script. These keys are public test keys: never fund them.
"""

import hashlib
import importlib.metadata
import json
import sys

from cosmpy.aerial.coins import Coin
from cosmpy.aerial.tx import SigningCfg, Transaction, TxFee
from cosmpy.aerial.wallet import LocalWallet
from cosmpy.protos.cosmos.tx.v1beta1.tx_pb2 import SignDoc, TxRaw
from ecdsa import SECP256k1, VerifyingKey
from ecdsa.util import sigdecode_string

from allora_sdk.rpc_client.dec_canonical import canonicalize_dec
from allora_sdk.rpc_client.protos.emissions.v3 import Nonce
from allora_sdk.rpc_client.protos.emissions.v9 import (
    InputForecast,
    InputForecastElement,
    InputInference,
    InputInferenceForecastBundle,
    InputWorkerDataBundle,
    InsertWorkerPayloadRequest,
)

REQUIRED = {"allora-sdk": "1.3.0", "cosmpy": "0.12.2", "betterproto2": "0.7.1", "ecdsa": "0.19.2"}
TYPE_URL = "/emissions.v9.InsertWorkerPayloadRequest"
HD_PATH = "m/44'/118'/0'/0/0"
SIMULATION_GAS = int(250000 * 1.2)

WALLETS = {
    "bip39_12_abandon_about": "abandon abandon abandon abandon abandon abandon "
    "abandon abandon abandon abandon abandon about",
    "bip39_24_abandon_art": " ".join(["abandon"] * 23 + ["art"]),
}

# Python floats are given by their repr, as the v10 vectors do: a caller's
# float goes through str() before canonicalisation.
PAYLOADS = [
    {"name": "v9_inferer_3012.5", "role": "inferer", "wallet": "bip39_12_abandon_about",
     "topic_id": 1, "nonce_block_height": 1234, "prediction_input": "3012.5"},
    {"name": "v9_inferer_exponent_float", "role": "inferer", "wallet": "bip39_24_abandon_art",
     "topic_id": 69, "nonce_block_height": 1234567,
     "prediction_input": {"python_float_repr": "1.2345e-07"}},
    {"name": "v9_inferer_and_forecaster", "role": "inferer+forecaster",
     "wallet": "bip39_12_abandon_about", "topic_id": 1, "nonce_block_height": 1234,
     "prediction_input": "3012.5",
     "forecast_input": {"allo1r5v5srda7xfth3hn2s26txvrcrntldju4cacqx": {"python_float_repr": "0.12"},
                        "allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv": "1E+3"}},
    {"name": "v9_forecaster", "role": "forecaster", "wallet": "bip39_24_abandon_art",
     "topic_id": 7, "nonce_block_height": 900,
     "forecast_input": {"allo19rl4cm2hmr8afy4kldpxz3fka4jguq0ajnh7gv": "-0.5",
                        "allo1r5v5srda7xfth3hn2s26txvrcrntldju4cacqx": "2"}},
]

TXS = [
    {"name": "v9_inferer_3012.5_mainnet", "payload": "v9_inferer_3012.5",
     "chain_id": "allora-mainnet-1", "account_number": 7, "sequence": 3,
     "gas_limit": 300000, "fee": 75000000000000, "memo": "", "timeout_height": 0},
    {"name": "v9_inferer_and_forecaster_memo", "payload": "v9_inferer_and_forecaster",
     "chain_id": "allora-devnet-1", "account_number": 12345, "sequence": 0,
     "gas_limit": 216000, "fee": 3240000, "memo": "allora-rs v9 vector", "timeout_height": 0},
    {"name": "v9_forecaster_timeout", "payload": "v9_forecaster",
     "chain_id": "allora-mainnet-1", "account_number": 1, "sequence": 41,
     "gas_limit": 250000, "fee": 2500000, "memo": "", "timeout_height": 5000000},
]


def check_versions():
    for package, version in REQUIRED.items():
        found = importlib.metadata.version(package)
        if found != version:
            sys.exit(f"make_v9_vectors: {package} {found} installed, {version} required "
                     "(run scripts/install-test-deps.sh and use target/test-deps/venv/bin/python)")


def dec(value):
    """The canonical decimal of a vector input (text, or a Python float's repr)."""
    if isinstance(value, dict):
        return canonicalize_dec(float(value["python_float_repr"]))
    return canonicalize_dec(value)


class AnyMessage:
    """A betterproto2 message as cosmpy expects one (TxManager._create_any_message)."""

    def __init__(self, message, type_url):
        self._bytes = bytes(message)
        self.DESCRIPTOR = type("Descriptor", (), {"full_name": type_url.lstrip("/")})()

    def SerializeToString(self, deterministic=False):  # noqa: N802 (protobuf's name)
        return self._bytes


def verify(pubkey_hex, signature, digest):
    key = VerifyingKey.from_string(bytes.fromhex(pubkey_hex), curve=SECP256k1)
    low_s = int.from_bytes(signature[32:], "big") <= SECP256k1.order // 2
    return key.verify_digest(signature, digest, sigdecode=sigdecode_string), low_s


def payload_vector(spec, wallets):
    wallet = wallets[spec["wallet"]]
    address = str(wallet.address())
    topic, nonce = spec["topic_id"], spec["nonce_block_height"]
    inference = None
    if "prediction_input" in spec:
        inference = InputInference(topic_id=topic, block_height=nonce, inferer=address,
                                   value=dec(spec["prediction_input"]), extra_data=b"", proof="")
    forecast = None
    if "forecast_input" in spec:
        elements = sorted(
            (InputForecastElement(inferer=inferer, value=dec(value))
             for inferer, value in spec["forecast_input"].items()),
            key=lambda e: e.inferer,
        )
        forecast = InputForecast(topic_id=topic, block_height=nonce, forecaster=address,
                                 forecast_elements=elements, extra_data=b"")
    bundle = InputInferenceForecastBundle(inference=inference, forecast=forecast)
    bundle_bytes = bytes(bundle)
    digest = hashlib.sha256(bundle_bytes).digest()
    signature = wallet.signer().sign_digest(digest)
    pubkey = wallet.public_key().public_key_hex
    message = InsertWorkerPayloadRequest(
        sender=address,
        worker_data_bundle=InputWorkerDataBundle(
            worker=address, nonce=Nonce(block_height=nonce), topic_id=topic,
            inference_forecasts_bundle=bundle,
            inferences_forecasts_bundle_signature=signature, pubkey=pubkey),
    )
    message_bytes = bytes(message)
    verifies, low_s = verify(pubkey, signature, digest)
    parsed = InsertWorkerPayloadRequest.parse(message_bytes)
    vector = {
        "name": spec["name"],
        "role": spec["role"],
        "wallet": spec["wallet"],
        "worker_address": address,
        "topic_id": topic,
        "nonce_block_height": nonce,
        "prediction_input": spec.get("prediction_input"),
        "forecast_input": spec.get("forecast_input"),
        "inference_value_field": inference.value if inference else None,
        "forecast_elements": [{"inferer": e.inferer, "value": e.value}
                              for e in forecast.forecast_elements] if forecast else None,
        "bundle_proto_hex": bundle_bytes.hex(),
        "bundle_sha256_hex": digest.hex(),
        "bundle_signature_hex": signature.hex(),
        "pubkey_field": pubkey,
        "msg_type_url": TYPE_URL,
        "msg_proto_hex": message_bytes.hex(),
        "checks": {
            "signature_len_64": len(signature) == 64,
            "signature_low_s": low_s,
            "signature_verifies_sha256_digest": verifies,
            "signature_deterministic": wallet.signer().sign_digest(digest) == signature,
            "message_round_trips": bytes(parsed) == message_bytes,
        },
    }
    return vector, message


def tx_vector(spec, payload, message, wallets):
    wallet = wallets[payload["wallet"]]
    any_message = AnyMessage(message, TYPE_URL)
    sequence = spec["sequence"]

    simulation = Transaction()
    simulation.add_message(any_message)
    simulation.seal(SigningCfg.direct(wallet.public_key(), sequence_num=sequence),
                    fee=TxFee(amount=[Coin(amount=1, denom="uallo")], gas_limit=SIMULATION_GAS),
                    memo=spec["memo"], timeout_height=spec["timeout_height"] or None)
    simulation.complete()
    simulate_bytes = TxRaw(body_bytes=simulation.tx.body.SerializeToString(),
                           auth_info_bytes=simulation.tx.auth_info.SerializeToString(),
                           signatures=[b""]).SerializeToString()

    tx = Transaction()
    tx.add_message(any_message)
    tx.seal(SigningCfg.direct(wallet.public_key(), sequence_num=sequence),
            fee=TxFee(amount=[Coin(amount=spec["fee"], denom="uallo")], gas_limit=spec["gas_limit"]),
            memo=spec["memo"], timeout_height=spec["timeout_height"] or None)
    tx.sign(wallet.signer(), spec["chain_id"], spec["account_number"], deterministic=True)
    tx.complete()
    body = tx.tx.body.SerializeToString()
    auth_info = tx.tx.auth_info.SerializeToString()
    sign_doc = SignDoc(body_bytes=body, auth_info_bytes=auth_info, chain_id=spec["chain_id"],
                       account_number=spec["account_number"]).SerializeToString()
    signature = tx.tx.signatures[0]
    tx_raw = TxRaw(body_bytes=body, auth_info_bytes=auth_info, signatures=[signature]).SerializeToString()
    sign_doc_digest = hashlib.sha256(sign_doc).digest()
    verifies, low_s = verify(payload["pubkey_field"], signature, sign_doc_digest)
    return {
        "name": spec["name"],
        "payload": spec["payload"],
        "chain_id": spec["chain_id"],
        "account_number": spec["account_number"],
        "sequence": sequence,
        "gas_limit": spec["gas_limit"],
        "fee_amount": [{"denom": "uallo", "amount": str(spec["fee"])}],
        "memo": spec["memo"],
        "timeout_height": spec["timeout_height"],
        "sign_mode": "SIGN_MODE_DIRECT",
        "pubkey_type_url": tx.tx.auth_info.signer_infos[0].public_key.type_url,
        "any_type_url": tx.tx.body.messages[0].type_url,
        "simulate_gas_limit": SIMULATION_GAS,
        "simulate_tx_bytes_hex": simulate_bytes.hex(),
        "body_bytes_hex": body.hex(),
        "auth_info_bytes_hex": auth_info.hex(),
        "sign_doc_bytes_hex": sign_doc.hex(),
        "sign_doc_sha256_hex": sign_doc_digest.hex(),
        "signature_rfc6979_hex": signature.hex(),
        "tx_raw_hex": tx_raw.hex(),
        "tx_hash": hashlib.sha256(tx_raw).hexdigest().upper(),
        "checks": {
            "signature_low_s": low_s,
            "signature_verifies": verifies,
            "signature_equals_signer_sign_of_sign_doc":
                wallet.signer().sign(sign_doc, deterministic=True) == signature,
        },
    }


def main():
    check_versions()
    wallets = {name: LocalWallet.from_mnemonic(mnemonic, "allo") for name, mnemonic in WALLETS.items()}
    payloads, messages = [], {}
    for spec in PAYLOADS:
        vector, message = payload_vector(spec, wallets)
        payloads.append(vector)
        messages[spec["name"]] = message
    by_name = {p["name"]: p for p in payloads}
    txs = [tx_vector(spec, by_name[spec["payload"]], messages[spec["payload"]], wallets) for spec in TXS]
    failed = [(v["name"], k) for v in payloads + txs for k, ok in v["checks"].items() if not ok]
    if failed:
        sys.exit(f"make_v9_vectors: self-checks failed: {failed}")
    document = {
        "source": "Made by scripts/vectors/make_v9_vectors.py with the official Allora Python SDK "
                  "(allora-sdk 1.3.0: its emissions.v9 protobuf classes and canonical decimals; "
                  "cosmpy 0.12.2 signing, RFC 6979, low-S). These keys are public test keys: "
                  "never fund them.",
        "notes": [
            f"Msg type is emissions.v9.InsertWorkerPayloadRequest (type_url {TYPE_URL}).",
            "v9 InputInference carries the canonical value in value (field 4); it has no labeled "
            "values (no field 7).",
            "Bundle signature = cosmpy sign_digest(sha256(bundle_proto)): RFC 6979, low-S, 64-byte "
            "r||s; pubkey field = lower-case hex of the 33-byte compressed key.",
            "Transactions are signed with RFC 6979 (the SDK signs them with a random k); "
            f"simulation bytes carry a 1 uallo fee, {SIMULATION_GAS} gas and an empty signature.",
        ],
        "wallets": [{"name": name, "mnemonic": mnemonic, "hd_path": HD_PATH,
                     "address": str(wallets[name].address()),
                     "pubkey_compressed_hex": wallets[name].public_key().public_key_hex}
                    for name, mnemonic in WALLETS.items()],
        "payloads": payloads,
        "txs": txs,
    }
    json.dump(document, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
