#!/usr/bin/env python3
"""Check tools/train/video_model.py against the real VideoCrafter2 code (T2V-Turbo's lvdm) and
open_clip: same state-dict names (strict load both ways) and the same outputs on the same
random weights.

  UNet:  lvdm.modules.networks.openaimodel3d.UNetModel, for the shipped tiny config and for a
         VideoCrafter2-shaped config (4 levels, 2 res blocks, attention at 4/2/1, time_cond_proj
         as T2V-Turbo adds it), with every weight random (also the zero-initialised ones).
  VAE:   lvdm.modules.networks.ae_modules Encoder / Decoder + quant_conv / post_quant_conv
         (lvdm.models.autoencoder.AutoencoderKL's glue, which imports pytorch_lightning).
  Text:  open_clip v2.24.0's TextTransformer blocks (the version T2V-Turbo pins) driven by lvdm's
         own FrozenOpenCLIPEmbedder.encode_with_transformer / text_transformer_forward,
         executed from lvdm/modules/encoders/condition.py (layer = penultimate).
  DDIM:  lvdm.models.samplers.ddim.DDIMSampler with CFG, betas from lvdm's make_beta_schedule
         and VideoCrafter2's scale_arr (use_scale, scale_b 0.7, mid_step 400, as in
         ddpm3d.LatentDiffusion without fix_scale_bug).

Upstream code is not part of this repository.  Get it into a scratch folder:
  T2V-Turbo  github:Ji4chenLi/t2v-turbo  (checked with commit eaae323)
  einops     github:arogozhnikov/einops (checked with commit ccb89f2)
  open_clip  github:mlfoundations/open_clip, tag v2.24.0 (src/open_clip)
and run
  /usr/bin/python3 tools/ref/check_vc2_lvdm.py --lvdm DIR/t2v-turbo --einops DIR/einops-parent \
      --open-clip DIR/open_clip-v2.24.0/src
Missing optional imports of those packages (utils.utils, tqdm, torchvision helpers of
open_clip) are replaced by small stubs here; none of them computes anything that is compared.
Prints the max |difference| per check and exits non-zero if any exceeds 1e-4 (relative).
"""
import argparse
import ast
import os
import sys
import types

import torch
import torch.utils.checkpoint

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "train"))


def stub(name, **attrs):
    m = types.ModuleType(name)
    for k, v in attrs.items():
        setattr(m, k, v)
    sys.modules[name] = m
    return m


