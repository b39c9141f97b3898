"""Reference DDIM sampler with diffusers `DDIMScheduler` semantics + classifier-free guidance.

Scheduler config keys (scheduler/scheduler_config.json): num_train_timesteps, beta_start,
beta_end, beta_schedule ("linear" | "scaled_linear"), prediction_type ("epsilon" |
"v_prediction" | "sample"), timestep_spacing ("leading" | "trailing" | "linspace"),
steps_offset, set_alpha_to_one, clip_sample, clip_sample_range.

  betas: linear = linspace(b0, b1, N); scaled_linear = linspace(sqrt b0, sqrt b1, N)^2
  alphas_cumprod = cumprod(1 - betas); final_alpha_cumprod = 1 if set_alpha_to_one else ac[0]
  timesteps (n steps): leading  = arange(n) * (N // n), reversed, + steps_offset
                       trailing = round(arange(N, 0, -N/n)) - 1
                       linspace = round(linspace(0, N-1, n)), reversed
  step(t): prev = t - N // n  (also for trailing); a = ac[t]; a_prev = ac[prev] if prev >= 0
           else final_alpha_cumprod; b = 1 - a
           epsilon: x0 = (x - sqrt(b) e) / sqrt(a)
           v:       x0 = sqrt(a) x - sqrt(b) v;  e = sqrt(a) v + sqrt(b) x
           clip_sample: x0 = clamp(x0, -range, range)  (e is NOT recomputed)
           var = (1 - a_prev)/(1 - a) * (1 - a/a_prev); std = eta * sqrt(var)
           x_prev = sqrt(a_prev) x0 + sqrt(1 - a_prev - std^2) e + std z
Training target for v_prediction: v = sqrt(a) eps - sqrt(1-a) x0, x_t = sqrt(a) x0 + sqrt(1-a) eps.
CFG: out = uncond + g * (cond - uncond), computed on the raw model output (v or eps) with the
cond and uncond halves in one batch [uncond..., cond...] (diffusers order).
"""
import numpy as np
import torch

DEFAULT_SCHEDULER = {
    "_class_name": "DDIMScheduler", "num_train_timesteps": 1000, "beta_start": 0.00085,
    "beta_end": 0.012, "beta_schedule": "scaled_linear", "prediction_type": "epsilon",
    "timestep_spacing": "leading", "steps_offset": 1, "set_alpha_to_one": False,
    "clip_sample": False, "clip_sample_range": 1.0, "trained_betas": None,
    "thresholding": False, "rescale_betas_zero_snr": False,
}


class DDIM:
    def __init__(self, config):
        c = dict(DEFAULT_SCHEDULER)
        c.update(config)
        self.c = c
        N = c["num_train_timesteps"]
        # as diffusers: torch.linspace in float32
        if c["beta_schedule"] == "linear":
            betas = torch.linspace(c["beta_start"], c["beta_end"], N, dtype=torch.float32)
        elif c["beta_schedule"] == "scaled_linear":
            betas = torch.linspace(c["beta_start"] ** 0.5, c["beta_end"] ** 0.5, N, dtype=torch.float32) ** 2
        else:
            raise ValueError(f"unsupported beta_schedule {c['beta_schedule']}")
        if c.get("rescale_betas_zero_snr") or c.get("thresholding"):
            raise ValueError("rescale_betas_zero_snr / thresholding not supported")
        self.betas = betas
        self.alphas_cumprod = torch.cumprod(1.0 - self.betas, dim=0)
        self.final_alpha_cumprod = torch.tensor(1.0) if c["set_alpha_to_one"] else self.alphas_cumprod[0]
        self.N = N

    def timesteps(self, n):
        N, sp = self.N, self.c["timestep_spacing"]
        if sp == "leading":
            ts = (np.arange(0, n) * (N // n)).round()[::-1].astype(np.int64) + self.c["steps_offset"]
        elif sp == "trailing":
            ts = np.round(np.arange(N, 0, -N / n)).astype(np.int64) - 1
        elif sp == "linspace":
            ts = np.linspace(0, N - 1, n).round()[::-1].astype(np.int64)
        else:
            raise ValueError(sp)
        return [int(t) for t in ts]

    def add_noise(self, x0, eps, t):
        a = self.alphas_cumprod.to(x0.device)[t].view(-1, 1, 1, 1)
        return a.sqrt() * x0 + (1 - a).sqrt() * eps

    def target(self, x0, eps, t):
        pt = self.c["prediction_type"]
        if pt == "epsilon":
            return eps
        if pt == "sample":
            return x0
        a = self.alphas_cumprod.to(x0.device)[t].view(-1, 1, 1, 1)
        return a.sqrt() * eps - (1 - a).sqrt() * x0

    def step(self, out, t, x, n, eta=0.0, noise=None):
        """One DDIM step from timestep t (n = number of inference steps). Returns (x_prev, x0)."""
        prev = t - self.N // n
        a = self.alphas_cumprod[t]
        ap = self.alphas_cumprod[prev] if prev >= 0 else self.final_alpha_cumprod
        b = 1 - a
        pt = self.c["prediction_type"]
        if pt == "epsilon":
            x0 = (x - b.sqrt() * out) / a.sqrt()
            e = out
        elif pt == "v_prediction":
            x0 = a.sqrt() * x - b.sqrt() * out
            e = a.sqrt() * out + b.sqrt() * x
        elif pt == "sample":
            x0 = out
            e = (x - a.sqrt() * x0) / b.sqrt()
        else:
            raise ValueError(pt)
        if self.c["clip_sample"]:
            r = self.c["clip_sample_range"]
            x0 = x0.clamp(-r, r)
        var = (1 - ap) / (1 - a) * (1 - a / ap)
        std = eta * var.sqrt()
        xp = ap.sqrt() * x0 + (1 - ap - std ** 2).clamp(min=0).sqrt() * e
        if eta > 0:
            if noise is None:
                noise = torch.randn_like(x)
            xp = xp + std * noise
        return xp, x0


@torch.no_grad()
def sample_cfg(unet, ddim, cond, uncond, steps=20, guidance=3.0, eta=0.0, generator=None, x=None,
               shape=(3, 32, 32)):
    """Text-to-image with classifier-free guidance. cond/uncond: (B,L,D) text hidden states.
    Returns x0 in model space ([-1, 1] for pixel models)."""
    B = cond.shape[0]
    if x is None:
        x = torch.randn((B,) + tuple(shape), generator=generator)
    ctx = torch.cat([uncond, cond], 0)
    for t in ddim.timesteps(steps):
        if guidance == 1.0:
            out = unet(x, torch.full((B,), float(t)), cond)
        else:
            o = unet(torch.cat([x, x], 0), torch.full((2 * B,), float(t)), ctx)
            ou, oc = o.chunk(2)
            out = ou + guidance * (oc - ou)
        noise = torch.randn(x.shape, generator=generator) if eta > 0 else None
        x, _ = ddim.step(out, t, x, steps, eta, noise)
    return x
