#!/bin/bash
# SPDX-License-Identifier: MIT
# give-subids.sh USER: give USER 65536 subordinate uids and gids (/etc/subuid, /etc/subgid)
# after every range already there, unless USER has some. Run as root (setup.sh uses sudo).
# virtiofsd's and the template build's user namespaces map them (src/host/idmap.c).
set -u
user=${1:?usage: give-subids.sh USER}
uid=$(id -u "$user") || exit 2
if grep -qE "^($user|$uid):" /etc/subuid 2>/dev/null && grep -qE "^($user|$uid):" /etc/subgid 2>/dev/null; then
	exit 0
fi
start=$(cat /etc/subuid /etc/subgid 2>/dev/null |
	awk -F: 'BEGIN{m=100000} NF==3{e=$2+$3; if (e>m) m=e} END{print int((m+65535)/65536)*65536}')
echo "give-subids: giving $user the subordinate ids $start-$((start + 65535)) (/etc/subuid, /etc/subgid)"
usermod --add-subuids "$start-$((start + 65535))" --add-subgids "$start-$((start + 65535))" "$user"
