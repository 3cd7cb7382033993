#!/usr/bin/env bash
# Single-node Docker Swarm on loopback for Dokploy's stack mode, and the way back.
#
#   scripts/swarm.sh up   [RECORD]  make the engine a Swarm manager (advertise 127.0.0.1) and
#                                   dokploy-network an attachable overlay; the first `up` writes
#                                   RECORD (what the engine was like before), later ones keep it
#   scripts/swarm.sh down [RECORD]  leave the engine as RECORD found it, then delete RECORD:
#                                   `docker swarm leave --force` only if it was not a Swarm before,
#                                   dokploy-network back to a bridge if it was one
#   scripts/swarm.sh status
#
# RECORD defaults to .state/swarm.before. Idempotent; prints what it does.
# The engine may be shared: containers attached to dokploy-network when it is replaced (bridge ->
# overlay on `up`, overlay -> bridge on `down`), running or stopped, are connected again to the new
# network with the same aliases, so compose-mode services of others keep their network.
# SWARM_NETWORK overrides the network name (for testing this script only).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
NET=${SWARM_NETWORK:-dokploy-network}
cmd=${1:-status}
record=${2:-$here/.state/swarm.before}

say() { echo "swarm: $*"; }
node_state() { docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}'; }
net_kind() {  # absent | <driver> <attachable>
  local out
  out=$(docker network inspect -f '{{.Driver}} {{.Attachable}}' "$NET" 2>/dev/null) && echo "$out" || echo absent
}
# "<container id> <alias,alias>" for every container on $NET, running or not (Swarm task containers excluded)
attached() {
  local id
  for id in $(docker ps -aq --no-trunc --filter "network=$NET"); do
    [[ -z "$(docker inspect -f '{{index .Config.Labels "com.docker.swarm.task.id"}}' "$id" 2>/dev/null)" ]] || continue
    echo "$id $(docker inspect -f "{{with index .NetworkSettings.Networks \"$NET\"}}{{join .Aliases \",\"}}{{end}}" "$id")"
  done
}
detach() {  # stdin: lines from attached()
  local id
  while read -r id _; do [[ -n $id ]] && docker network disconnect -f "$NET" "$id" >/dev/null 2>&1 || true; done
}
reconnect() {  # stdin: lines from attached()
  local id aliases args a
  while read -r id aliases; do
    [[ -n $id ]] || continue
    args=()
    for a in ${aliases//,/ }; do args+=(--alias "$a"); done
    if docker network connect "${args[@]}" "$NET" "$id" 2>/dev/null; then say "reconnected container ${id:0:12} to $NET"
    else say "could not reconnect container ${id:0:12} (gone?)"; fi
  done
}
replace_net() {  # $1: extra args of `docker network create` (e.g. "--driver overlay")
  local saved
  saved=$(attached)
  if [[ $(net_kind) != absent ]]; then
    detach <<<"$saved"
    if ! docker network rm "$NET" >/dev/null; then
      reconnect <<<"$saved"
      say "could not remove $NET (a container joined meanwhile?): run again" >&2; exit 1
    fi
  fi
  # shellcheck disable=SC2086
  docker network create $1 --attachable "$NET" >/dev/null
  say "created $NET ($(net_kind))"
  reconnect <<<"$saved"
}

case $cmd in
up)
  read -r state control <<<"$(node_state)"
  if [[ ! -f $record ]]; then
    mkdir -p "$(dirname "$record")"
    was=0; [[ $state == active ]] && was=1
    gw=0; docker network inspect docker_gwbridge >/dev/null 2>&1 && gw=1
    printf 'was_swarm=%s\nnetwork_before=%q\ngwbridge_before=%s\n' "$was" "$(net_kind | cut -d' ' -f1)" "$gw" >"$record"
    say "recorded the engine as found in $record (swarm: $state, $NET: $(net_kind))"
  fi
  if [[ $state == inactive ]]; then
    say "docker swarm init --advertise-addr 127.0.0.1"
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null
  elif [[ $control != true ]]; then
    say "this engine is a Swarm node but not a manager ($state): stack deploys need a manager" >&2; exit 1
  else
    say "already a Swarm manager"
  fi
  case $(net_kind) in
    "overlay true") say "$NET is an attachable overlay" ;;
    absent) say "creating $NET as an attachable overlay"; replace_net "--driver overlay" ;;
    *) say "replacing $NET ($(net_kind)) by an attachable overlay"; replace_net "--driver overlay" ;;
  esac
  ;;
down)
  if [[ ! -f $record ]]; then say "nothing recorded in $record: the engine is left as it is"; exit 0; fi
  # shellcheck disable=SC1090
  source "$record"
  if [[ $was_swarm == 1 ]]; then
    say "the engine was a Swarm before: left as it is"
  elif [[ $(node_state | cut -d' ' -f1) == inactive ]]; then
    say "not a Swarm any more: nothing to leave"
  else
    saved=$(attached)
    detach <<<"$saved"
    say "docker swarm leave --force (it was not a Swarm before)"
    docker swarm leave --force >/dev/null || { reconnect <<<"$saved"; exit 1; }
    for _ in $(seq 1 40); do [[ $(net_kind) == overlay* ]] || break; sleep 0.25; done  # removed asynchronously
    if [[ $network_before != absent && $(net_kind) == absent ]]; then
      docker network create --driver "$network_before" --attachable "$NET" >/dev/null 2>&1 || true
      say "restored $NET ($(net_kind))"
      reconnect <<<"$saved"
    fi
    if [[ ${gwbridge_before:-1} == 0 ]] && docker network rm docker_gwbridge >/dev/null 2>&1; then
      say "removed docker_gwbridge (created by the Swarm)"
    fi
  fi
  rm -f "$record"
  ;;
status)
  say "node: $(node_state); $NET: $(net_kind); record: $( [[ -f $record ]] && tr '\n' ' ' <"$record" || echo none)"
  ;;
*)
  echo "usage: $0 up|down|status [RECORD]" >&2; exit 2 ;;
esac