def randomize(model, seed, std=0.1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("norm.weight") or ".norm" in n and n.endswith("weight") or n.endswith("ln_1.weight") \
                    or n.endswith("ln_2.weight") or n.endswith("ln_final.weight"):
                p.copy_(1 + std * torch.randn(p.shape, generator=g))
            else:
                p.copy_(std * torch.randn(p.shape, generator=g))


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


FAIL = []


def report(name, a, b, tol=1e-4):
    r = rel(a, b)
    ok = r <= tol
    print(f"{'ok  ' if ok else 'FAIL'} {name}: max |diff| / max |ref| = {r:.2e}  (shape {tuple(b.shape)})")
    if not ok:
        FAIL.append(name)


def check_names(ours, theirs, what):
    a, b = set(ours.state_dict()), set(theirs.state_dict())
    if a != b:
        print(f"FAIL {what}: names differ; only ours {sorted(a - b)[:8]}, only upstream {sorted(b - a)[:8]}")
        FAIL.append(what + " names")
        return False
    shapes = [k for k in a if ours.state_dict()[k].shape != theirs.state_dict()[k].shape]
    if shapes:
        print(f"FAIL {what}: shapes differ for {shapes[:8]}")
        FAIL.append(what + " shapes")
        return False
    print(f"ok   {what}: {len(a)} tensors, same names and shapes")
    return True


def clip_container(tt):
    """open_clip.CLIP keeps the text tower's parts at top level (what FrozenOpenCLIPEmbedder.model is)."""
    clip = torch.nn.Module()
    clip.transformer, clip.token_embedding = tt.transformer, tt.token_embedding
    clip.positional_embedding, clip.ln_final, clip.text_projection = tt.positional_embedding, tt.ln_final, tt.text_projection
    clip.logit_scale = torch.nn.Parameter(torch.ones([]))
    clip.register_buffer("attn_mask", tt.attn_mask, persistent=False)
    return clip


def lvdm_text_encoder(clip, lvdm_root):
    """lvdm's FrozenOpenCLIPEmbedder (layer penultimate) around `clip`, its methods executed from
    lvdm/modules/encoders/condition.py (the module itself imports kornia and transformers)."""
    src = open(os.path.join(lvdm_root, "lvdm", "modules", "encoders", "condition.py")).read()
    cls = next(n for n in ast.parse(src).body if isinstance(n, ast.ClassDef) and n.name == "FrozenOpenCLIPEmbedder")
    ns = {"torch": torch, "nn": torch.nn, "checkpoint": torch.utils.checkpoint.checkpoint,
          "AbstractEncoder": torch.nn.Module, "open_clip": None, "autocast": lambda f: f}
    exec(compile(ast.Module(body=[cls], type_ignores=[]), "condition.py", "exec"), ns)
    emb = object.__new__(ns["FrozenOpenCLIPEmbedder"])
    torch.nn.Module.__init__(emb)
    emb.model, emb.layer, emb.layer_idx = clip, "penultimate", 1
    return emb


def check_export(folder, lvdm_root, L3, AE, OT, LD, make_beta_schedule):
    """Build the upstream modules from the exported inference.yaml alone, load model.ckpt into
    them (strict, by VideoCrafter2's prefixes), and compare a DDIM + CFG sample decoded by
    the upstream VAE with ours (video_model + train_video.load_exported)."""
    import yaml
    import train_video as tv
    y = yaml.safe_load(open(os.path.join(folder, "inference.yaml")))["model"]["params"]
    sd = torch.load(os.path.join(folder, "model.ckpt"), map_location="cpu")["state_dict"]
    part = lambda pre: {k[len(pre):]: v for k, v in sd.items() if k.startswith(pre)}
    up = y["unet_config"]["params"]
    unet = L3.UNetModel(**up)
    unet.load_state_dict(part("model.diffusion_model."), strict=True)
    dd = y["first_stage_config"]["params"]["ddconfig"]
    vae = torch.nn.Module()
    vae.encoder, vae.decoder = AE.Encoder(**dd), AE.Decoder(**dd)
    ed = y["first_stage_config"]["params"]["embed_dim"]
    vae.quant_conv = torch.nn.Conv2d(2 * dd["z_channels"], 2 * ed, 1)
    vae.post_quant_conv = torch.nn.Conv2d(ed, dd["z_channels"], 1)
    vae.load_state_dict(part("first_stage_model."), strict=True)
    tc = y["cond_stage_config"]["params"]["text_cfg"]
    tt = OT.TextTransformer(context_length=tc["context_length"], vocab_size=tc["vocab_size"], width=tc["width"],
                            heads=tc["heads"], layers=tc["layers"], output_dim=tc["embed_dim"])
    clip = clip_container(tt)
    clip.load_state_dict(part("cond_stage_model.model."), strict=True)
    emb = lvdm_text_encoder(clip, lvdm_root)
    print(f"ok   export {folder}: UNet, VAE and text encoder built from inference.yaml, model.ckpt loaded strictly")
    tok, _ = tv.tokenizer()
    ours, _ = tv.load_exported(os.path.join(folder, "model.ckpt"), tv_config(y, tc), tok)
    ours.eval()
    ids = ours.text.tokens(["a red circle moving left", ""])
    with torch.no_grad():
        ctx = ours.text.encode_tokens(ids)
        ctx_ref = emb.encode_with_transformer(ids)
        betas = make_beta_schedule("linear", y["timesteps"], y["linear_start"], y["linear_end"])
        acp = torch.cumprod(torch.tensor(1.0 - betas), 0)
        import numpy as np
        scale_arr = np.concatenate((np.linspace(1.0, y["scale_b"], 400), np.full(y["timesteps"], y["scale_b"])))
        fake = types.SimpleNamespace(num_timesteps=y["timesteps"], alphas_cumprod=acp.float(), betas=torch.tensor(betas).float(),
                                     alphas_cumprod_prev=torch.cat([torch.ones(1), acp[:-1].float()]), use_scale=y["use_scale"],
                                     scale_arr=torch.tensor(scale_arr).float(), device="cpu")
        fake.apply_model = lambda x, t, c, **k: unet(x, t, context=c, fps=8)
        sampler = LD.DDIMSampler(fake)
        sampler.register_buffer = lambda name, v: setattr(sampler, name, v)
        lat = y["image_size"]
        shape = (y["channels"], up["temporal_length"], lat[0], lat[1])
        noise = torch.randn(1, *shape, generator=torch.Generator().manual_seed(3))
        ref, _ = sampler.sample(S=20, batch_size=1, shape=shape, conditioning=ctx_ref[:1], verbose=False, x_T=noise,
                                unconditional_guidance_scale=7.5, unconditional_conditioning=ctx_ref[1:], eta=0.0)
        b, c, t, h, w = ref.shape
        frames_ref = vae.decoder(vae.post_quant_conv(ref.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w) / y["scale_factor"]))
        import video_model as vm
        sched = vm.Schedule({"timesteps": y["timesteps"], "linear_start": y["linear_start"], "linear_end": y["linear_end"],
                             "use_scale": y["use_scale"], "scale_a": 1.0, "scale_b": y["scale_b"], "mid_step": 400})
        z = vm.ddim_sample(ours.unet, sched, ctx[:1], ctx[1:], noise.shape, steps=20, guidance=7.5, fps=8, noise=noise)
        vae_ours = tv.build_vae(tv_config(y, tc))
        vae_ours.load_state_dict(part("first_stage_model."))
        frames = vm.decode_video(vae_ours, z, y["scale_factor"])[0]
    report("export: text encoder on a caption and the empty prompt", ctx, ctx_ref)
    report("export: DDIM 20 + CFG 7.5 latents (upstream UNet from the yaml vs ours)", z, ref)
    report("export: decoded frames", frames, frames_ref)


