// SPDX-License-Identifier: MIT
/* cmd_doc.c: the text of every command's help page (format: cmd_doc.h). */
#include "cmd_doc.h"

#include <stdio.h>
#include <string.h>

#include "services.h"
#include "settings.h"
#include "util.h"

static const struct doc_opt run_opts[] = {
	{ NULL, 0, "name", "NAME", NULL, "sandbox name (default AGENT-<directory name>, and -BRANCH with --branch)" },
	{ NULL, 'd', "detach", NULL, NULL, "start it and return (run only)" },
	{ NULL, 0, "cpus", "N", NULL, "virtual CPUs (default 2)" },
	{ NULL, 'm', "memory", "SIZE", NULL, "memory, e.g. 1G or 2048M (default 1G)" },
	{ NULL, 't', "template", "T", "template", "root disk template (default: the agent's)" },
	{ NULL, 'e', "env", "K=V", NULL, "environment for every command in the sandbox (repeatable)" },
	{ NULL, 0, "branch", "B", NULL,
	  "work in a git worktree of PATH's repository at branch B (made from HEAD when missing), in "
	  "REPO.sbx/NAME; commits land in the repository at once; sbx rm removes the worktree, not the branch" },
	{ NULL, 'p', "publish", "[ADDR:]HOSTPORT:GUESTPORT", NULL,
	  "make the sandbox's port GUESTPORT reachable on this host at ADDR:HOSTPORT (ADDR default 127.0.0.1; "
	  "repeatable; see sbx ports)" },
	{ NULL, 0, "local", "DIR", NULL,
	  "keep the workspace's DIR (relative, e.g. node_modules or target) on the VM's own disk: VM-disk "
	  "speed, kept across stop/start, removed with the sandbox, not shared (the host sees an empty "
	  "directory there); set at create (repeatable, at most 16)" },
	{ NULL, 0, "workspace-mode", "MODE", "=share =sync",
	  "share (default): the workspace is the host directory itself, shared; sync: the sandbox works on a copy "
	  "on its own disk, kept in step with the host both ways within about a second (much faster for many "
	  "small files; see sbx sync)" },
	{ NULL, 'q', "quiet", NULL, NULL, "only errors on stderr: no progress while a template is built on first use" },
	{ NULL, 'h', "help", NULL, NULL, "show this help" },
	{ 0 },
};

static const char run_description[] =
	"Create the sandbox for AGENT and PATH if needed, start it and run the agent in it.\n"
	"AGENT is shell, claude, codex, gemini or copilot. PATH (default: the current directory)\n"
	"is mounted in the VM at the same absolute path. ARGS replace the agent's command when\n"
	"the first is not a flag, else they are appended. Without a terminal the command runs\n"
	"non-interactively and its exit status is sbx's.\n"
	"\n"
	"Options may come before or after AGENT and PATH; everything after -- goes to the agent.\n"
	"\n"
	"A workspace may carry network rules for its sandbox in .sbx/policy (allow and deny\n"
	"lines, see sbx help policy). The agent can write that file, so a new or changed one\n"
	"is shown as a diff and applied only when accepted on a terminal; otherwise the change\n"
	"is ignored with a warning and the rules accepted before stay.\n";

static const char run_examples[] =
	"  sbx run claude\n"
	"  sbx run claude --branch feature/api-refactor\n"
	"  sbx run shell ~/project -- bash -lc 'make test'\n"
	"  sbx run -d --name api codex .\n"
	"  sbx run -d -p 8080:3000 shell .\n";

static const struct doc_opt sync_opts[] = {
	{ "status flush", 0, "json", NULL, NULL, "machine-readable object" },
	{ "flush status", 0, "timeout", "SECONDS", NULL, "give up after this long (default 60)" },
	{ NULL, 'h', "help", NULL, NULL, "show this help" },
	{ 0 },
};

static const struct doc_sub sync_subs[] = {
	{ "status", "NAME", "sandbox", "pending changes, conflicts, paths not synced, the last sync" },
	{ "flush", "NAME", "sandbox", "return once every change the guest made before reached the host" },
	{ NULL },
};

