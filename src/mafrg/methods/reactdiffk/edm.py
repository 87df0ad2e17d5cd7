"""ReactDiff-K's diffusion: the EDM training loss with both priors, and the guided DPM-Solver++ sampler.

Training (Karras et al. 2022, as the authors via k-diffusion): a noise level per crop from the truncated
v-diffusion density sigma = sigma_data * tan(pi/2 * u), u uniform between the CDFs of the bounds; the network
output F is regressed on F* = (x - c_skip * x_noised) / c_out with unit weights. The priors act on the draws with
u in the lowest ``priors.fraction`` of its range: the least-noised samples.

Sampling: diffusers' ``EDMDPMSolverMultistepScheduler`` (Karras sigmas sigma_max -> sigma_min, rho 7, then 0;
DPM-Solver++(2M), SDE by default: the authors' ``sample_dpmpp_2m_sde``). It takes F and applies the same
c_skip/c_out as :func:`~mafrg.methods.reactdiffk.model.scalings`. Classifier-free guidance combines the
conditional and unconditional F (the denoised estimate is affine in F, so this is guidance on D).
"""

from __future__ import annotations

import math

import torch

from mafrg.methods.reactdiffk.config import EDMConfig, ReactDiffKConfig
from mafrg.methods.reactdiffk.model import ReactDiffK, WindowCondition, scalings
from mafrg.methods.reactdiffk.priors import dependency_loss, dependency_pairs, kinematics_loss


def draw_sigmas(n: int, edm: EDMConfig, fraction: float, generator: torch.Generator | None = None,
                device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(sigma (n,), prior mask (n,)): the v-diffusion density; the mask marks the lowest ``fraction`` of u."""
    lo = math.atan(edm.density_min / edm.sigma_data) * 2 / math.pi
    hi = math.atan(edm.density_max / edm.sigma_data) * 2 / math.pi
    u = torch.rand(n, generator=generator, device=device)
    mask = u < fraction
    return torch.tan((u * (hi - lo) + lo) * math.pi / 2) * edm.sigma_data, mask


def training_loss(model: ReactDiffK, x: torch.Tensor, cond: WindowCondition, sigma: torch.Tensor,
                  prior_mask: torch.Tensor, noise: torch.Tensor, parts: dict[str, float] | None = None) -> torch.Tensor:
    """x (B, K * W, 83): standardised crops of K windows; ``cond`` for the B * K windows (crop-major); sigma,
    prior_mask (B,); noise like x. The same sigma for every window of a crop, so the across-window term of the
    kinematics prior compares frames of one noise level. ``parts`` (if given) receives the three terms."""
    cfg: ReactDiffKConfig = model.cfg
    b, t, d = x.shape
    w = cfg.window
    k = t // w
    x_n = x + noise * sigma[:, None, None]
    c_skip, c_out, _ = scalings(sigma, cfg.edm.sigma_data)
    target = (x - c_skip[:, None, None] * x_n) / c_out[:, None, None]
    out = model.raw(x_n.reshape(b * k, w, d), sigma.repeat_interleave(k), cond).reshape(b, t, d)
    mse = (out - target).pow(2).mean()
    p = cfg.priors
    kin = kinematics_loss(out, target, w, prior_mask, p.pose_scale, p.kinematics_channels) if p.kinematics_weight else out.new_zeros(())
    dep = (dependency_loss(out, target, dependency_pairs(p.pairs), prior_mask) if p.dependency_weight
           else out.new_zeros(()))
    if parts is not None:
        parts.update(mse=float(mse), kinematics=float(kin), dependency=float(dep))
    return mse + p.kinematics_weight * kin + p.dependency_weight * dep


def guided_raw(model: ReactDiffK, x: torch.Tensor, sigma: torch.Tensor, cond: WindowCondition,
               scale: float) -> torch.Tensor:
    """F_uncond + scale * (F_cond - F_uncond), one batched pass when both are needed."""
    if scale == 1:
        return model.raw(x, sigma, cond)
    if scale == 0:
        return model.raw(x, sigma, cond.unconditional())
    both = model.raw(torch.cat([x, x]), torch.cat([sigma, sigma]), WindowCondition.cat(cond, cond.unconditional()))
    f_c, f_u = both.chunk(2)
    return f_u + scale * (f_c - f_u)


def scheduler(edm: EDMConfig, steps: int):
    from diffusers import EDMDPMSolverMultistepScheduler

    s = EDMDPMSolverMultistepScheduler(sigma_min=edm.sigma_min, sigma_max=edm.sigma_max, sigma_data=edm.sigma_data,
                                       sigma_schedule="karras", rho=edm.rho, solver_order=2,
                                       algorithm_type=edm.algorithm, final_sigmas_type="zero",
                                       prediction_type="epsilon")
    s.set_timesteps(steps)
    return s


@torch.no_grad()
def sample_window(model: ReactDiffK, cond: WindowCondition, window: int, steps: int, scale: float,
                  generators: list[torch.Generator], edm: EDMConfig | None = None) -> torch.Tensor:
    """One window for each of the B conditions: (B, W, 83) standardised. Sample b's noise (initial and SDE)
    comes from ``generators[b]`` only, so a sample does not depend on what else is in the batch. ``edm``: the
    sampler's settings (the run's; default the model's). sigma_data always comes from the model: it is part of
    the network's preconditioning, not of the sampler."""
    from dataclasses import replace

    from diffusers.utils.torch_utils import randn_tensor

    sched = scheduler(model.edm if edm is None else replace(edm, sigma_data=model.edm.sigma_data), steps)
    b = len(generators)
    shape = (b, window, model.net.proj_out.out_features)
    dev = cond.prev.device  # the network's: noise is drawn on the CPU (the generators') and moved there
    x = (randn_tensor(shape, generator=generators, dtype=torch.float32) * sched.sigmas[0]).to(dev)
    for i, t in enumerate(sched.timesteps):
        sigma = sched.sigmas[i].expand(b).to(dev)
        f = guided_raw(model, x, sigma, cond, scale)
        x = sched.step(f.float(), t, x, generator=generators).prev_sample  # (float: bf16 autocast)
    return x
