#!/usr/bin/env python3
"""Golden vectors of worker payloads with extra_data and proof, and of a
transaction whose fee names a fee granter, produced by the official Allora
Python SDK (allora-sdk 1.3.0) and cosmpy, for allora-sdk's golden_vectors test.

The payloads go through the SDK's own EmissionsTxs.insert_worker_payload (its
v10 classes, canonical decimals and bundle signing), with a stand-in for its
TxManager that records the message instead of broadcasting it. The
transaction is built as the SDK's TxManager builds one (its message wrapper,
cosmpy Transaction, SIGN_MODE_DIRECT), with a TxFee naming a granter (which
the SDK's own TxManager never sets) and an RFC 6979 signature so the bytes
are reproducible.

Regenerate (after `bash scripts/install-test-deps.sh`):

    target/test-deps/venv/bin/python scripts/vectors/payload_extras.py \
        > allora-sdk/tests/vectors/allora-sdk-py-1.3.0-extras.json

The keys are public test keys: never fund them.
"""

import asyncio
import hashlib
import json
import sys
from importlib.metadata import version

from cosmpy.aerial.tx import SigningCfg, Transaction, TxFee
from cosmpy.aerial.wallet import LocalWallet
from cosmpy.crypto.address import Address
from cosmpy.crypto.keypairs import PrivateKey
from cosmpy.protos.cosmos.base.v1beta1.coin_pb2 import Coin
from cosmpy.protos.cosmos.tx.v1beta1.tx_pb2 import SignDoc

from allora_sdk.rpc_client.client_emissions import EmissionsTxs
from allora_sdk.rpc_client.dec_canonical import canonicalize_dec
from allora_sdk.rpc_client.protos.emissions.v10 import InputLabeledValue
from allora_sdk.rpc_client.tx_manager import TxManager

MNEMONIC = "abandon " * 11 + "about"
HD_PATH = "m/44'/118'/0'/0/0"
TYPE_URL = "/emissions.v10.InsertWorkerPayloadRequest"
GRANTER = "allo15gpgf5e3gq6v336806d64z4pdtskhd634q22f4"
OTHER_INFERER = "allo1gq0nwve58exvqrxnmmrqr9xpa7f6glddqvjrsz"


class RecordingTxs:
    """What EmissionsTxs needs of a TxManager: the wallet, and a submit that
    records the message instead of sending it."""

    def __init__(self, wallet):
        self.wallet = wallet
        self.sent = []

    async def submit_transaction(self, type_url, msgs, **_):
        self.sent.append((type_url, msgs))


def wallet_entry(wallet):
    key = wallet.signer()
    public = wallet.public_key()
    return {
        "name": "bip39_12_abandon_about",
        "mnemonic": MNEMONIC,
        "hd_path": HD_PATH,
        "bip39_passphrase": "",
        "private_key_hex": key.private_key_hex,
        "pubkey_compressed_hex": public.public_key_hex,
        "pubkey_base64": public.public_key,
        "address_bytes_hex": bytes(wallet.address()).hex(),
        "address": str(wallet.address()),
    }


async def payload(wallet, name, topic_id, nonce, inference, forecast, extra_data, proof):
    txs = RecordingTxs(wallet)
    values = None
    if inference is not None:
        values = [InputLabeledValue(label="y", value=canonicalize_dec(inference))]
    await EmissionsTxs(txs).insert_worker_payload(
        topic_id=topic_id,
        inference_value=values,
        nonce=nonce,
        forecast_elements=forecast,
        extra_data=extra_data,
        proof=proof,
    )
    [(type_url, [msg])] = txs.sent
    data = msg.worker_data_bundle
    bundle = bytes(data.inference_forecasts_bundle)
    inf = data.inference_forecasts_bundle.inference
    fc = data.inference_forecasts_bundle.forecast
    return msg, {
        "name": name,
        "role": "inferer" if inference is not None else "forecaster",
        "wallet": "bip39_12_abandon_about",
        "worker_address": str(wallet.address()),
        "topic_id": topic_id,
        "nonce_block_height": nonce,
        "prediction_input": inference if inference is not None else {e["inferer"]: e["value"] for e in forecast},
        "inference": None if inf is None else {
            "value_field": inf.value,
            "values": [{"label": v.label, "value": v.value} for v in inf.values],
            "extra_data_hex": inf.extra_data.hex(),
            "proof": inf.proof,
        },
        "forecast_elements": None if fc is None else [
            {"inferer": e.inferer, "value": e.value} for e in fc.forecast_elements
        ],
        "forecast_extra_data_hex": None if fc is None else fc.extra_data.hex(),
        "bundle_proto_hex": bundle.hex(),
        "bundle_sha256_hex": hashlib.sha256(bundle).hexdigest(),
        "bundle_signature_hex": data.inferences_forecasts_bundle_signature.hex(),
        "pubkey_field": data.pubkey,
        "msg_type_url": type_url,
        "msg_proto_hex": bytes(msg).hex(),
    }