static const struct doc_opt ports_opts[] = {
	{ NULL, 'p', "publish", "SPEC", NULL, "publish [ADDR:]HOSTPORT:GUESTPORT (repeatable)" },
	{ NULL, 0, "unpublish", "SPEC", NULL, "stop publishing SPEC, or every port published at HOSTPORT (repeatable)" },
	{ NULL, 0, "json", NULL, NULL, "machine-readable array" },
	{ NULL, 'h', "help", NULL, NULL, "show this help" },
	{ 0 },
};

static const char ports_description[] =
	"List a sandbox's published ports (HOST -> GUEST), or change them. A published port is a\n"
	"TCP port of the sandbox reachable on this host: sbxd listens on ADDR:HOSTPORT while the\n"
	"sandbox runs and carries each connection over the sandbox's channel to GUESTPORT on the\n"
	"sandbox's own loopback (127.0.0.1, else ::1); the VM still has no network device.\n"
	"\n"
	"SPEC is [ADDR:]HOSTPORT:GUESTPORT. ADDR is an IP address ([::1] for IPv6) and defaults\n"
	"to 127.0.0.1, reachable from this machine only; 0.0.0.0 exposes the port to the network\n"
	"(sbx warns). Ports are kept with the sandbox, survive sbx stop and a start, and go with\n"
	"sbx rm. A host port already in use is an error, and nothing changes.\n";

static const struct doc_opt ls_opts[] = {
	{ NULL, 0, "json", NULL, NULL, "machine-readable array" },
	{ NULL, 'q', "quiet", NULL, NULL, "names only" },
	{ NULL, 'h', "help", NULL, NULL, "show this help" },
	{ 0 },
};

static const struct doc_opt exec_opts[] = {
	{ NULL, 'i', "interactive", NULL, NULL, "forward stdin" },
	{ NULL, 't', "tty", NULL, NULL, "allocate a terminal" },
	{ NULL, 'u', "user", "USER", NULL, "run as USER (default agent; root works)" },
	{ NULL, 'w', "workdir", "DIR", NULL, "working directory in the sandbox (default: the workspace)" },
	{ NULL, 'e', "env", "K=V", NULL, "extra environment (repeatable)" },
	{ NULL, 'h', "help", NULL, NULL, "show this help" },
	{ 0 },
};

static const struct doc_opt cp_opts[] = {
	{ NULL, 'r', "recursive", NULL, NULL, "copy directories and everything in them (also -R)" },
	{ NULL, 'h', "help", NULL, NULL, "show this help" },
	{ 0 },
};

static const struct doc_opt stop_opts[] = {
	{ NULL, 0, "all", NULL, NULL, "every sandbox" },
	{ NULL, 'h', "help", NULL, NULL, "show this help" },
	{ 0 },
};

static const struct doc_opt prune_opts[] = {
	{ NULL, 0, "older-than", "AGE", NULL,
	  "only sandboxes stopped at least AGE ago: N followed by s, m, h, d or w (default 7d; 0 = every stopped one)" },
	{ NULL, 'f', "force", NULL, NULL, "do not ask (needed without a terminal)" },
	{ NULL, 'n', "dry-run", NULL, NULL, "list what would be removed, remove nothing" },
	{ NULL, 'h', "help", NULL, NULL, "show this help" },
	{ 0 },
};

static const struct doc_opt rm_opts[] = {
	{ NULL, 'f', "force", NULL, NULL, "stop running sandboxes first; remove a worktree with uncommitted changes" },
	{ NULL, 0, "all", NULL, NULL, "every sandbox" },
	{ NULL, 'h', "help", NULL, NULL, "show this help" },
	{ 0 },
};

static const struct doc_opt reset_opts[] = {
	{ NULL, 'f', "force", NULL, NULL, "do not ask (needed without a terminal)" },
	{ NULL, 0, "secrets", NULL, NULL, "remove the stored secrets too" },
	{ NULL, 'h', "help", NULL, NULL, "show this help" },
	{ 0 },
};

