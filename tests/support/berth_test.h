/*
 * berth_test.h - what every cmocka test includes: cmocka itself and small
 * helpers (temporary directories, running the real binary).
 */
#ifndef BERTH_TEST_H
#define BERTH_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "berth/util.h"

/* A fresh directory under $TMPDIR (or /tmp); caller frees the string. The
 * directory is left behind for inspection when a test fails. */
char *bt_tmpdir(const char *tag);

/* Remove a directory tree (best effort). */
void bt_rmtree(const char *path);

/* Path of the berth binary under test ($BERTH_BIN); aborts if unset. */
const char *bt_berth_bin(void);

/*
 * Run argv (argv[0] is the program path, NULL-terminated) with optional
 * stdin text, capture stdout and stderr (caller releases the buffers, which
 * may be NULL to discard). Returns the exit status, or 128+signal.
 */
int bt_run(char *const argv[], const char *stdin_text, struct berth_buf *out,
           struct berth_buf *err);

/* Write text to path (truncating); aborts on failure. */
void bt_write_file(const char *path, const char *text);

/*
 * A fresh PostgreSQL database on the server of admin_url ($BERTH_TEST_PG):
 * returns its URL (caller frees) and its name in *name (caller frees).
 * Aborts when the server cannot be reached. Drop it with bt_pg_drop().
 */
char *bt_pg_fresh(const char *admin_url, char **name);
void bt_pg_drop(const char *admin_url, const char *name);

#endif
