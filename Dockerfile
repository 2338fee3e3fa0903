# vcmon agent image. Runs as root inside the container but with every capability dropped
# except NET_RAW (docker-compose.yml: cap_drop ALL, cap_add NET_RAW): raw ICMP sockets are
# the one privilege vcmon needs, and a non-root user could not hold it without setcap on
# the Python binary, which would hand it to every script in the image.
FROM python:3.11-slim-bookworm

# MALLOC_MMAP_THRESHOLD_: each /metrics body is ~50 MB at national scale; a fixed mmap
# threshold from process start gives freed bodies back to the OS (bench/RESULTS.md,
# "Monitor: /metrics": 287-298 MB peak instead of ~360-390 MB).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MALLOC_MMAP_THRESHOLD_=262144 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY vcmon ./vcmon
RUN pip install . && rm -rf /src

# Inventory and probe files are mounted here (read-only) with the repo's layout, so an
# inventory's `include: ../probes/...` resolves as it does in a checkout.
WORKDIR /etc/vcmon
EXPOSE 9874
HEALTHCHECK --interval=30s --timeout=5s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9874/-/healthy', timeout=3)"]
ENTRYPOINT ["vcmon"]
CMD ["run", "inventory/quang-ngai.yaml", "--listen", "0.0.0.0:9874"]
