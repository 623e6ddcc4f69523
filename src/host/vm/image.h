// SPDX-License-Identifier: MIT
/* image.h: guest kernel cache, initramfs writer and root disk templates. */
#ifndef SBX_IMAGE_H
#define SBX_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "paths.h"

/*
 * Kernel cache (cache/kernel/, guarded by cache/kernel/lock):
 *   release                      the release in use, e.g. "6.1.0-57-cloud-amd64"
 *   REL/                         the unpacked linux-image .deb (dpkg -x), depmod'ed
 *   REL/vmlinux                  uncompressed ELF, booted through PVH
 *   REL/lib/modules/REL/         modules
 *   REL/initramfs.cpio           newc archive: /init = sbx-guest, virtio modules
 *   REL/initramfs.stamp          which sbx-guest the initramfs was built from
 * Every file appears by rename(2) once complete. A cached kernel is never
 * replaced by a newer one: remove cache/kernel to fetch the current release.
 */
struct kernel_info {
	char *release;
	char *vmlinux;
	char *initramfs;
	char *modules_dir; /* .../lib/modules/REL */
};

/*
 * Make sure the cache holds the cloud kernel (downloaded with apt-get as a .deb,
 * never installed on the host), its vmlinux, and an initramfs built from
 * p->guest_bin (rebuilt when that binary changes). Idempotent, lock-free and
 * fast when everything is present; safe to run from several processes at once.
 * level is a template_verbosity: steps and bars at PROGRESS, and every command's
 * output too at VERBOSE; a failing command's last output lines are logged as an error.
 */
int kernel_ensure(const struct sbx_paths *p, int level, struct kernel_info *ret);
void kernel_info_free(struct kernel_info *k);

/* Modules put in the initramfs (with their dependencies), and where the list goes.
 * The boot set (virtio-mmio, the root disk, the channel, the workspace) is loaded
 * before the root disk is mounted; the later set (balloon, and egress's: dummy route
 * device, nftables NAT redirect and reject) by a child of sbx-guest while it mounts
 * the root disk and meets the host (modules_load_list). Both are in the initramfs so
 * the guest need not read them from its root disk at every boot. microvm has no PCI
 * bus: every device is virtio-mmio. */
#define INITRAMFS_MODULES_BOOT "virtio_mmio", "virtio_blk", "virtio_console", "virtiofs"
#define INITRAMFS_MODULES_LATER "virtio_balloon", "dummy", "nf_tables", "nft_chain_nat", "nft_redir", \
	"nft_reject_inet", "nft_fib_inet"
#define INITRAMFS_MODULES INITRAMFS_MODULES_BOOT, INITRAMFS_MODULES_LATER
#define INITRAMFS_MODULE_LIST "/etc/sbx/modules" /* absolute paths, load order, one a line */
#define INITRAMFS_MODULE_LATER_MARK "@later" /* the line between the two sets */

/*
 * cpio "newc" writer. Entries get uid/gid 0 and mtime 0. Names are relative
 * ("a/b", no leading "/"), have no empty, "." or ".." component, no NUL, and are
 * at most CPIO_NAME_MAX bytes: anything else is -EINVAL. The writer does not
 * create parent directories: add them first (the kernel does not make them).
 * After any error the writer only accepts cpio_finish/cpio_free.
 */
#define CPIO_NAME_MAX 1024
#define CPIO_FILE_MAX (256u << 20)
struct cpio_writer;
int cpio_open(int fd, struct cpio_writer **ret);
int cpio_add_file(struct cpio_writer *w, const char *name, mode_t mode, const void *data, size_t len);
int cpio_add_dir(struct cpio_writer *w, const char *name, mode_t mode);
int cpio_add_symlink(struct cpio_writer *w, const char *name, const char *target);
/* Character or block device node: mode includes S_IFCHR or S_IFBLK. */
int cpio_add_node(struct cpio_writer *w, const char *name, mode_t mode, unsigned int major, unsigned int minor);
/* Write the TRAILER!!! entry and pad. Returns the first error seen, if any. Frees w. */
int cpio_finish(struct cpio_writer *w);
/* Free without writing a trailer (error paths). */
void cpio_free(struct cpio_writer *w);

/*
 * Resolve modules (names as in modules.dep, '-' and '_' equivalent) and their
 * dependencies from modules_dir/modules.dep, in load order: dependencies first,
 * each once. Built-in modules (modules.builtin) are skipped. *ret_paths is a
 * NULL-terminated array of paths relative to modules_dir; free with image_strv_free().
 * -ENOENT if a module is unknown, -ELOOP on a dependency cycle.
 */
int modules_resolve(const char *modules_dir, const char *const *names, char ***ret_paths);
void image_strv_free(char **v);

