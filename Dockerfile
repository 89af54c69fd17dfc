# syntax=docker/dockerfile:1
# SpotLake Azure collector image: one AWS Batch job = one 10-minute collection slot.
# Build for both Spot architectures (Graviton arm64 and x86_64) with scripts/build_and_push.sh:
#   docker buildx build --platform linux/amd64,linux/arm64 --push -t <ecr-uri>:<tag> .
# No credentials of any kind belong here: the job gets AWS credentials from its Batch job role and
# Azure credentials from the DynamoDB auth table (or the job environment) at run time.

# Pinned by tag; a release pins the multi-arch index digest as well (python:3.12-slim@sha256:...).
FROM python:3.12-slim

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
