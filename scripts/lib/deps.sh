# Installs the Debian packages a script needs, only those missing; `apt-get update` at most once.
# Usage: source scripts/lib/deps.sh; ensure_packages pkg1 pkg2 ...
ensure_packages() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; return 1; }
        sudo="sudo"
    fi
    echo "installing: ${missing[*]}" >&2
    if [ -z "${RINGCACHE_APT_UPDATED:-}" ]; then
        $sudo apt-get update -qq >&2
        export RINGCACHE_APT_UPDATED=1
    fi
    # policy-rc.d-less containers would try to start Debian's memcached/nutcracker services;
    # RUNLEVEL=1 keeps invoke-rc.d from starting them, so port 11211 stays free.
    DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}