/* Length of a module without its appended signature ("~Module signature appended~"
 * trailer); len when it has none or the trailer is malformed. Pure. Unsigned modules
 * load the same (the kernel only taints, MODULE_SIG_FORCE is off) and skip the
 * signature check, which is slow under TCG. */
size_t module_strip_sig(const uint8_t *buf, size_t len);

/* Write an initramfs (uncompressed newc) to out_path atomically; pg (progress.h, may be
 * NULL) learns the bytes of its input files and how many are in. */
struct progress;
int initramfs_build(const char *out_path, const char *guest_bin, const char *modules_dir, const char *release,
		    struct progress *pg);

/*
 * Templates (cache/templates/NAME/, guarded by cache/templates/.NAME.lock):
 *   meta.json        {name, built, kernel_release, size, image, recipe_sha256}: the source of truth
 *   base-ID.raw      read-only (0444) sparse ext4 image, one per build
 *   base.raw         symlink to the current base-ID.raw
 * A rebuild adds a new base-ID.raw and keeps older ones that a sandbox's qcow2
 * overlay still uses as backing file; unused older images are deleted.
 */
/*
 * Saved and imported templates (sbx template save/import) live in
 * state/templates/NAME/ with the same files (meta.json, base-ID.raw): they are user
 * data, not a cache. A name is a recipe's (installed or config/recipes/NAME) or
 * a saved one's, never both: save and import refuse recipe names.
 */
bool template_known(const struct sbx_paths *p, const char *name); /* a recipe or a saved template exists */
/* Built from a recipe (installed or the user's copy). */
bool template_is_recipe(const struct sbx_paths *p, const char *name);
/* Where NAME's files are (allocated): cache/templates/NAME or state/templates/NAME. */
char *template_dir(const struct sbx_paths *p, const char *name);
/* Absolute path of the current base image (use it as qcow2 backing file); -ENOENT if not built. */
int template_image(const struct sbx_paths *p, const char *name, char **ret_path);
/* 0 when path is an image of template name (CACHE/templates/NAME/base-*.raw, a
 * regular file, not a symlink), the only backing file a sandbox disk may have;
 * -EPERM otherwise, -errno when it cannot be looked at. */
int template_base_ok(const struct sbx_paths *p, const char *name, const char *path);
/* The backing file the qcow2 disk's header names (*ret NULL: none). The header is
 * hostile (whatever writes the disk writes it): read bounded, only for comparison
 * and for disks sbx has no record of; -EBADMSG when it is not a qcow2 header. */
int disk_backing_name(const char *disk, char **ret);
/* Built, but from another version of its recipe (or before sbx recorded which):
 * `template build` and the first use rebuild it. */
bool template_stale(const struct sbx_paths *p, const char *name);
/*
 * Build when missing (or always with force); ~35 s here, minutes on a slow
 * mirror. As root: mmdebstrap (unshare mode, for its private mount namespace)
 * into a directory, then mke2fs -d. Not root: mmdebstrap in a user namespace
 * (the user's subordinate ids) to a tarball, unpacked and given to mke2fs -d in a
 * namespace with the same ids (idmap.h), so the image records the tree's owners.
 * Interruptible (SIGINT/SIGTERM/SIGHUP): returns -EINTR and leaves nothing behind.
 * verbose: every command's output streamed to stderr; else errors only.
 */
int template_build(const struct sbx_paths *p, const char *name, bool force, bool verbose);
/* PROGRESS: step lines (progress.h), with bars and spinners on a terminal. */
enum template_verbosity { TEMPLATE_QUIET, TEMPLATE_PROGRESS, TEMPLATE_VERBOSE };
int template_build_ex(const struct sbx_paths *p, const char *name, bool force, enum template_verbosity v);
/* QUIET under --quiet (progress.h), else PROGRESS. */
enum template_verbosity template_verbosity_default(void);
struct template_meta {
	char *name;           /* as meta.json says (an archive's suggestion); may be NULL */
	char *built;          /* ISO 8601 UTC: built, saved or imported */
	char *kernel_release; /* whose modules the image carries */
	char *image;          /* absolute path of the current base image (meta.json: its file name) */
	uint64_t size;        /* apparent size (the guest's disk size) */
	uint64_t disk_usage;  /* blocks really allocated */
	char *source;         /* "recipe", "saved", "imported" */
	char *source_sandbox; /* saved: the sandbox it was saved from (kept through export) */
	char *base_template;  /* saved: the template that sandbox was made from */
	char *recipe_sha256;  /* recipe: of the recipe text it was built from */
	char **versions;      /* "NAME@VERSION" of node and the npm packages in it; NULL-terminated */
};
int template_meta_get(const struct sbx_paths *p, const char *name, struct template_meta *ret); /* -ENOENT if not built */
void template_meta_free(struct template_meta *m);
/* Sandboxes (names, NULL-terminated) whose disk has its backing file in NAME's
 * directory: they depend on it. A disk that cannot be read counts as depending. */
