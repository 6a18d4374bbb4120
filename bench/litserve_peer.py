"""The peer for bench/serve.py: LitServe serving one aeserve checkpoint through the same `models/` code.

    python bench/litserve_peer.py CHECKPOINT --port 8100 [--max-batch-size 256 --batch-timeout-ms 2]

POST /predict {"latents": [[...]]} (one latent per request) -> {"images": [base64 PNG]}: the same
work as aeserve's POST /decode (model decode, sigmoid to uint8, PNG with the same encoder), with
LitServe's own dynamic batching.
"""

from __future__ import annotations

import argparse
from typing import Any

import litserve as ls
import torch

import models
from service.images import encode_png_base64
from service.inference import for_inference, keep_freed_memory


class DecodeAPI(ls.LitAPI):
    def __init__(self, checkpoint: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.checkpoint = checkpoint

    def setup(self, device: str) -> None:
        keep_freed_memory()  # as aeserve's inference process does
        self.model = for_inference(models.load(self.checkpoint, device).model)  # as aeserve prepares it
        self.device = device

    # no annotations: LitServe reads them to build its endpoint, and without one it parses the JSON itself
    def decode_request(self, request):  # type: ignore[no-untyped-def]
        return torch.tensor(request["latents"][0], dtype=torch.float32)

    @torch.inference_mode()
    def predict(self, latents: torch.Tensor) -> Any:
        # with batching on, LitServe stacks the requests' tensors into one (B, latent_dim) batch
        batched = latents.dim() == 2
        logits = self.model.decode(latents.to(self.device) if batched else latents[None].to(self.device))
        images = torch.sigmoid(logits).mul_(255).round_().to(torch.uint8).cpu().numpy()
        return list(images) if batched else images[0]

    def encode_response(self, image):  # type: ignore[no-untyped-def]
        return {"images": [encode_png_base64(image)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--max-batch-size", type=int, default=256)
    parser.add_argument("--batch-timeout-ms", type=float, default=2.0)
    parser.add_argument("--fast-queue", action="store_true", help="LitServe's ZeroMQ transport")
    args = parser.parse_args()
    api = DecodeAPI(args.checkpoint, max_batch_size=args.max_batch_size, batch_timeout=args.batch_timeout_ms / 1000)
    server = ls.LitServer(api, accelerator="cpu", devices=1, workers_per_device=1, fast_queue=args.fast_queue)
    server.run(host="127.0.0.1", port=args.port, log_level="warning", generate_client_file=False)


if __name__ == "__main__":
    main()
