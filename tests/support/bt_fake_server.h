/*
 * bt_fake_server.h - run one of the fake cloud servers (tests/fakes/fake_*)
 * as a child process on a free loopback port, and talk to its unsigned
 * /_fake/ control endpoints.
 */
#ifndef BT_FAKE_SERVER_H
#define BT_FAKE_SERVER_H

#include <sys/types.h>

#include <jansson.h>

struct bt_fake_server {
    pid_t pid;
    unsigned port;
    char *dir;      /* scratch directory (port file, log) */
    char *base_url; /* "http://127.0.0.1:<port>" */
};

/*
 * Start $BERTH_BUILD_DIR/tests/<program> with args (NULL-terminated, not
 * including the program or --port-file, which is added) and wait until it
 * listens. Returns 0, or -1 when the program is missing (the caller may
 * skip). The server's stderr goes to <dir>/stderr.
 */
int bt_fake_server_start(struct bt_fake_server *s, const char *program,
                         const char *const *args);

/* Stop it (SIGTERM, then wait) and remove the scratch directory. */
void bt_fake_server_stop(struct bt_fake_server *s);

/* GET base_url + path, parsed as JSON; aborts on failure. Caller
 * json_decref()s. */
json_t *bt_fake_server_get(const struct bt_fake_server *s, const char *path);

/* POST a JSON text to base_url + path; returns the HTTP status. */
long bt_fake_server_post(const struct bt_fake_server *s, const char *path,
                         const char *json_text);

#endif
