#!/usr/bin/env bash
# infra/hosts.sh — deployment targets for the dev stack, sourced by infra/dev: private OpenSSH
# servers on loopback, each with a host key of its own, that let in one dedicated target
# account with the key Ferry's workers use. Nothing here touches the system's sshd.
#
#   FERRY_DEV_SSH_PORT_A  55222  the first target (sshd-a)
#   FERRY_DEV_SSH_PORT_B  55223  the second target (sshd-b)
#   FERRY_DEV_TARGET_USER        the account targets log in as (default ferry-target)
#
# Everything lives under .ferry-dev/targets: the client key (ferry_ed25519, what a target's
# private key is in tests and the demo), each server's host key, configuration and pid file.
# shellcheck disable=SC2154 # DEV, LOGS, RUN, SUDO and the helpers come from infra/dev

TARGET_USER=${FERRY_DEV_TARGET_USER:-ferry-target}
TARGETS="$DEV/targets"
SSH_PORT_A=$(port_var SSH_PORT_A 55222)
SSH_PORT_B=$(port_var SSH_PORT_B 55223)
SSHD_SERVICES=(sshd-a sshd-b)

sshd_bin() { [[ -x /usr/sbin/sshd ]] && printf '/usr/sbin/sshd'; }

sshd_port() { # service -> its port
  case $1 in
    sshd-a) printf '%s' "$SSH_PORT_A" ;;
    sshd-b) printf '%s' "$SSH_PORT_B" ;;
  esac
}

# The account targets log in as: a plain shell (bash, no start-up files that do work), not
# locked (sshd without PAM refuses locked accounts) yet with no password.
ensure_target_user() {
  if ! id -u "$TARGET_USER" >/dev/null 2>&1; then
    say "creating the target account '$TARGET_USER' (deployments log in to the dev targets as it)"
    "${SUDO[@]}" useradd --create-home --shell /bin/bash "$TARGET_USER" ||
      die "useradd $TARGET_USER failed"
  fi
  if [[ $(getent shadow "$TARGET_USER" 2>/dev/null | cut -d: -f2) == '!'* ]]; then
    "${SUDO[@]}" usermod -p '*' "$TARGET_USER" || die "usermod -p '*' $TARGET_USER failed"
  fi
}

# Keys and configuration, made once: the client key pair, and per server a host key and a
# config that lets in only the target account with that key.
prepare_targets() {
  # Passable, not listable: sshd reads the authorized keys as the target account, through
  # this folder; the private keys in it are the owner's alone (0600).
  mkdir -p "$TARGETS"
  chmod 711 "$TARGETS"
  [[ -f $TARGETS/ferry_ed25519 ]] ||
    ssh-keygen -q -t ed25519 -N '' -C ferry-dev -f "$TARGETS/ferry_ed25519" ||
    die "ssh-keygen failed"
  # This checkout's own authorized keys (the account is shared by every checkout on the
  # machine, each with a key of its own).
  install -m 644 "$TARGETS/ferry_ed25519.pub" "$TARGETS/authorized_keys"
  local svc
  for svc in "${SSHD_SERVICES[@]}"; do
    [[ -f $TARGETS/$svc/ssh_host_ed25519_key ]] || {
      mkdir -p "$TARGETS/$svc"
      chmod 711 "$TARGETS/$svc"
      ssh-keygen -q -t ed25519 -N '' -C "$svc" -f "$TARGETS/$svc/ssh_host_ed25519_key" ||
        die "ssh-keygen failed"
    }
    cat >"$TARGETS/$svc/sshd_config.new" <<EOF
Port $(sshd_port "$svc")
ListenAddress 127.0.0.1
HostKey $TARGETS/$svc/ssh_host_ed25519_key
PidFile $TARGETS/$svc/sshd.pid
AuthorizedKeysFile $TARGETS/authorized_keys
AllowUsers $TARGET_USER
AuthenticationMethods publickey
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
StrictModes no
# A fan-out opens hundreds of connections at once; the default (10:30:100) drops them.
MaxStartups 2000:30:4000
MaxSessions 100
LogLevel ERROR
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
    if cmp -s "$TARGETS/$svc/sshd_config.new" "$TARGETS/$svc/sshd_config"; then
      rm -f "$TARGETS/$svc/sshd_config.new"
    else
      mv -f "$TARGETS/$svc/sshd_config.new" "$TARGETS/$svc/sshd_config"
      # A running server reads its new configuration on SIGHUP.
      local pid
      if pid=$(pid_of "$svc"); then kill -HUP "$pid" && say "$svc: configuration reloaded"; fi
    fi
  done
  mkdir -p /run/sshd 2>/dev/null || "${SUDO[@]}" mkdir -p /run/sshd
}

launch_sshd() { # service
  local svc=$1
  require_free_port "$(sshd_port "$svc")" "$svc" "FERRY_DEV_SSH_PORT_${svc#sshd-}"
  launch "$svc" "$(sshd_bin)" -D -e -f "$TARGETS/$svc/sshd_config"
}

# What tests and the demo need to reach the targets, for env.sh.
targets_env() {
  printf 'export %s=%q\n' \
    FERRY_DEV_TARGET_USER "$TARGET_USER" \
    FERRY_DEV_TARGET_KEY "$TARGETS/ferry_ed25519" \
    FERRY_DEV_TARGETS "127.0.0.1:$SSH_PORT_A 127.0.0.1:$SSH_PORT_B" \
    FERRY_DEV_TARGET_HOST_KEYS "$TARGETS/sshd-a/ssh_host_ed25519_key.pub $TARGETS/sshd-b/ssh_host_ed25519_key.pub"
}