static const struct doc_sub policy_subs[] = {
	{ "init", "PRESET", "preset", "start from a preset (alias: set-default): balanced (AI APIs, package registries, "
	  "code hosts, container registries, OS mirrors), allow-all, deny-all; running it again swaps the preset's "
	  "rules and keeps yours" },
	{ "set-default", "PRESET", "preset", "the same as init" },
	{ "allow", "network RULE[,RULE...]", "=network", "allow destinations (see Rules above)" },
	{ "deny", "network RULE[,RULE...]", "=network", "deny destinations; deny wins" },
	{ "ls", "", "", "list rules (ID ACTION RESOURCE SCOPE ORIGIN)" },
	{ "rm", "network", "=network", "remove a rule by --id, or every rule with that --resource in a scope" },
	{ "check", "network TARGET", "=network", "would TARGET be allowed? TARGET: host, host:port, an IP or a URL "
	  "(port 443 when none is given); exit 0 allowed, 1 denied" },
	{ "log", "[SANDBOX]", "sandbox", "destinations from the audit log with counts, blocked first" },
	{ "reset", "", "", "choose a preset again, dropping every rule (asks on a terminal); -f removes the policy so "
	  "that no preset is chosen" },
	{ "export", "[FILE]", "file", "write the policy as a policy file (see Policy files below) to FILE, or to "
	  "standard output" },
	{ "import", "FILE", "file", "make the policy what FILE says (- reads standard input): every line is checked "
	  "first, and a bad one is named as FILE:LINE with nothing changed; the changes are shown as a diff and "
	  "applied only when accepted (asks on a terminal; without one, only with -y)" },
	{ 0 },
};

static const struct doc_opt policy_opts[] = {
	{ "allow deny rm check", 0, "sandbox", "NAME", "sandbox",
	  "allow, deny, rm, check: the rules of that sandbox only (without: the global rules)" },
	{ "ls log export", 0, "json", NULL, NULL, "ls, log, export: print JSON" },
	{ "rm", 0, "id", "ID", NULL, "rm: the rule with that id (see sbx policy ls)" },
	{ "rm", 0, "resource", "RULE", NULL, "rm: every rule with that resource in the scope" },
	{ "log", 0, "limit", "N", NULL, "log: at most N destinations" },
	{ "reset", 'f', "force", NULL, NULL, "reset: remove the policy, ask nothing" },
	{ "import", 0, "merge", NULL, NULL, "import: add the file's rules, keep the others" },
	{ "import", 'y', "yes", NULL, NULL, "import: accept the changes without asking (after showing them)" },
	{ NULL, 'h', "help", NULL, NULL, "show this help" },
	{ 0 },
};

static const char policy_description[] =
	"What sandboxes may reach on the network. Deny wins; no match = deny. Rules are global,\n"
	"or for one sandbox with --sandbox. Changes apply to running sandboxes within a second.\n"
	"Before a preset is chosen, sbx run and sbx create refuse to start and name sbx policy init.\n"
	"\n"
	"Rules:\n"
	"  example.com       that name only\n"
	"  *.example.com     one label below (a.example.com)\n"
	"  **.example.com    any depth below (a.b.example.com), not example.com\n"
	"  **                everything\n"
	"  1.2.3.4  10.0.0.0/8  [fd00::1]  fd00::/8\n"
	"  localhost:PORT    a service on this host, reached in the sandbox\n"
	"                    as host.docker.internal:PORT\n"
	"  RULE:PORT         only that port (without: every port)\n"
	"\n"
	"Loopback, private, link-local and other internal addresses are refused unless an allow\n"
	"rule names the address or network itself (** never does); this host's own addresses\n"
	"always are.\n"
	"\n"
	"Policy files (export, import; docs/policy-file.md): one directive a line, # starts a\n"
	"comment; a file whose first character is { is the JSON form (what --json writes).\n"
	"  version 1\n"
	"  preset balanced                  the preset's rules, as shipped\n"
	"  allow example.com                for every sandbox\n"
	"  deny **.ads.example\n"
	"  allow api.test:443 sandbox=api   for sandbox api only\n";

static const struct doc_sub secret_subs[] = {
	{ "set", "SERVICE", "service", "store the credential for SERVICE, read from standard input when it is not a "
	  "terminal (one trailing newline is dropped), else prompted for without echo; empty or multi-line values "
	  "are refused" },
	{ "ls", "", "", "list stored secrets: SCOPE SERVICE PREVIEW (never the value), and where they are kept (the "
	  "setting secrets.backend: the Secret Service or a 0600 file)" },
	{ "rm", "SERVICE", "service", "remove a stored secret" },
	{ 0 },
};

static const struct doc_opt secret_opts[] = {
	{ "set rm", 'g', "global", NULL, NULL, "set, rm: the secret for every sandbox (the default)" },
	{ "set rm", 0, "sandbox", "NAME", "sandbox",
	  "set, rm: the secret of that sandbox only, which wins over the global one" },
	{ "ls", 0, "json", NULL, NULL, "ls: print JSON" },
	{ NULL, 'h', "help", NULL, NULL, "show this help" },
	{ 0 },
};

