# SPDX-License-Identifier: MIT
# sbx.fish: fish completion for sbx, from `sbx __complete WORD...` (src/host/cmd_doc.c).
function __sbx_complete
	set -l toks (commandline -opc) (commandline -ct)
	set -l out ($toks[1] __complete $toks[2..-1] 2>/dev/null)
	switch "$out[1]"
		case :file
			__fish_complete_path (commandline -ct)
		case :dir
			__fish_complete_directories (commandline -ct)
		case '*'
			printf '%s\n' $out
	end
end
complete -c sbx -f -a '(__sbx_complete)'
