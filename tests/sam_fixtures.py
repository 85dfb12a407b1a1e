"""A small, randomly initialised Segment Anything model built from segment_anything's parts,
so the real SAM code paths run in seconds on a CPU without downloaded weights."""

from __future__ import annotations

from functools import partial


def tiny_sam(seed: int = 0):
    import torch
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    torch.manual_seed(seed)
    dim = 32
    encoder = ImageEncoderViT(
        depth=1,
        embed_dim=48,
        img_size=1024,
        mlp_ratio=2,
        norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
        num_heads=2,
        patch_size=16,
        qkv_bias=True,
        use_rel_pos=False,
        global_attn_indexes=(),
        window_size=0,
        out_chans=dim,
    )
    prompt = PromptEncoder(embed_dim=dim, image_embedding_size=(64, 64), input_image_size=(1024, 1024), mask_in_chans=8)
    decoder = MaskDecoder(
        num_multimask_outputs=3,
        transformer=TwoWayTransformer(depth=1, embedding_dim=dim, mlp_dim=64, num_heads=2),
        transformer_dim=dim,
        iou_head_depth=2,
        iou_head_hidden_dim=dim,
    )
    sam = Sam(encoder, prompt, decoder, pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375])
    return sam.eval()