def tv_config(y, tc):
    import video_model as vm
    cfg = vm.default_config(tc["vocab_size"])
    cfg["unet"] = dict(y["unet_config"]["params"])
    cfg["vae"] = {"embed_dim": y["first_stage_config"]["params"]["embed_dim"],
                  "ddconfig": y["first_stage_config"]["params"]["ddconfig"]}
    cfg["text"] = dict(tc)
    return cfg


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--lvdm", required=True, help="T2V-Turbo checkout (contains lvdm/)")
    p.add_argument("--einops", required=True, help="folder containing the einops package")
    p.add_argument("--open-clip", required=True, help="folder containing open_clip (v2.24.0)")
    p.add_argument("--export", help="also: an exported model folder (model.ckpt + inference.yaml) built "
                                    "from its yaml with the upstream classes, loaded strictly, sampled and decoded")
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    sys.path[:0] = [a.lvdm, a.einops]
    stub("utils")
    stub("utils.utils", instantiate_from_config=None, count_params=None)
    stub("tqdm", tqdm=lambda it, **k: it)
    pkg = types.ModuleType("open_clip")
    pkg.__path__ = [os.path.join(a.open_clip, "open_clip")]
    sys.modules["open_clip"] = pkg
    stub("open_clip.utils", to_2tuple=lambda x: (x, x))

    import video_model as vm
    from lvdm.modules.networks import openaimodel3d as L3
    from lvdm.modules.networks import ae_modules as AE
    from lvdm.models.samplers import ddim as LD
    from lvdm.models.utils_diffusion import make_beta_schedule
    import open_clip.transformer as OT

    # ---------------------------------------------------------------- UNet
    cfg = vm.default_config(610)
    vc2 = dict(cfg["unet"], model_channels=64, channel_mult=[1, 2, 2, 2], num_res_blocks=2,
               attention_resolutions=[4, 2, 1], num_head_channels=32, context_dim=48, time_cond_proj_dim=16)
    for name, uc, hw in (("tiny teacher", cfg["unet"], 8), ("VideoCrafter2-shaped + time_cond_proj", vc2, 16)):
        ours = vm.UNetModel(**uc)
        kw = {k: v for k, v in uc.items() if k not in ("in_channels", "out_channels", "model_channels",
                                                        "num_res_blocks", "attention_resolutions")}
        theirs = L3.UNetModel(uc["in_channels"], uc["model_channels"], uc["out_channels"], uc["num_res_blocks"],
                              uc["attention_resolutions"], **kw)
        randomize(ours, 1)
        if not check_names(ours, theirs, f"UNet ({name})"):
            continue
        theirs.load_state_dict(ours.state_dict(), strict=True)
        ours.eval(), theirs.eval()
        b, t = 2, 8
        x = torch.randn(b, uc["in_channels"], t, hw, hw)
        ts = torch.tensor([17, 901])
        ctx = torch.randn(b, 5, uc["context_dim"])
        extra = {}
        if uc.get("time_cond_proj_dim"):
            extra["timestep_cond"] = torch.randn(b, uc["time_cond_proj_dim"])
        with torch.no_grad():
            yo = ours(x, ts, ctx, fps=8, **extra)
            yt = theirs(x, ts, context=ctx, fps=8, **extra)
        report(f"UNet ({name}) output", yo, yt)

    # ---------------------------------------------------------------- VAE
    dd = cfg["vae"]["ddconfig"]
    ours = vm.AutoencoderKL(dd, cfg["vae"]["embed_dim"])
    randomize(ours, 2, 0.05)
    enc, dec = AE.Encoder(**dd), AE.Decoder(**dd)
    up = torch.nn.Module()
    up.encoder, up.decoder = enc, dec
    up.quant_conv = torch.nn.Conv2d(2 * dd["z_channels"], 2 * cfg["vae"]["embed_dim"], 1)
    up.post_quant_conv = torch.nn.Conv2d(cfg["vae"]["embed_dim"], dd["z_channels"], 1)
    if check_names(ours, up, "VAE"):
        up.load_state_dict(ours.state_dict(), strict=True)
        x = torch.randn(3, 3, 32, 32)
        with torch.no_grad():
            mo, lo = ours.encode(x)
            mom = up.quant_conv(enc(x))
            mt, lt = mom.chunk(2, 1)
            report("VAE encode mean", mo, mt)
            report("VAE encode logvar", lo, lt.clamp(-30, 20))
            z = torch.randn(3, 4, 8, 8)
            report("VAE decode", ours.decode(z), dec(up.post_quant_conv(z)))

    # ---------------------------------------------------------------- text (open_clip + lvdm glue)
    from clip_tokenizer import CLIPTokenizer  # noqa: F401  (tokens are random ids below)
    tc = cfg["text"]
    ours = vm.OpenCLIPText(None, **tc)
    randomize(ours, 3, 0.1)
    tt = OT.TextTransformer(context_length=tc["context_length"], vocab_size=tc["vocab_size"], width=tc["width"],
                            heads=tc["heads"], layers=tc["layers"], output_dim=tc["embed_dim"])
    clip = clip_container(tt)
    if check_names(ours.model, clip, "text encoder (cond_stage_model.model)"):
        clip.load_state_dict(ours.model.state_dict(), strict=True)
        emb = lvdm_text_encoder(clip, a.lvdm)
        ids = torch.randint(1, tc["vocab_size"], (2, tc["context_length"]))
        ids[:, 9:] = 0
        with torch.no_grad():
            report("text encoder (penultimate + ln_final)", ours.encode_tokens(ids), emb.encode_with_transformer(ids))

    # ---------------------------------------------------------------- DDIM + CFG + scale_arr
    d = cfg["diffusion"]
    sched = vm.Schedule(d)
    betas = make_beta_schedule("linear", d["timesteps"], d["linear_start"], d["linear_end"])
    acp = torch.cumprod(torch.tensor(1.0 - betas), 0)
    import numpy as np
    scale_arr = np.concatenate((np.linspace(d["scale_a"], d["scale_b"], d["mid_step"]),
                                np.full(d["timesteps"], d["scale_b"])))  # ddpm3d.py, fix_scale_bug False
    report("schedule alphas_cumprod", sched.acp, acp.double(), 1e-6)
    report("schedule scale_arr", sched.scale, torch.tensor(scale_arr), 1e-6)
    unet = vm.UNetModel(**cfg["unet"])
    randomize(unet, 4, 0.05)
    unet.eval()
    fake = types.SimpleNamespace(num_timesteps=d["timesteps"], alphas_cumprod=acp.float(), betas=torch.tensor(betas).float(),
                                 alphas_cumprod_prev=torch.cat([torch.ones(1), acp[:-1].float()]), use_scale=True,
                                 scale_arr=torch.tensor(scale_arr).float(), device="cpu")
    fake.apply_model = lambda x, t, c, **k: unet(x, t, c, fps=8)
    sampler = LD.DDIMSampler(fake)
    sampler.register_buffer = lambda name, v: setattr(sampler, name, v)
    cond, uncond = torch.randn(2, 5, 64), torch.randn(2, 5, 64)
    noise = torch.randn(2, 4, 8, 8, 8)
    with torch.no_grad():
        ref, _ = sampler.sample(S=10, batch_size=2, shape=(4, 8, 8, 8), conditioning=cond, verbose=False, x_T=noise,
                                unconditional_guidance_scale=7.5, unconditional_conditioning=uncond, eta=0.0)
        got = vm.ddim_sample(unet, sched, cond, uncond, noise.shape, steps=10, guidance=7.5, fps=8, noise=noise)
    report("DDIM 10 steps, CFG 7.5, scale_arr", got, ref)
    if a.export:
        check_export(a.export, a.lvdm, L3, AE, OT, LD, make_beta_schedule)
    if FAIL:
        print("FAILED:", ", ".join(FAIL))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
