#!/usr/bin/env bash
# Train the tiny video teacher end to end, resumably: the frame VAE to $VAE_STEPS, then the
# UNet + text encoder to $TEACHER_STEPS (train_video.py; each stage resumes from its
# $EVOKE_TRAIN_OUT/video/<stage>/ckpt.pt, so rerunning this script continues where it stopped).
# Runs at nice 19 with one thread per job (see README.md: a second OpenMP thread only spins
# while the other core is busy).  Usage:
#   EVOKE_TRAIN_OUT=/work/train-out nohup tools/train/train_video.sh >> /work/train-out/video/train.log 2>&1 &
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-/usr/bin/python3}
VAE_STEPS=${VAE_STEPS:-1500}
FG_WEIGHT=${FG_WEIGHT:-4}
TEACHER_STEPS=${TEACHER_STEPS:-20000}
nice -n 19 "$PY" tools/train/train_video.py vae --steps "$VAE_STEPS" --eval-every 150 --fg-weight "$FG_WEIGHT" --threads 1
nice -n 19 "$PY" tools/train/train_video.py teacher --steps "$TEACHER_STEPS" --batch 8 --eval-every 1000 \
    --eval-prompts 32 --eval-cfg 7.5 --threads 1
