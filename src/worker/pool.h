/*
 * pool.h - private to the worker: a fixed pool of threads that run backend
 * calls, and a completion queue the main thread drains.
 *
 * A task is submitted by the main thread, run by one pool thread, and then
 * appears on the completion queue, from which the main thread takes it back
 * (ownership of the task returns to the main thread).
 */
#ifndef BERTH_WORKER_POOL_H
#define BERTH_WORKER_POOL_H

#include <stdbool.h>
#include <stdint.h>

struct pool_task {
    void (*run)(struct pool_task *t); /* called on a pool thread */
    struct pool_task *next;           /* queue link, owned by the pool */
};

struct pool;

struct pool *pool_new(int threads);
/* Waits for running tasks; queued ones never run. */
void pool_free(struct pool *p);
void pool_submit(struct pool *p, struct pool_task *t);
/*
 * Take all finished tasks (a list linked by ->next, oldest first), waiting
 * up to timeout_us for at least one (0: do not wait). NULL when none.
 */
struct pool_task *pool_take_done(struct pool *p, int64_t timeout_us);
/* Tasks submitted and not yet taken back. */
int pool_in_flight(struct pool *p);

#endif