static const char secret_description[] =
	"Credentials that sbx's proxy adds to requests for their service. Sandboxes never see the\n"
	"values: inside them each configured service's variables hold '" SERVICE_SENTINEL "', and the\n"
	"proxy adds the real header on the way out. A stored value wins over the service's\n"
	"variables in the environment of sbx run.\n";

static size_t secret_list(size_t i, struct doc_item *ret)
{
	static char text[256];
	size_t n, len;
	const struct service *s = service_list(&n);

	if (i >= n)
		return 0;
	len = (size_t)snprintf(text, sizeof(text), "%s; env", s[i].desc);
	for (const char *const *e = s[i].env; *e && len < sizeof(text); e++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%s", e == s[i].env ? " " : ", ", *e);
	ret->name = s[i].name;
	ret->text = text;
	return 1;
}

static const struct doc_sub settings_subs[] = {
	{ "ls", "", "", "list every key: KEY VALUE DEFAULT DESCRIPTION" },
	{ "get", "KEY", "setting", "print a key's value (or its default)" },
	{ "set", "KEY VALUE", "setting", "set a key" },
	{ "unset", "KEY", "setting", "back to the default" },
	{ 0 },
};

static const struct doc_opt settings_opts[] = {
	{ "ls", 0, "json", NULL, NULL, "ls: print JSON" },
	{ NULL, 'h', "help", NULL, NULL, "show this help" },
	{ 0 },
};

static size_t settings_list(size_t i, struct doc_item *ret)
{
	static char text[512];
	size_t n;
	const struct settings_key *k = settings_keys(&n);

	if (i >= n)
		return 0;
	if (k[i].def)
		snprintf(text, sizeof(text), "%s (default %s)", k[i].desc, k[i].def);
	else
		snprintf(text, sizeof(text), "%s", k[i].desc);
	ret->name = k[i].key;
	ret->text = text;
	return 1;
}

static const char settings_examples[] =
	"  sbx settings set proxy.resolve 'api.internal:443=10.0.0.5:8443,[::1]:80=127.0.0.1:8080'\n"
	"  sbx settings set proxy.dnsServers '1.1.1.1,[2606:4700:4700::1111]:53'\n"
	"  sbx settings set proxy.upstreamCA ./corp-ca.pem\n";

static const struct doc_opt review_opts[] = {
	{ NULL, 0, "stat", NULL, NULL, "list the changed files with line counts, no diffs" },
	{ NULL, 0, "json", NULL, NULL, "machine-readable array, one object per sandbox" },
	{ NULL, 0, "accept", NULL, NULL, "take the workspace's current state as the new baseline (look first)" },
	{ NULL, 'h', "help", NULL, NULL, "show this help" },
	{ 0 },
};

static const char review_description[] =
	"Show what changed, since the sandbox was created (or since the last --accept), in\n"
	"workspace files that run implicitly on the host: git hooks and config, CI workflows,\n"
	"Makefiles and other build scripts, package.json scripts, npm/yarn config, editor task\n"
	"files, direnv, pre-commit, Dockerfiles. Each added, removed, modified, mode-changed\n"
	"(executable bit) or type-changed file is listed with a unified diff. Symlinks are shown\n"
	"as their target text, never followed. Every git repository git on the host would find\n"
	"there (nested, bare, submodule, a .git file naming another) is listed with its hooks and\n"
	"the config keys that run programs.\n"
	"\n"
	"NAME reviews that sandbox; PATH the sandboxes whose workspace it is; with neither, the\n"
	"sandboxes of the current directory, else every sandbox.\n";

static const struct doc_sub template_subs[] = {
	{ "build", "NAME...", "template...", "install Debian with mmdebstrap and make an ext4 base image; fetches the "
	  "guest kernel first if it is missing. Takes a few minutes; ^C stops it and keeps nothing" },
	{ "ls", "", "", "list templates: status (built, missing, stale = built for another kernel), source (recipe, "
	  "saved:SANDBOX, imported), creation time, size, kernel, and the Node.js and agent CLI versions inside" },
	{ "save", "SANDBOX NAME", "sandbox", "make a template of a stopped sandbox's disk (flattened into a standalone "
	  "image: everything it installed or wrote outside the workspace); then sbx run -t NAME" },
	{ "export", "NAME FILE", "template file", "write a template to FILE: one zstd-compressed tar of its image "
	  "(qcow2), meta.json and SHA256SUMS" },
	{ "import", "FILE [NAME]", "file", "add the template in FILE (as NAME, else the name it was exported under), "
	  "after checking its checksums and contents; a corrupt, truncated or odd file adds nothing" },
	{ "rm", "NAME...", "template...", "remove a template; refused while a sandbox's disk depends on it (the "
	  "sandboxes are named)" },
	{ "update", "NAME", "template", "ask the npm registry for the newest Node.js (same major version) and agent "
	  "CLI releases and pin them in your copy of the recipe; prints old -> new" },
	{ 0 },
};

static const struct doc_opt template_opts[] = {
	{ "build save export import", 'f', "force", NULL, NULL, "build: rebuild even when already built; save, import: "
	  "replace a template of that name; export: overwrite FILE" },
	{ "build", 'v', "verbose", NULL, NULL, "build: show the output of every command" },
	{ "build", 'q', "quiet", NULL, NULL, "build: print errors only (as sbx -q does)" },
	{ "ls", 0, "json", NULL, NULL, "ls: print a JSON array" },
	{ "update", 'n', "dry-run", NULL, NULL, "update: print what would change, write nothing" },
	{ NULL, 'h', "help", NULL, NULL, "show this help" },
	{ 0 },
};

static const struct doc_sub daemon_subs[] = {
	{ "start", "", "", "start it (no-op when running)" },
	{ "stop", "", "", "stop it; running sandboxes keep running and are re-adopted" },
	{ "status", "", "", "say whether it runs (exit 3 when not)" },
	{ 0 },
};

static const struct doc_opt help_only[] = {
	{ NULL, 'h', "help", NULL, NULL, "show this help" },
	{ 0 },
};

static const struct cmd_doc docs[] = {
	{
		.name = "run",
		.summary = "create (if needed), start and attach to a sandbox",
		.synopsis = "run [OPTIONS] AGENT [PATH] [OPTIONS] [-- ARGS...]",
		.description = run_description,
		.opts = run_opts,
		.kinds = "agent dir",
		.after_title = "Examples",
		.after = run_examples,
	},
	{
		.name = "create",
		.summary = "create a sandbox without starting it",
		.synopsis = "create [OPTIONS] AGENT [PATH] [OPTIONS]",
		.description = "Create the sandbox for AGENT and PATH, as sbx run does, and print its name; start\n"
			       "nothing. Options may come before or after AGENT and PATH.\n",
		.opts = run_opts,
		.kinds = "agent dir",
	},
	{
		.name = "ls",
		.aliases = "list",
		.summary = "list sandboxes",
		.synopsis = "ls [--json] [-q]",
		.description = "List sandboxes: SANDBOX AGENT STATUS WORKSPACE, and PORTS (published ports,\n"
			       "HOST->GUEST) when any sandbox has some.\n",
		.opts = ls_opts,
	},
	{
		.name = "exec",
		.summary = "run a command in a sandbox",
		.synopsis = "exec [OPTIONS] NAME [OPTIONS] [--] CMD [ARG...]",
		.description = "Run a command in a sandbox (started if stopped); its exit status is passed through.\n"
			       "Options may come before or after NAME; the first word after NAME that is not an\n"
			       "option, or the word after --, starts the command, and every word after it is the\n"
			       "command's own.\n",
		.opts = exec_opts,
		.kinds = "sandbox file...",
		.after_title = "Examples",
		.after = "  sbx exec claude-project -- ps aux\n"
			 "  sbx exec -it claude-project bash\n"
			 "  sbx exec claude-project -u root apt-get install -y jq\n",
	},
	{
		.name = "cp",
		.summary = "copy files between the host and a sandbox",
		.synopsis = "cp [-r] SRC NAME:DEST\n"
			    "cp [-r] NAME:SRC DEST",
		.description = "Copy a file, a symlink or (with -r) a directory tree between the host and a sandbox\n"
			       "(started if stopped), for paths outside the workspace, which the sandbox already\n"
			       "shares. The sandbox's path is absolute; a host path with a colon is written ./a:b.\n"
			       "When DEST is an existing directory the copy goes into it, under SRC's name;\n"
			       "otherwise DEST is the copy's new name, and its directory must exist. Permission\n"
			       "bits are kept (setuid, setgid and sticky are not); symlinks are copied as links\n"
			       "and never followed, SRC itself included (like cp -P). Hard links become separate\n"
			       "files.\n"
			       "\n"
			       "Into the sandbox, files are written by root and owned by the user agent; an\n"
			       "existing directory copied into keeps its owner and mode. Out of the sandbox, what\n"
			       "the sandbox sends is not trusted: names that are absolute or hold '..', writing\n"
			       "through a symlink (one the copy made or one already in DEST), device nodes, fifos,\n"
			       "hard links, more than 16 GiB or a million entries stop the copy with an error; a\n"
			       "file never replaces a symlink or a directory. What was copied before the error\n"
			       "stays.\n",
		.opts = cp_opts,
		.kinds = "file file",
		.after_title = "Examples",
		.after = "  sbx cp ./notes.txt shell-project:/tmp/notes.txt\n"
			 "  sbx cp -r shell-project:/var/log/apt ./apt-logs\n"
			 "  sbx cp shell-project:/etc/os-release .\n",
	},
	{
		.name = "stop",
		.summary = "stop sandboxes",
		.synopsis = "stop [--all] NAME...",
		.description = "Power sandboxes off cleanly; their disks stay.\n",
		.opts = stop_opts,
		.kinds = "sandbox...",
	},
	{
		.name = "rm",
		.summary = "remove sandboxes",
		.synopsis = "rm [-f] [--all] NAME...",
		.description = "Delete sandboxes and their disks, and the git worktree of a --branch sandbox (its\n"
			       "branch stays).\n",
		.opts = rm_opts,
		.kinds = "sandbox...",
	},
	{
		.name = "prune",
		.summary = "remove sandboxes stopped for a while",
		.synopsis = "prune [--older-than AGE] [-f] [-n]",
		.description = "Remove the sandboxes that have been stopped for AGE or longer (default 7d), as sbx\n"
			       "rm does: their disks, and the git worktree of a --branch sandbox (its branch stays).\n"
			       "A sandbox's age counts from when it last stopped, or from its creation if it never\n"
			       "ran. Running sandboxes are never pruned, nor is a --branch worktree with uncommitted\n"
			       "changes (sbx rm -f removes one). It lists what goes and asks first; without a\n"
			       "terminal it needs -f.\n",
		.opts = prune_opts,
		.after_title = "Exit status",
		.after = "  0  done, or nothing to prune\n"
			 "  1  refused at the prompt, or a sandbox could not be removed\n"
			 "  2  usage error, or no terminal to ask and no -f\n",
	},
	{
		.name = "ports",
		.summary = "list, publish and unpublish a sandbox's ports",
		.synopsis = "ports NAME [--json]\n"
			    "ports NAME --publish [ADDR:]HOSTPORT:GUESTPORT\n"
			    "ports NAME --unpublish [ADDR:]HOSTPORT[:GUESTPORT]",
		.description = ports_description,
		.opts = ports_opts,
		.kinds = "sandbox",
		.after_title = "Examples",
		.after = "  sbx ports api --publish 8080:3000\n"
			 "  curl http://127.0.0.1:8080/\n"
			 "  sbx ports api --unpublish 8080\n",
	},
	{
		.name = "sync",
		.summary = "state of a sync-mode workspace, and waiting for it to reach the host",
		.synopsis = "sync status NAME [--json]\n"
			    "sync flush NAME [--timeout SECONDS] [--json]",
		.description = "A sandbox made with --workspace-mode sync works on a copy of the workspace on its own\n"
			       "disk; an engine in the sandbox copies its changes to the host within about a second,\n"
			       "and sbxd tells it which host files changed. A file changed on both sides since they\n"
			       "last agreed is a conflict: the host's version stays at its path and the sandbox's is\n"
			       "kept next to it as NAME.sbx-conflict-guest-TIME, on both sides. sbx exec, stop and rm\n"
			       "wait for the sandbox's changes to reach the host (a flush); status shows what is\n"
			       "pending, the conflicts and the paths the host refused (protected paths such as\n"
			       ".git/hooks). See docs/workspace-sync.md.\n",
		.subs = sync_subs,
		.opts = sync_opts,
	},
	{
		.name = "reset",
		.summary = "remove every sandbox, template and setting (not the secrets)",
		.synopsis = "reset [-f] [--secrets]",
		.description = "Start over: stop and remove every sandbox (with the worktrees sbx made for --branch),\n"
			       "remove every built, saved and imported template, the settings, the network policy\n"
			       "and the audit log. The guest kernel, your recipes (config/recipes), sbx's CA and the global secrets stay (a sandbox's own secrets go\n"
			       "with it, as with sbx rm); --secrets removes every secret too. It lists what goes and\n"
			       "asks first; without a terminal it needs -f.\n",
		.opts = reset_opts,
	},
	{
		.name = "policy",
		.summary = "network policy: init, allow, deny, ls, rm, check, log, reset, export, import",
		.synopsis = "policy init allow-all|balanced|deny-all\n"
			    "policy allow|deny network [--sandbox NAME] RULE[,RULE...]\n"
			    "policy ls [--json]\n"
			    "policy rm network --id ID | --resource RULE [--sandbox NAME]\n"
			    "policy check network TARGET [--sandbox NAME]\n"
			    "policy log [SANDBOX] [--json] [--limit N]\n"
			    "policy reset [-f]\n"
			    "policy export [--json] [FILE]\n"
			    "policy import [--merge] [-y] FILE",
		.description = policy_description,
		.subs = policy_subs,
		.opts = policy_opts,
	},
	{
		.name = "secret",
		.summary = "set, ls, rm API keys the proxy injects (never enter the VM)",
		.synopsis = "secret set [-g|--global | --sandbox NAME] SERVICE\n"
			    "secret ls [--json]\n"
			    "secret rm [-g|--global | --sandbox NAME] SERVICE",
		.description = secret_description,
		.subs = secret_subs,
		.opts = secret_opts,
		.list_title = "Services",
		.list = secret_list,
	},
	{
		.name = "settings",
		.summary = "ls, get, set, unset host-side settings",
		.synopsis = "settings ls [--json]\n"
			    "settings get KEY\n"
			    "settings set KEY VALUE\n"
			    "settings unset KEY",
		.description = "Host-side settings (config/settings.json).\n",
		.subs = settings_subs,
		.opts = settings_opts,
		.list_title = "Keys",
		.list = settings_list,
		.after_title = "Examples",
		.after = settings_examples,
	},
	{
		.name = "review",
		.summary = "what changed in workspace files that run on the host (hooks, CI, builds)",
		.synopsis = "review [NAME|PATH] [--json] [--accept] [--stat]",
		.description = review_description,
		.opts = review_opts,
		.kinds = "sandbox",
		.after_title = "Exit status",
		.after = "0 nothing changed, 1 something changed or the review is incomplete, 2 error (also: a\n"
			 "sandbox without a baseline; sbx review --accept NAME takes one).\n",
	},
	{
		.name = "template",
		.summary = "build, save, share or list root disk templates",
		.synopsis = "template build [-f|--force] [-v|--verbose] [-q|--quiet] NAME...\n"
			    "template ls [--json]\n"
			    "template save [-f] SANDBOX NAME\n"
			    "template export [-f] NAME FILE\n"
			    "template import [-f] FILE [NAME]\n"
			    "template rm NAME...\n"
			    "template update [-n|--dry-run] NAME",
		.description = "Root disk templates. Recipe templates (minimal, agents) are built from the recipes\n"
			       "shipped with sbx into the cache; a recipe in ~/.config/sbx/recipes/NAME (SBX_HOME:\n"
			       "config/recipes/NAME) is used instead of the shipped one of that name, and is where\n"
			       "template update writes its pins: the shipped recipes are never modified.\n"
			       "\n"
			       "Saved and imported templates are user data and live in the state directory\n"
			       "(~/.local/state/sbx/templates, SBX_HOME: state/templates); their names may not be\n"
			       "those of recipes. A sandbox's disk is an overlay on its template's image: a template\n"
			       "cannot be removed while a sandbox depends on it, and replacing one (-f, or a\n"
			       "rebuild) keeps the image the existing sandboxes use.\n"
			       "\n"
			       "The agents recipe pins Node.js and every agent CLI to exact versions, so that each\n"
			       "build installs the same software; template update moves the pins to the newest\n"
			       "releases (SBX_NPM_REGISTRY overrides https://registry.npmjs.org).\n"
			       "\n"
			       "A build reports its steps ([2/4] ...) on stderr. On a terminal, downloads and the\n"
			       "image get a bar with size, rate and time left, and steps of unknown length a\n"
			       "spinner with the elapsed time; otherwise each step is one line, without carriage\n"
			       "returns or escape sequences.\n",
		.subs = template_subs,
		.opts = template_opts,
		.after_title = "Examples",
		.after = " sbx stop demo && sbx template save demo mybase\n"
			 " sbx run -t mybase claude .\n"
			 " sbx template export mybase mybase.sbxt && sbx template import mybase.sbxt\n"
			 " sbx template update agents && sbx template build agents\n",
	},
	{
		.name = "daemon",
		.summary = "start, stop or query the daemon",
		.synopsis = "daemon start|stop|status",
		.description = "The daemon (sbxd) owns the VMs; any command starts it on demand.\n",
		.subs = daemon_subs,
		.opts = help_only,
	},
	{
		.name = "diagnose",
		.summary = "check the host's setup",
		.synopsis = "diagnose",
		.description = "Check KVM, user namespaces and subordinate ids, QEMU, virtiofsd, the guest kernel,\n"
			       "templates and the daemon; print the command that fixes what is missing.\n",
		.opts = help_only,
	},
	{
		.name = "version",
		.aliases = "--version",
		.summary = "print the version",
		.synopsis = "version",
		.description = "Print sbx's version, and the Node.js and agent CLI versions each built template\n"
			       "records (sbx --version prints the first line only).\n",
		.opts = help_only,
	},
	{
		.name = "help",
		.summary = "this list, or a command's help",
		.synopsis = "help [COMMAND]",
		.description = "Without COMMAND, list the commands; with it, print its help (as sbx COMMAND --help).\n",
		.kinds = "command",
		.opts = help_only,
	},
	{
		.name = "login",
		.summary = "nothing to do: sbx needs no account",
		.synopsis = "login",
		.description = "sbx needs no account and no login. Store the API keys your agents use with\n"
			       "sbx secret set SERVICE.\n",
		.opts = help_only,
		.hidden = true,
	},
	{
		.name = "logout",
		.summary = "nothing to do: sbx needs no account",
		.synopsis = "logout",
		.description = "sbx needs no account; there is nothing to log out of. sbx secret rm SERVICE\n"
			       "removes a stored API key.\n",
		.opts = help_only,
		.hidden = true,
	},
};

static const struct doc_opt top_opts[] = {
	{ NULL, 'q', "quiet", NULL, NULL, "only errors on stderr: no steps, progress bars or notes (before the "
	  "command: sbx -q template build minimal)" },
	{ 0 },
};

static const struct cmd_doc top = {
	.name = "sbx",
	.summary = "run AI coding agents in disposable microVMs",
	.synopsis = "[-q|--quiet] COMMAND [ARGS...]",
	.opts = top_opts,
	.description =
		"sbx runs each AI coding agent in its own microVM (QEMU), with the project directory\n"
		"shared at the same path. The sandbox reaches the network only through sbx's proxy on\n"
		"the host, which applies the network policy and adds API keys that never enter the VM.\n"
		"\n"
		"Run sbx COMMAND --help (or sbx help COMMAND) for a command's options.\n",
	.after_title = "Environment",
	.after = "  SBX_HOME   keep all state (config, state, cache, run) in this directory\n"
		 "  NO_COLOR   no colour in the output when set and not empty (nor is there any when\n"
		 "             the output is not a terminal or TERM is dumb)\n"
		 "  SBX_DEBUG  debug logging\n",
};

const struct cmd_doc *cmd_doc_list(size_t *ret_n)
{
	*ret_n = ARRAY_SIZE(docs);
	return docs;
}

const struct cmd_doc *cmd_doc_top(void)
{
	return &top;
}

const struct cmd_doc *cmd_doc_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(docs); i++) {
		const char *a = docs[i].aliases;
		size_t n = strlen(name);

		if (!strcmp(docs[i].name, name))
			return &docs[i];
		while (a && *a) {
			size_t l = strcspn(a, " ");
			if (l == n && !strncmp(a, name, n))
				return &docs[i];
			a += l;
			a += strspn(a, " ");
		}
	}
	return NULL;
}
