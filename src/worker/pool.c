/* pool.c - threads for backend calls and a completion queue (pool.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "berth/util.h"
#include "pool.h"

struct pool {
    pthread_mutex_t lock;
    pthread_cond_t work_cv;
    pthread_cond_t done_cv;
    struct pool_task *todo_head, *todo_tail;
    struct pool_task *done_head, *done_tail;
    int in_flight;
    bool stopping;
    int nthreads;
    pthread_t *threads;
};

static void *pool_main(void *arg)
{
    struct pool *p = arg;
    for (;;) {
        struct pool_task *t;
        pthread_mutex_lock(&p->lock);
        while (!p->todo_head && !p->stopping)
            pthread_cond_wait(&p->work_cv, &p->lock);
        if (p->stopping) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        t = p->todo_head;
        p->todo_head = t->next;
        if (!p->todo_head)
            p->todo_tail = NULL;
        pthread_mutex_unlock(&p->lock);

        t->run(t);

        pthread_mutex_lock(&p->lock);
        t->next = NULL;
        if (p->done_tail)
            p->done_tail->next = t;
        else
            p->done_head = t;
        p->done_tail = t;
        pthread_cond_signal(&p->done_cv);
        pthread_mutex_unlock(&p->lock);
    }
}

struct pool *pool_new(int threads)
{
    struct pool *p = berth_xcalloc(1, sizeof(*p));
    pthread_condattr_t ca;

    if (threads < 1)
        threads = 1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->work_cv, NULL);
    pthread_cond_init(&p->done_cv, &ca);
    pthread_condattr_destroy(&ca);
    p->threads = berth_xcalloc((size_t)threads, sizeof(*p->threads));
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, pool_main, p) != 0)
            BERTH_BUG("cannot start a pool thread");
        p->nthreads++;
    }
    return p;
}

void pool_free(struct pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->work_cv);
    pthread_cond_destroy(&p->done_cv);
    free(p->threads);
    free(p);
}

void pool_submit(struct pool *p, struct pool_task *t)
{
    t->next = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->todo_tail)
        p->todo_tail->next = t;
    else
        p->todo_head = t;
    p->todo_tail = t;
    p->in_flight++;
    pthread_cond_signal(&p->work_cv);
    pthread_mutex_unlock(&p->lock);
}

struct pool_task *pool_take_done(struct pool *p, int64_t timeout_us)
{
    struct pool_task *list;
    struct timespec ts;

    pthread_mutex_lock(&p->lock);
    if (!p->done_head && timeout_us > 0) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(timeout_us / 1000000);
        ts.tv_nsec += (long)(timeout_us % 1000000) * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!p->done_head) {
            int rc = pthread_cond_timedwait(&p->done_cv, &p->lock, &ts);
            if (rc == ETIMEDOUT)
                break;
        }
    }
    list = p->done_head;
    p->done_head = p->done_tail = NULL;
    for (struct pool_task *t = list; t; t = t->next)
        p->in_flight--;
    pthread_mutex_unlock(&p->lock);
    return list;
}

int pool_in_flight(struct pool *p)
{
    int n;
    pthread_mutex_lock(&p->lock);
    n = p->in_flight;
    pthread_mutex_unlock(&p->lock);
    return n;
}
