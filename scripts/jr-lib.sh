# Shared by the jr-* scripts: the daemon's address, requests with clear errors,
# and JSON built safely from the shell.
JOBRUNNER_URL="${JOBRUNNER_URL:-http://127.0.0.1:8080}"
JOBRUNNER_URL="${JOBRUNNER_URL%/}"

jr_die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# jr_curl CURL-ARGS... — curl, with `Authorization: Bearer $JOBRUNNER_TOKEN` when
# that variable is set. The header goes in on curl's standard input (-H @-), so
# the token never shows in the process list; callers must not need that stdin.
jr_curl() {
    if [ -n "${JOBRUNNER_TOKEN:-}" ]; then
        printf 'Authorization: Bearer %s\n' "$JOBRUNNER_TOKEN" | curl -H @- "$@"
    else
        curl "$@"
    fi
}

# jr_request METHOD PATH [BODY] — prints the body; fails with the daemon's
# error message on 4xx/5xx and with a clear line when it cannot be reached.
jr_request() {
    local method="$1" path="$2" body="${3:-}" out status
    out=$(mktemp) || exit 1
    if [ -n "$body" ]; then
        status=$(jr_curl -sS -o "$out" -w '%{http_code}' -X "$method" -H 'Content-Type: application/json' \
                 --data-binary "$body" "$JOBRUNNER_URL$path" 2>/dev/null)
    else
        status=$(jr_curl -sS -o "$out" -w '%{http_code}' -X "$method" "$JOBRUNNER_URL$path" 2>/dev/null)
    fi
    local rc=$?
    if [ $rc -ne 0 ] || [ "$status" = "000" ]; then
        rm -f "$out"
        jr_die "cannot reach the JobRunner daemon at $JOBRUNNER_URL (is it running? set JOBRUNNER_URL)"
    fi
    if [ "$status" -ge 400 ]; then
        local message
        message=$(sed -n 's/.*"error":"\(\([^"\\]\|\\.\)*\)".*/\1/p' "$out")
        rm -f "$out"
        jr_die "${message:-HTTP $status}"
    fi
    cat "$out"
    rm -f "$out"
}

# jr_json_string TEXT — a JSON string literal.
jr_json_string() {
    local s="$1"
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\n'/\\n}
    s=${s//$'\r'/\\r}
    s=${s//$'\t'/\\t}
    printf '"%s"' "$s"
}

# jr_pretty — pretty-prints JSON from stdin when python3 is around, else as is.
jr_pretty() {
    if command -v python3 >/dev/null 2>&1; then python3 -m json.tool; else cat; echo; fi
}

# jr_json_unescape TEXT — the text a JSON string literal's inside stands for
# (\" \\ \/ \b \f \n \r \t \uXXXX), without starting a process.
jr_json_unescape() {
    local s="$1"
    s=${s//\\\"/\"}
    s=${s//\\\//\/}
    printf '%b' "$s"
}
