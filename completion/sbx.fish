# SPDX-License-Identifier: MIT
# sbx.fish: fish completion for sbx, from `sbx __complete WORD...` (src/host/cli/cmd_doc.c).
function __sbx_complete
	set -l toks (commandline -opc)
	set -l cmd $toks[1]
	set -e toks[1]
	set -l cur (commandline -ct)
	set -l out ($cmd __complete $toks "$cur" 2>/dev/null)
	switch "$out[1]"
		case :file
			__fish_complete_path "$cur"
		case :dir
			__fish_complete_directories "$cur"
		case '*'
			printf '%s\n' $out
	end
end
complete -c sbx -f -a '(__sbx_complete)'
