#!/usr/bin/env bash
# Build the image the docker sandbox backend runs: a minimal Debian with python3, made with
# debootstrap from this machine's apt mirror and imported into the local Docker daemon. No image
# registry is needed (none may be reachable).
#
# Usage: bash scripts/build_sandbox_image.sh [--force]
#   --force                rebuild even if the image exists
# Environment:
#   GYM_REASON_SANDBOX_IMAGE   image name (default gym-reason-sandbox:bookworm)
#   GYM_REASON_SANDBOX_SUITE   Debian suite (default bookworm)
#   GYM_REASON_SANDBOX_MIRROR  Debian mirror (default: the first matching one in the apt sources,
#                              else http://deb.debian.org/debian)
# Needs root (debootstrap), debootstrap and a reachable Docker daemon.
set -euo pipefail

IMAGE="${GYM_REASON_SANDBOX_IMAGE:-gym-reason-sandbox:bookworm}"
SUITE="${GYM_REASON_SANDBOX_SUITE:-bookworm}"
FALLBACK_MIRROR="http://deb.debian.org/debian"

force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h | --help)
      sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "build_sandbox_image: unknown argument '$arg' (valid: --force, --help)" >&2
      exit 2
      ;;
  esac
done

die() {
  echo "build_sandbox_image: $*" >&2
  exit 1
}

# The mirror that serves "$SUITE" in the apt sources: one-line (.list) and deb822 (.sources) formats.
apt_mirror() {
  local files=() f
  [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  [ "${#files[@]}" -gt 0 ] || return 0
  awk -v suite="$SUITE" '
    /^[[:space:]]*#/ { next }
    # one-line format: deb [options] URI SUITE COMPONENTS...
    $1 == "deb" {
      i = 2
      if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
      if ($(i + 1) == suite) { print $i; exit }
      next
    }
    # deb822 format: stanzas separated by blank lines
    /^[[:space:]]*$/ { if (uris != "" && has_suite && is_deb) { split(uris, u, " "); print u[1]; exit } uris = ""; has_suite = 0; is_deb = 0; next }
    tolower($1) == "types:" { for (j = 2; j <= NF; j++) if ($j == "deb") is_deb = 1 }
    tolower($1) == "uris:" { uris = $2 }
    tolower($1) == "suites:" { for (j = 2; j <= NF; j++) if ($j == suite) has_suite = 1 }
    END { if (uris != "" && has_suite && is_deb) { split(uris, u, " "); print u[1] } }
  ' "${files[@]}" | head -n 1
}

command -v docker >/dev/null || die "the docker CLI is missing: apt-get install -y docker.io"
docker info >/dev/null 2>&1 ||
  die "no reachable Docker daemon; start one with: dockerd --iptables=false --ip-forward=false --bridge=none &"

if [ "$force" -eq 0 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "build_sandbox_image: $IMAGE already exists (use --force to rebuild)"
  exit 0
fi

command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install -y debootstrap"
[ "$(id -u)" -eq 0 ] || die "debootstrap needs root: run with sudo"

MIRROR="${GYM_REASON_SANDBOX_MIRROR:-$(apt_mirror)}"
if [ -z "$MIRROR" ]; then
  MIRROR="$FALLBACK_MIRROR"
  echo "build_sandbox_image: no apt source for '$SUITE' found; falling back to $MIRROR"
fi

rootfs="$(mktemp -d "${TMPDIR:-/tmp}/gym-reason-rootfs.XXXXXX")"
cleanup() { rm -rf --one-file-system "$rootfs" "$rootfs.log"; }
trap cleanup EXIT

echo "build_sandbox_image: debootstrap $SUITE from $MIRROR into $rootfs"
start=$(date +%s)
if ! debootstrap --variant=minbase --include=python3 "$SUITE" "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1; then
  tail -n 20 "$rootfs.log" >&2
  rm -f "$rootfs.log"
  die "debootstrap failed (log above); set GYM_REASON_SANDBOX_MIRROR to a reachable Debian mirror"
fi
rm -f "$rootfs.log"
# Docs, man pages and apt lists are dead weight in a sandbox.
rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin

echo "build_sandbox_image: importing as $IMAGE"
tar -C "$rootfs" -c . | docker import \
  --change 'CMD ["python3"]' \
  --change 'WORKDIR /tmp' \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1' \
  - "$IMAGE" >/dev/null
docker run --rm --network none "$IMAGE" python3 -c 'import sys; print("python", sys.version.split()[0])' >/dev/null ||
  die "the imported image $IMAGE cannot run python3"
echo "build_sandbox_image: built $IMAGE in $(($(date +%s) - start)) s"
