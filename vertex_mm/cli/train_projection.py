"""``vertex-mm train-projection``: fit projection heads on frozen local towers from image-caption pairs.

    vertex-mm train-projection photos/ --captions captions.jsonl --out heads.pt
    vertex-mm train-projection photos/ --captions captions.jsonl --out heads.safetensors --loss siglip --dim 128 --head mlp
    vertex-mm train-projection photos/ --captions captions.jsonl --out heads.pt --model clip --checkpoint ~/models/clip-b32

IMAGES_DIR holds the images; each line of the captions file is {"file": "cat.jpg", "caption": "a cat"}
(file relative to IMAGES_DIR; several lines may share an image). Lines that cannot be used are
reported and skipped.

The towers stay frozen: each image and caption is encoded once, then only the heads (linear or a
small MLP) and the loss's temperature learn. --model default trains over the default model's towers
(EfficientNet-Lite0 features and MiniLM); a joint model such as clip trains over its own outputs.

Writes the weights to OUT and their metadata (towers, dimensions, loss, SHA-256) to OUT with a .json
suffix. Use them with  get_embedder("local", model="projected", heads="heads.pt").

Exit status: 0 on success, 2 on bad input.
"""

from __future__ import annotations

import argparse
import math
import sys

__all__ = ["HELP", "add_arguments", "run"]


HELP = "fit projection heads on frozen local towers from a folder of images and a captions JSONL"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images_dir", metavar="IMAGES_DIR", help="folder of training images")
    p.add_argument("--captions", required=True, metavar="JSONL", help='one {"file": ..., "caption": ...} per line')
    p.add_argument("--out", required=True, metavar="FILE",
                   help="weights file (.safetensors, else torch.save); its metadata goes beside it with a .json suffix")
    p.add_argument("--model", default="default", help="local model whose towers to train over (default: default)")
    p.add_argument("--checkpoint", metavar="DIR", help="checkpoint folder or cached repo id for --model (clip, siglip, ...)")
    p.add_argument("--image-model", metavar="NAME", help="image tower, overriding --model's")
    p.add_argument("--text-model", metavar="NAME", help="text tower, overriding --model's")
    p.add_argument("--loss", choices=("clip", "siglip"), default="clip", help="contrastive loss (default clip)")
    p.add_argument("--head", choices=("linear", "mlp"), default="linear", help="head kind (default linear)")
    p.add_argument("--dim", type=int, default=256, help="output dimension of the heads (default 256)")
    p.add_argument("--epochs", type=int, default=200, help="passes over the pairs (default 200)")
    p.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate (default 1e-3)")
    p.add_argument("--batch-size", type=int, default=256, help="pairs per step (default 256)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--quiet", action="store_true", help="print only the summary")


def run(args: argparse.Namespace) -> int:
    from .._optional import require
    from ._errors import UsageError

    if args.dim < 1 or args.epochs < 1 or args.batch_size < 2:
        raise UsageError("--dim and --epochs must be >= 1 and --batch-size >= 2")
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise UsageError(f"--lr must be a finite number > 0, got {args.lr}")
    require("local", "torch", what="train-projection")
    from local_backend.training.train import TrainConfig, train_projection

    config = TrainConfig(loss=args.loss, head=args.head, dim=args.dim, epochs=args.epochs, lr=args.lr,
                         batch_size=args.batch_size, seed=args.seed)
    every = max(1, args.epochs // 10)

    def progress(epoch: int, loss: float) -> None:
        if not args.quiet and (epoch % every == 0 or epoch == args.epochs):
            print(f"epoch {epoch}/{args.epochs}  loss {loss:.4f}", file=sys.stderr)

    meta = train_projection(
        args.images_dir, args.captions, args.out, model=args.model,
        model_params={"checkpoint": args.checkpoint} if args.checkpoint else None,
        image_model=args.image_model, text_model=args.text_model, config=config, progress=progress,
    )
    for problem in meta["problems"]:
        print(f"skipped: {problem}", file=sys.stderr)
    print(
        f"trained {meta['head']} heads {meta['image_in_dim']}/{meta['text_in_dim']} -> {meta['dim']} on "
        f"{meta['pairs']} pairs ({meta['images']} images, {meta['skipped_pairs']} skipped), loss {meta['loss']}: "
        f"{meta['loss_before']:.4f} -> {meta['loss_after']:.4f}, text->image recall@1 "
        f"{meta['recall_at_1_before']:.2f} -> {meta['recall_at_1_after']:.2f}\n"
        f"wrote {args.out} (sha256 {meta['weights_sha256'][:12]}) and its metadata; use it with\n"
        f"  get_embedder(\"local\", model=\"projected\", heads=\"{args.out}\")"
    )
    return 0
