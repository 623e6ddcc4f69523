// SPDX-License-Identifier: MIT
/* review_rules.c: the table of files that run implicitly on the host, and the walk's
 * directory rules. Extend the table here; README.md and SECURITY.md describe it. */
#include "review_rules.h"

#include <string.h>

#include "util.h"

/* Every rule matches at any depth (a Makefile in a subdirectory runs too). */
static const struct review_rule rules[] = {
	/* git: hooks, configuration (core.hooksPath, fsmonitor, filters, aliases) */
	{ ".git/hooks/**", "git", "git hook" },
	{ ".git/config", "git", "git configuration" },
	{ ".git/config.worktree", "git", "git configuration" },
	/* git takes config and hooks from the directory this names (SECURITY.md) */
	{ ".git/commondir", "git", "git common directory pointer" },
	/* a --branch VM writes these for the other worktrees of the repository */
	{ ".git/worktrees/*/commondir", "git", "worktree common directory pointer" },
	{ ".git/worktrees/*/config.worktree", "git", "worktree git configuration" },
	{ ".git/info/attributes", "git", "git attributes (filters, diff drivers)" },
	{ ".git/modules/**/hooks/**", "git", "submodule git hook" },
	{ ".git/modules/**/config", "git", "submodule git configuration" },
	{ ".gitmodules", "git", "submodule list" },
	{ ".gitattributes", "git", "git attributes (filters, diff drivers)" },
	/* CI */
	{ ".github/workflows/**", "ci", "GitHub workflow" },
	{ ".github/actions/**", "ci", "GitHub action" },
	{ ".gitlab-ci.yml", "ci", "GitLab CI" },
	{ ".circleci/**", "ci", "CircleCI" },
	{ ".travis.yml", "ci", "Travis CI" },
	{ "azure-pipelines.yml", "ci", "Azure Pipelines" },
	{ "Jenkinsfile", "ci", "Jenkins" },
	{ ".buildkite/**", "ci", "Buildkite" },
	/* build */
	{ "Makefile", "build", "Makefile" },
	{ "makefile", "build", "Makefile" },
	{ "GNUmakefile", "build", "Makefile" },
	{ "*.mk", "build", "make include" },
	{ "CMakeLists.txt", "build", "CMake" },
	{ "*.cmake", "build", "CMake" },
	{ "meson.build", "build", "Meson" },
	{ "configure", "build", "configure script" },
	{ "build.rs", "build", "Cargo build script" },
	{ "Cargo.toml", "build", "Cargo manifest" },
	{ ".cargo/config*", "build", "Cargo configuration" },
	{ "build.gradle*", "build", "Gradle build" },
	{ "settings.gradle*", "build", "Gradle settings" },
	{ "gradlew", "build", "Gradle wrapper" },
	{ "pom.xml", "build", "Maven" },
	{ "Rakefile", "build", "Rake" },
	{ "justfile", "build", "just" },
	{ "Taskfile.yml", "build", "Task" },
	{ "Taskfile.yaml", "build", "Task" },
	{ "setup.py", "build", "Python setup" },
	{ "setup.cfg", "build", "Python setup" },
	{ "pyproject.toml", "build", "Python project" },
	{ "tox.ini", "build", "tox" },
	{ "noxfile.py", "build", "nox" },
	{ "conftest.py", "build", "pytest plugin" },
	/* JavaScript */
	{ "package.json", "js", "npm package (scripts)" },
	{ ".npmrc", "js", "npm configuration" },
	{ ".yarnrc*", "js", "Yarn configuration" },
	{ ".pnpmfile.cjs", "js", "pnpm hooks" },
	{ ".husky/**", "js", "husky git hook" },
	/* editors */
	{ ".vscode/tasks.json", "editor", "VS Code tasks" },
	{ ".vscode/settings.json", "editor", "VS Code settings" },
	{ ".vscode/launch.json", "editor", "VS Code launch configuration" },
	{ ".vscode/extensions.json", "editor", "VS Code extension recommendations" },
	{ ".idea/**", "editor", "JetBrains project" },
	{ "*.code-workspace", "editor", "VS Code workspace" },
	/* environment */
	{ ".envrc", "env", "direnv" },
	{ ".env", "env", "dotenv" },
	{ ".tool-versions", "env", "asdf tool versions" },
	{ ".mise.toml", "env", "mise" },
	{ ".pre-commit-config.yaml", "env", "pre-commit" },
	{ ".devcontainer/**", "env", "dev container" },
	{ "Dockerfile*", "env", "Dockerfile" },
	{ "docker-compose*.yml", "env", "Docker Compose" },
	{ "docker-compose*.yaml", "env", "Docker Compose" },
	{ "compose*.yml", "env", "Docker Compose" },
	{ "compose*.yaml", "env", "Docker Compose" },
};