def granted_tx(wallet, msg, name, payload_name):
    chain_id, account_number, sequence, gas, amount = "allora-testnet-1", 12345, 7, 250000, 20000
    tx = Transaction()
    # The SDK's own wrapper of a betterproto message for cosmpy.
    tx.add_message(TxManager._create_any_message(None, msg, TYPE_URL))
    tx.seal(
        signing_cfgs=[SigningCfg.direct(wallet.public_key(), sequence_num=sequence)],
        fee=TxFee(amount=[Coin(denom="uallo", amount=str(amount))], gas_limit=gas,
                  granter=Address(GRANTER)),
    )
    tx.sign(signer=wallet.signer(), chain_id=chain_id, account_number=account_number,
            deterministic=True)
    tx.complete()
    raw = tx.tx.SerializeToString()
    body = tx.tx.body.SerializeToString()
    auth_info = tx.tx.auth_info.SerializeToString()
    doc = SignDoc(body_bytes=body, auth_info_bytes=auth_info, chain_id=chain_id,
                  account_number=account_number).SerializeToString()
    return {
        "name": name,
        "payload": payload_name,
        "chain_id": chain_id,
        "account_number": account_number,
        "sequence": sequence,
        "gas_limit": gas,
        "fee_amount": [{"denom": "uallo", "amount": str(amount)}],
        "fee_granter": GRANTER,
        "memo": "",
        "timeout_height": 0,
        "pubkey_type_url": "/cosmos.crypto.secp256k1.PubKey",
        "body_bytes_hex": body.hex(),
        "auth_info_bytes_hex": auth_info.hex(),
        "sign_doc_bytes_hex": doc.hex(),
        "sign_doc_sha256_hex": hashlib.sha256(doc).hexdigest(),
        "signature_rfc6979_hex": tx.tx.signatures[0].hex(),
        "tx_raw_hex": raw.hex(),
        "tx_hash": hashlib.sha256(raw).hexdigest().upper(),
    }


async def main():
    wallet = LocalWallet.from_mnemonic(MNEMONIC, prefix="allo")
    extra = b"\x00\x01model-v7\xff"
    proof = "zkml:groth16:0f3a"
    # In inferer order, as the SDK's forecaster passes them (worker/forecaster.py
    # sorts the forecast map by inferer address before insert_worker_payload).
    forecast = sorted(
        [{"inferer": OTHER_INFERER, "value": "0.12"}, {"inferer": GRANTER, "value": "1.5E-3"}],
        key=lambda e: e["inferer"],
    )
    cases = [
        ("inferer_extra_data_and_proof", 69, 1234567, "3012.5", None, extra, proof),
        ("inferer_proof_only", 69, 1234568, "-0.0042", None, None, "proof-without-data"),
        ("inferer_and_forecaster_extra_data", 13, 987654, "2.25", forecast, extra, proof),
        ("forecaster_extra_data", 13, 987655, None, forecast, b"forecast-meta", None),
    ]
    payloads, msgs = [], {}
    for name, *args in cases:
        msg, entry = await payload(wallet, name, *args)
        payloads.append(entry)
        msgs[name] = msg
    txs = [granted_tx(wallet, msgs["inferer_extra_data_and_proof"],
                      "fee_granter_extra_data", "inferer_extra_data_and_proof")]
    json.dump({
        "source": f"Produced by the official Allora Python SDK (allora-sdk {version('allora-sdk')}, "
                  f"cosmpy {version('cosmpy')}, betterproto2 {version('betterproto2')}) with "
                  "scripts/vectors/payload_extras.py: payloads from EmissionsTxs.insert_worker_payload, "
                  "a transaction built as its TxManager builds one with a fee granter added "
                  "(RFC 6979 signature). These keys are public test keys: never fund them.",
        "notes": [
            "insert_worker_payload puts the same extra_data in the inference (field 5) and the "
            "forecast (field 5); proof is the inference's field 6; empty values are left out (proto3).",
            "The transaction's AuthInfo fee carries granter (field 4); payer stays empty.",
        ],
        "wallets": [wallet_entry(wallet)],
        "payloads": payloads,
        "txs": txs,
    }, sys.stdout, indent=2)
    sys.stdout.write("\n")


asyncio.run(main())
