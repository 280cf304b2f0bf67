#!/usr/bin/env python3
"""Embeds a query and two passages with floe and ranks the passages.

    scripts/gen-python-proto.sh clients/python/floe_client/_gen
    PYTHONPATH=clients/python /usr/bin/python3 clients/python/example.py --address 127.0.0.1:50050
"""
import argparse

from floe_client import Client

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--address", default="127.0.0.1:50050", help="floe gRPC host:port")
parser.add_argument("--api-key", default=None)
args = parser.parse_args()

passages = [
    "The Eiffel Tower is in Paris.",
    "Photosynthesis turns light into chemical energy.",
]
with Client(args.address, api_key=args.api_key) as client:
    info = client.info()
    print(f"model {info['model']}: dimension {info['dimension']}, prompts {info['prompt_names']}")
    docs = client.embed(passages)  # (2, dim) float32, L2-normalized
    prompt = "query" if "query" in info["prompt_names"] else ""
    query = client.embed("where is the eiffel tower?", prompt_name=prompt)  # (1, dim)
    scores = docs @ query[0]
    for score, text in sorted(zip(scores, passages), reverse=True):
        print(f"{score:+.4f}  {text}")
