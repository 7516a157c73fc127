#!/usr/bin/python3
"""Independent references for the FLUX sampling utilities (engine/sampling/).

Run with Debian's /usr/bin/python3 (numpy 1.24, torch 1.13 CPU). Tensors travel as raw
little-endian C-order bytes; shapes and dtypes are given on the command line. Every reference is
written from the BFL / diffusers formulas (flux-spec §2, §3), never from our C++ output:

  noise OUT_DIR B,H,W,SEED [...]        BFL get_noise, torch bf16; writes OUT_DIR/noise_<i>.bin
                                        (the bf16 bit patterns as uint16)
  schedule_bfl N,SEQ_LEN,SHIFT [...]    BFL get_schedule verbatim (torch float32); prints one line
                                        of repr()s per case
  schedule_f64 N,SEQ_LEN,SHIFT,BASE,MAX [...]  the same formula in float64 numpy; one line per case
  pack IN OUT B ROWS2 COLS2             float32 [B,16,ROWS2,COLS2] -> [B,h*w,64] via numpy
  unpack IN OUT B ROWS COLS             float32 [B,ROWS*COLS,64] -> [B,16,2*ROWS,2*COLS] via numpy
  euler IN OUT A C T0 T1 ...            float64 Euler loop with the predictor pred = A*img + C*t
  euler_bfl IN PRED_DIR OUT T0 T1 ...   BFL's bf16 update `img = img + (t_prev - t_curr) * pred`
                                        verbatim (torch), with pred_<k>.bin given per step
"""
import math
import os
import sys

import numpy as np


def noise(out_dir, cases):
    import torch

    for i, case in enumerate(cases):
        b, h, w, seed = (int(v) for v in case.split(","))
        x = torch.randn(b, 16, 2 * math.ceil(h / 16), 2 * math.ceil(w / 16),
                        dtype=torch.bfloat16,
                        generator=torch.Generator("cpu").manual_seed(seed))
        bits = x.contiguous().view(torch.int16).numpy().astype("<i2")
        with open(os.path.join(out_dir, "noise_%d.bin" % i), "wb") as f:
            f.write(bits.tobytes())


def schedule_bfl(num_steps, image_seq_len, shift):
    # Copied from black-forest-labs/flux src/flux/sampling.py (time_shift, get_lin_function,
    # get_schedule) so that the float32 arithmetic is exactly BFL's.
    import torch

    def time_shift(mu, sigma, t):
        return math.exp(mu) / (math.exp(mu) + (1 / t - 1) ** sigma)

    def get_lin_function(x1=256, y1=0.5, x2=4096, y2=1.15):
        m = (y2 - y1) / (x2 - x1)
        b = y1 - m * x1
        return lambda x: m * x + b

    def get_schedule(num_steps, image_seq_len, base_shift=0.5, max_shift=1.15, shift=True):
        timesteps = torch.linspace(1, 0, num_steps + 1)
        if shift:
            mu = get_lin_function(y1=base_shift, y2=max_shift)(image_seq_len)
            timesteps = time_shift(mu, 1.0, timesteps)
        return timesteps.tolist()

    print(" ".join(repr(t) for t in get_schedule(num_steps, image_seq_len, shift=shift)))


def schedule_f64(num_steps, image_seq_len, shift, base_shift, max_shift):
    t = np.array([1.0 - i / num_steps for i in range(num_steps + 1)], dtype=np.float64)
    if shift:
        m = (max_shift - base_shift) / (4096.0 - 256.0)
        b = base_shift - 256.0 * m
        e = math.exp(m * image_seq_len + b)
        out = np.empty_like(t)
        for i, ti in enumerate(t):
            out[i] = 0.0 if ti == 0.0 else e / (e + (1.0 / ti - 1.0))
        t = out
    print(" ".join(repr(float(v)) for v in t))


def read(path, dtype, shape):
    return np.fromfile(path, dtype=dtype).reshape(shape)


def pack(src, dst, b, rows2, cols2):
    x = read(src, "<f4", (b, 16, rows2, cols2))
    h, w = rows2 // 2, cols2 // 2
    y = x.reshape(b, 16, h, 2, w, 2).transpose(0, 2, 4, 1, 3, 5).reshape(b, h * w, 64)
    np.ascontiguousarray(y).astype("<f4").tofile(dst)


def unpack(src, dst, b, rows, cols):
    x = read(src, "<f4", (b, rows * cols, 64))
    y = x.reshape(b, rows, cols, 16, 2, 2).transpose(0, 3, 1, 4, 2, 5)
    np.ascontiguousarray(y.reshape(b, 16, 2 * rows, 2 * cols)).astype("<f4").tofile(dst)


def euler(src, dst, a, c, timesteps):
    img = np.fromfile(src, dtype="<f8")
    for t_curr, t_prev in zip(timesteps[:-1], timesteps[1:]):
        pred = a * img + c * t_curr
        img = img + (t_prev - t_curr) * pred
    img.astype("<f8").tofile(dst)


def euler_bfl(src, pred_dir, dst, timesteps):
    import torch

    def load_bf16(path):
        bits = np.fromfile(path, dtype="<i2")
        return torch.from_numpy(bits.astype(np.int16)).view(torch.bfloat16)

    img = load_bf16(src)
    for k, (t_curr, t_prev) in enumerate(zip(timesteps[:-1], timesteps[1:])):
        pred = load_bf16(os.path.join(pred_dir, "pred_%d.bin" % k))
        img = img + (t_prev - t_curr) * pred
    img.view(torch.int16).numpy().astype("<i2").tofile(dst)


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "noise":
        noise(args[0], args[1:])
    elif cmd == "schedule_bfl":
        for case in args:
            n, seq_len, shift = case.split(",")
            schedule_bfl(int(n), int(seq_len), shift == "1")
    elif cmd == "schedule_f64":
        for case in args:
            n, seq_len, shift, base, top = case.split(",")
            schedule_f64(int(n), int(seq_len), shift == "1", float(base), float(top))
    elif cmd == "pack":
        pack(args[0], args[1], *(int(v) for v in args[2:5]))
    elif cmd == "unpack":
        unpack(args[0], args[1], *(int(v) for v in args[2:5]))
    elif cmd == "euler":
        euler(args[0], args[1], float(args[2]), float(args[3]), [float(v) for v in args[4:]])
    elif cmd == "euler_bfl":
        euler_bfl(args[0], args[1], args[2], [float(v) for v in args[3:]])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
