# SPDX-License-Identifier: MIT
# sbx.bash: bash completion for sbx. The candidates come from `sbx __complete WORD...`,
# made from the same table as `sbx help` (src/host/cli/cmd_doc.c); ":file"/":dir" hand
# the word to bash's own file or directory completion.
_sbx() {
	local cur=${COMP_WORDS[COMP_CWORD]} out line
	local -a cands=()
	out=$("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return 0
	case $out in
	:file) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return 0 ;;
	:dir) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$cur"); return 0 ;;
	esac
	while IFS= read -r line; do
		[ -n "$line" ] && cands+=("$line")
	done <<<"$out"
	COMPREPLY=("${cands[@]}")
}
complete -F _sbx sbx
