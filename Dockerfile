# syntax=docker/dockerfile:1
# SpotLake Azure collector image: one AWS Batch job = one 10-minute collection slot.
# Build for both Spot architectures (Graviton arm64 and x86_64) with scripts/build_and_push.sh:
#   docker buildx build --platform linux/amd64,linux/arm64 --push -t <ecr-uri>:<tag> .
# No credentials of any kind belong here: the job gets AWS credentials from its Batch job role and
# Azure credentials from the DynamoDB auth table (or the job environment) at run time.

# Pinned by the digest of the multi-arch image index (both Spot architectures), the tag beside it for readers;
# with both, Docker uses the digest. This digest: python:3.12-slim (Python 3.12.13, Debian trixie, built
# 2026-08-05) as published in docker-library/repo-info repos/python/remote/3.12-slim.md (commit 2986dca3,
# observed 2026-12-02). To move to a newer build, take the index digest ("Digest:" of
#   docker buildx imagetools inspect python:3.12-slim
# ), replace it here, rebuild and test; never a per-platform manifest digest, or the other architecture breaks.
FROM python:3.12-slim@sha256:229a2c5bfa27522db7815ea81f9bed70af17ccb9de9fc7ad142b1877b5830d36

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SPOTLAKE_STORE=/tmp/spotlake-data

WORKDIR /app

# Requirements first so source edits do not invalidate the dependency layer.
COPY requirements.txt /app/requirements.txt
RUN pip install --no-cache-dir -r /app/requirements.txt

COPY if/ /app/if/
COPY price/ /app/price/
COPY sps/ /app/sps/
COPY merge/ /app/merge/
COPY sps_module/ /app/sps_module/
COPY utils/ /app/utils/
COPY emulator/ /app/emulator/
COPY scripts/ /app/scripts/

# Non-root runtime user; /tmp stays world-writable (sticky) for the handoff file and scratch data.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin spotlake \
    && chmod 1777 /tmp

USER 10001

# Batch's command ["Ref::scheduled_time"] becomes the timestamp argument of run_collection.sh.
ENTRYPOINT ["bash", "/app/scripts/run_collection.sh"]
