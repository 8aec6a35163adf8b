/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"
#include "worker.h"

#define THREADS_MAX 8u
/* yescrypt keeps a worker busy for ~13 ms; the event loop (userdb
 * lookups, answers) must not wait behind it for a CPU. */
#define WORKER_NICE 10

struct job {
        work_fn_t work;
        done_fn_t done;
        void *data;
        struct job *next;
};

struct Workers {
        sd_event_source *source;
        sd_event_source *on_loop;         /* 0 threads: runs the queue (worker.h) */
        int efd;
        pthread_t threads[THREADS_MAX];
        unsigned n_threads;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct job *queue, *queue_tail;   /* waiting for a thread */
        struct job *urgent_tail;          /* the last urgent job in queue (its head); NULL: none */
        struct job *done;                 /* finished, for the loop */
        unsigned queued;
        unsigned running;                 /* jobs a thread is in */
        bool stopping;
};

static void *thread_main(void *userdata) {
        Workers *w = userdata;

        /* Linux: the nice value is per thread. */
        (void) setpriority(PRIO_PROCESS, (id_t) gettid(), WORKER_NICE);
        pthread_mutex_lock(&w->lock);
        for (;;) {
                struct job *j;
                uint64_t one = 1;

                while (!w->queue && !w->stopping)
                        pthread_cond_wait(&w->cond, &w->lock);
                if (!w->queue)
                        break;
                j = w->queue;
                w->queue = j->next;
                if (!w->queue)
                        w->queue_tail = NULL;
                if (w->urgent_tail == j)
                        w->urgent_tail = NULL;
                w->running++;
                pthread_mutex_unlock(&w->lock);

                j->work(j->data);

                pthread_mutex_lock(&w->lock);
                w->running--;
                j->next = w->done;
                w->done = j;
                /* Wake the loop; a full counter still wakes it. */
                (void) !write(w->efd, &one, sizeof(one));
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

static void run_done(Workers *w) {
        struct job *list;

        pthread_mutex_lock(&w->lock);
        list = w->done;
        w->done = NULL;
        pthread_mutex_unlock(&w->lock);

        while (list) {
                struct job *j = list;

                list = j->next;
                w->queued--;
                j->done(j->data);
                free(j);
        }
}

static int on_event(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        uint64_t n;

        (void) !read(fd, &n, sizeof(n));
        run_done(userdata);
        return 0;
}

/* A pool of 0 threads: the jobs queued so far run here, in order, then
 * their callbacks, in the same order.  No thread exists, so nothing needs
 * the lock; a job a callback queues waits for the next turn. */
static int on_loop_turn(sd_event_source *s, void *userdata) {
        Workers *w = userdata;

        w->done = w->queue;
        w->queue = w->queue_tail = w->urgent_tail = NULL;
        for (struct job *j = w->done; j; j = j->next)
                j->work(j->data);
        run_done(w);
        return 0;
}

int workers_new(sd_event *event, unsigned n_threads, Workers **ret) {
        Workers *w;
        int r;

        if (n_threads > THREADS_MAX)
                return -EINVAL;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cond, NULL);
        w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->efd < 0) {
                r = -errno;
                goto fail;
        }
        r = sd_event_add_io(event, &w->source, w->efd, EPOLLIN, on_event, w);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_description(w->source, "workers");
        if (n_threads == 0) {
                r = sd_event_add_defer(event, &w->on_loop, on_loop_turn, w);
                if (r < 0)
                        goto fail;
                (void) sd_event_source_set_description(w->on_loop, "workers-on-loop");
                (void) sd_event_source_set_enabled(w->on_loop, SD_EVENT_OFF);
        }
        for (; w->n_threads < n_threads; w->n_threads++) {
                r = -pthread_create(&w->threads[w->n_threads], NULL, thread_main, w);
                if (r < 0)
                        goto fail;
        }
        *ret = w;
        return 0;

fail:
        workers_free(w);
        return r;
}

Workers *workers_free(Workers *w) {
        struct job *j;

        if (!w)
                return NULL;
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        /* Queued jobs are not run; their owners still hear back. */
        while ((j = w->queue)) {
                w->queue = j->next;
                j->next = w->done;
                w->done = j;
        }
        w->queue_tail = w->urgent_tail = NULL;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        for (unsigned i = 0; i < w->n_threads; i++)
                pthread_join(w->threads[i], NULL);
        run_done(w);
        sd_event_source_disable_unref(w->on_loop);
        sd_event_source_disable_unref(w->source);
        if (w->efd >= 0)
                close(w->efd);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
}

/* Put j behind the urgent jobs, ahead of the others.  Lock held. */
static void insert_urgent(Workers *w, struct job *j) {
        if (w->urgent_tail) {
                j->next = w->urgent_tail->next;
                w->urgent_tail->next = j;
        } else {
                j->next = w->queue;
                w->queue = j;
        }
        if (!j->next)
                w->queue_tail = j;
        w->urgent_tail = j;
}

static int submit(Workers *w, work_fn_t work, done_fn_t done, void *data, bool urgent) {
        struct job *j = calloc(1, sizeof(*j));

        if (!j)
                return -ENOMEM;
        *j = (struct job) { .work = work, .done = done, .data = data };
        pthread_mutex_lock(&w->lock);
        if (urgent)
                insert_urgent(w, j);
        else {
                if (w->queue_tail)
                        w->queue_tail->next = j;
                else
                        w->queue = j;
                w->queue_tail = j;
        }
        w->queued++;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        if (w->on_loop)
                (void) sd_event_source_set_enabled(w->on_loop, SD_EVENT_ONESHOT);
        return 0;
}

int workers_submit(Workers *w, work_fn_t work, done_fn_t done, void *data) {
        return submit(w, work, done, data, false);
}

int workers_submit_urgent(Workers *w, work_fn_t work, done_fn_t done, void *data) {
        return submit(w, work, done, data, true);
}

int workers_hurry(Workers *w, const void *data) {
        struct job *prev = NULL;
        bool urgent;
        int r = -ENOENT;

        pthread_mutex_lock(&w->lock);
        urgent = w->urgent_tail != NULL;
        for (struct job *j = w->queue; j; prev = j, j = j->next) {
                if (j->data != data) {
                        if (j == w->urgent_tail)
                                urgent = false;         /* past the urgent ones */
                        continue;
                }
                r = 0;
                if (urgent)
                        break;                          /* urgent already */
                /* Take it out, then in behind the urgent ones. */
                if (prev)
                        prev->next = j->next;
                else
                        w->queue = j->next;
                if (w->queue_tail == j)
                        w->queue_tail = prev;
                insert_urgent(w, j);
                break;
        }
        pthread_mutex_unlock(&w->lock);
        return r;
}

unsigned workers_queued(const Workers *w) {
        return w->queued;
}

unsigned workers_running(Workers *w) {
        unsigned n;

        pthread_mutex_lock(&w->lock);
        n = w->running;
        pthread_mutex_unlock(&w->lock);
        return n;
}