int template_users(const struct sbx_paths *p, const char *name, char ***ret);
/* `sbx template save`: flatten the (stopped) sandbox's disk with qemu-img convert into
 * a new template NAME in state/templates (force: replace one of that name; sandboxes
 * made from it keep their image). Refuses recipe names. *ret_err says why on failure. */
int template_save(const struct sbx_paths *p, const char *sandbox, const char *name, bool force, char **ret_err);
/* `sbx template rm`: -EBUSY when a sandbox's disk depends on it (template_users). */
int template_remove(const struct sbx_paths *p, const char *name, char **ret_err);
/* `sbx template export`: NAME as one zstd-compressed tar (template_archive.h). */
int template_export(const struct sbx_paths *p, const char *name, const char *file, bool force, char **ret_err);
/* `sbx template import`: verify the archive in a staging directory, then publish it as
 * name (NULL: the archive's). *ret_name: the name it got. */
int template_import(const struct sbx_paths *p, const char *file, const char *name, bool force, char **ret_name,
		    char **ret_err);
/* Names of all recipes and saved templates, sorted, NULL-terminated; free with image_strv_free(). */
int template_names(const struct sbx_paths *p, char ***ret);

/*
 * Internal to the image modules (image_run.c): run a command, wait for it.
 * Output (stdout+stderr) is streamed to stderr prefixed with "  | " at
 * RUN_STREAM, else kept; on failure its last lines are logged. Returns the exit
 * status (0..255), or -EINTR after image_signals_catch() saw SIGINT/SIGTERM (the
 * child was told to stop and was waited for), or -errno.
 */
enum run_output { RUN_QUIET, RUN_STREAM };
int image_run(const char *const *argv, const char *cwd, enum run_output out);
/* The same as root of the user namespace ns (idmap.h), NULL: none. */
struct idmap_ns;
int image_run_ns(const char *const *argv, const char *cwd, enum run_output out, const struct idmap_ns *ns);
/* What a caller watches while the command runs (progress): in is the command's stdin
 * (-1: /dev/null; the caller keeps it, so it can see how far the command read);
 * on_line gets the start of each output line (up to 511 bytes, raw: sanitise before
 * showing); on_tick is called at least every PROGRESS_REDRAW_MS. Either may be NULL. */
struct run_watch {
	int in;
	void (*on_line)(void *ctx, const char *line);
	void (*on_tick)(void *ctx);
	void *ctx;
};
int image_run_watch(const char *const *argv, const char *cwd, enum run_output out, const struct idmap_ns *ns,
		    const struct run_watch *w);
/*
 * A run_watch that drives a bar or spinner (image_progress(); NULL: silent): each output
 * line becomes its status; lines starting with `notes` ("I: ", mmdebstrap's phases) are
 * also said on a line of their own when stderr is not a terminal (at most 64). How far
 * the work is, when `how` says: the blocks fd has allocated (a file being written), the
 * position of fd (a file the command reads on stdin), or the bytes the command added to
 * the regular files in dir and its partial/ (a download).
 */
enum image_watch_how { WATCH_NONE, WATCH_BLOCKS, WATCH_POS, WATCH_DIR };
struct image_watch {
	struct run_watch w;
	struct progress *pg;
	const char *notes;
	unsigned n_notes;
	enum image_watch_how how;
	int fd;
	const char *dir;
	uint64_t last;   /* when it last measured */
	uint64_t base;   /* WATCH_DIR: the bytes in dir before the command ran */
};
void image_watch_init(struct image_watch *iw, struct progress *pg, enum image_watch_how how, int fd,
		      const char *dir);
/* Start argv (found in PATH, then in the sbin directories) in a process group of its
 * own that dies with us, stdin/stdout/stderr on in/out/err (-1: /dev/null), in cwd
 * and as root of ns when given; *ret is its pid, for the caller to wait for. */
int image_spawn(const char *const *argv, const char *cwd, int in, int out, int err, const struct idmap_ns *ns,
		pid_t *ret);
/* Run argv, collect up to max bytes of its stdout (*ret, NUL-terminated); stderr is
 * dropped; -EIO when it does not exit 0. */
int image_run_capture(const char *const *argv, const char *cwd, size_t max, char **ret);
/* Catch SIGINT/SIGTERM/SIGHUP so image_run returns -EINTR; restore with release. */
void image_signals_catch(void);
void image_signals_release(void);
bool image_interrupted(void);
/* Take an exclusive flock on path (created 0600), waiting; returns the fd. */
int image_lock(const char *path, bool verbose);
/* "sbx: ..." on stderr when level >= 1 (template builds, kernel fetch) and not --quiet. */
void image_say(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The bar or spinner for a step at this level (progress.h): NULL below 1. */
struct progress *image_progress(int level, const char *label, uint64_t total);

#endif