/* Content git writes itself at some of the files above. */
static const struct {
	const char *glob, *usual;
} usual[] = {
	{ ".git/worktrees/*/commondir", "../..\n" },
};

bool review_rule_usual(const struct review_rule *rule, const char *data, size_t len)
{
	for (size_t i = 0; rule && data && i < ARRAY_SIZE(usual); i++)
		if (!strcmp(rule->glob, usual[i].glob) && len == strlen(usual[i].usual) && !memcmp(data, usual[i].usual, len))
			return true;
	return false;
}

/* Never entered, at any depth: dependencies and build output. */
static const char *const skip_dirs[] = {
	"node_modules", "target", ".venv", "venv", "__pycache__", "dist", "build",
};

/* Inside .git/modules: the bulk of a submodule's git directory. */
static const char *const gitdir_bulk[] = { "objects", "refs", "logs", "lfs" };

const struct review_rule *review_rules(size_t *ret_n)
{
	*ret_n = ARRAY_SIZE(rules);
	return rules;
}

static bool match_any_depth(const char *g, const char *gend, const char *path);

/* g: glob (NUL-terminated, or up to gend); p: path. Recursion depth is bounded by
 * the glob's length (our own table, a few dozen bytes). */
static bool match_at(const char *g, const char *gend, const char *p)
{
	while (g < gend) {
		if (g[0] == '*' && g + 1 < gend && g[1] == '*') {
			const char *rest = g + 2;
			if (rest == gend) {
				/* trailing "**": at least one more byte of path */
				return *p != 0;
			}
			if (*rest == '/')   /* "**" + "/": zero or more whole components */
				return match_any_depth(rest + 1, gend, p);
			g++;   /* "**x" inside a component behaves as "*x" */
			continue;
		}
		if (*g == '*') {
			for (const char *q = p;; q++) {
				if (match_at(g + 1, gend, q))
					return true;
				if (*q == 0 || *q == '/')
					return false;
			}
		}
		if (*p == 0)
			return false;
		if (*g == '?') {
			if (*p == '/')
				return false;
		} else if (*g != *p) {
			return false;
		}
		g++;
		p++;
	}
	return *p == 0;
}

static bool match_any_depth(const char *g, const char *gend, const char *path)
{
	if (match_at(g, gend, path))
		return true;
	for (const char *q = path; *q; q++)
		if (*q == '/' && match_at(g, gend, q + 1))
			return true;
	return false;
}

bool review_glob_match(const char *glob, const char *path)
{
	return match_any_depth(glob, glob + strlen(glob), path);
}

const struct review_rule *review_rule_match(const char *path)
{
	for (size_t i = 0; i < ARRAY_SIZE(rules); i++)
		if (review_glob_match(rules[i].glob, path))
			return &rules[i];
	/* a non-directory where a rule expects a directory */
	for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
		const char *g = rules[i].glob;
		for (const char *s = strchr(g, '/'); s; s = strchr(s + 1, '/'))
			if (match_any_depth(g, s, path))
				return &rules[i];
	}
	return NULL;
}

static bool name_in(const char *name, size_t len, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(list[i]) == len && !memcmp(list[i], name, len))
			return true;
	return false;
}

bool review_dir_enter(const char *path)
{
	const char *last = strrchr(path, '/');
	const char *inner = NULL;

	last = last ? last + 1 : path;
	if (name_in(last, strlen(last), skip_dirs, ARRAY_SIZE(skip_dirs)))
		return false;
	/* the part of path below its first ".git" component */
	for (const char *c = path; c && *c; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL) {
		if (!strncmp(c, ".git", 4) && (c[4] == '/' || c[4] == 0)) {
			inner = c[4] ? c + 5 : "";
			break;
		}
	}
	if (!inner || !*inner)
		return true;   /* outside any .git, or the .git directory itself */
	if (!strcmp(inner, "hooks") || !strncmp(inner, "hooks/", 6) || !strcmp(inner, "info"))
		return true;
	if (!strcmp(inner, "worktrees") || (!strncmp(inner, "worktrees/", 10) && !strchr(inner + 10, '/')))
		return true;   /* worktrees/ID, not below */
	if (strcmp(inner, "modules") && strncmp(inner, "modules/", 8))
		return false;
	for (const char *c = inner; c;) {
		const char *e = strchr(c, '/');
		size_t len = e ? (size_t)(e - c) : strlen(c);
		if (name_in(c, len, gitdir_bulk, ARRAY_SIZE(gitdir_bulk)))
			return false;
		c = e ? e + 1 : NULL;
	}
	return true;
}
