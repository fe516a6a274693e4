"""Runs the official Allora Python SDK's stock inferer, unmodified, against a
chain given by environment variables (the allora-devnet python_worker test
points it at a devnet on 127.0.0.1).

One `AlloraWorker.inferer` runs per entry of ALLORA_WORKERS, all at once, each
with its own key and topic, until ALLORA_RUN_SECONDS have passed. Each result
the workers yield is printed as one JSON line on stdout.

Environment:
  ALLORA_CHAIN_ID          chain id (must match the node's)
  ALLORA_GRPC_URL          grpc+http://HOST:PORT
  ALLORA_WEBSOCKET_URL     ws://HOST:PORT/websocket
  ALLORA_STATIC_GAS_PRICE  the fallback gas price in uallo per gas; the
                           workers use the fee market's price (dynamic
                           pricing on), as they do on testnet and mainnet
  ALLORA_WORKERS           JSON list of {"topic_id": N, "private_key": HEX,
                           "output": "value" | "labeled"}: "value" returns a
                           number (sent with the label "y"), "labeled"
                           returns {"price": number} (sent with the label
                           "price")
  ALLORA_RUN_SECONDS       how long to run
"""

import asyncio
import json
import os
import sys

from allora_sdk.rpc_client.config import AlloraNetworkConfig, AlloraWalletConfig
from allora_sdk.worker.worker import AlloraWorker

PREDICTION = 3012.5


def network() -> AlloraNetworkConfig:
    return AlloraNetworkConfig(
        chain_id=os.environ["ALLORA_CHAIN_ID"],
        url=os.environ["ALLORA_GRPC_URL"],
        websocket_url=os.environ["ALLORA_WEBSOCKET_URL"],
        fee_denom="uallo",
        fee_minimum_gas_price=float(os.environ["ALLORA_STATIC_GAS_PRICE"]),
        use_dynamic_gas_price=True,
    )


def predictor(output: str):
    if output == "value":
        return lambda ctx: PREDICTION
    if output == "labeled":
        return lambda ctx: {"price": PREDICTION}
    raise ValueError(f"unknown output {output!r}: use 'value' or 'labeled'")


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


async def run_one(spec: dict, seconds: float) -> None:
    topic_id = int(spec["topic_id"])
    worker = AlloraWorker.inferer(
        run=predictor(spec["output"]),
        wallet=AlloraWalletConfig(private_key=spec["private_key"]),
        network=network(),
        topic_id=topic_id,
        polling_interval=1,
        show_banner=False,
    )
    emit({"topic_id": topic_id, "address": str(worker.address), "event": "started"})
    async for result in worker.run(timeout=seconds):
        if isinstance(result, Exception):
            emit({"topic_id": topic_id, "event": "error", "error": repr(result)})
        else:
            emit({"topic_id": topic_id, "event": "result", "result": repr(result)})


async def main() -> int:
    specs = json.loads(os.environ["ALLORA_WORKERS"])
    seconds = float(os.environ["ALLORA_RUN_SECONDS"])
    await asyncio.gather(*(run_one(spec, seconds) for spec in specs))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
