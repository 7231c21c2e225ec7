/* offload/kchan.c — the channel bridge: launch requests in, results out.
 *
 * One dispatcher goroutine per kernel channel selects between the request
 * channel (while fewer than `depth` commands are in flight) and the done
 * channel of the oldest command in flight (while there is one).  A request
 * takes every other request already waiting along with it, up to the
 * depth: they are enqueued back to back and flushed once, so a burst of
 * small kernels costs one flush.  Results go out in launch order (the queue
 * is in-order, so the oldest completes first). */
#define _GNU_SOURCE
#include "offload.h"

#include <numago/runtime.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct inflight {
	ng_cl_op *op;
	ng_chan *reply;
	void *tag;
} inflight;

typedef struct kchan {
	ng_chan *c;
	ng_cl_queue *q;
	cl_kernel k;
	int depth;
	inflight *ring;
	ng_chan *exited; /* closed by the dispatcher when it returns */
	struct kchan *next;
} kchan;

static pthread_mutex_t kc_lock = PTHREAD_MUTEX_INITIALIZER;
static kchan *kc_all;

static void reply(ng_chan *r, int status, cl_int cl_status, void *tag)
{
	if (r == NULL)
		return;
	ng_cl_launch_result res = {.status = status, .cl_status = cl_status, .tag = tag};
	ng_chan_send(r, &res); /* -EPIPE: the asker closed its reply channel */
}

static void complete_oldest(kchan *kc, int *head, int *n)
{
	inflight *f = &kc->ring[*head];
	int r = ng_cl_wait(f->op, NG_FOREVER);
	reply(f->reply, r, ng_cl_op_status(f->op), f->tag);
	ng_cl_op_release(f->op);
	f->op = NULL;
	*head = (*head + 1) % kc->depth;
	(*n)--;
}

static bool launch(kchan *kc, const ng_cl_launch_req *rq, int *head, int *n)
{
	ng_cl_op *op = NULL;
	if (rq->nargs < 0 || rq->nargs > NG_CL_MAX_ARGS) {
		reply(rq->reply, -EINVAL, CL_INVALID_VALUE, rq->tag);
		return false;
	}
	int r = ng_cl_launch(kc->q, kc->k, &rq->range, rq->args, rq->nargs, NULL, 0, &op);
	if (r < 0) {
		reply(rq->reply, r, CL_INVALID_VALUE, rq->tag);
		return false;
	}
	inflight *f = &kc->ring[(*head + *n) % kc->depth];
	f->op = op;
	f->reply = rq->reply;
	f->tag = rq->tag;
	(*n)++;
	return true;
}

static void dispatcher(void *arg)
{
	kchan *kc = arg;
	int head = 0, n = 0;
	bool open = true;
	ng_cl_launch_req rq;
	while (open || n > 0) {
		ng_case cs[2];
		cs[0] = NG_RECV_CASE(open && n < kc->depth ? kc->c : NULL, &rq);
		cs[1] = NG_RECV_CASE(n > 0 ? ng_cl_done_chan(kc->ring[head].op) : NULL, NULL);
		int i = ng_select(cs, 2, NG_FOREVER);
		if (i == 1) {
			complete_oldest(kc, &head, &n);
			continue;
		}
		if (i != 0 || cs[0].rc != 0) {
			open = false; /* closed and drained */
			continue;
		}
		bool any = launch(kc, &rq, &head, &n);
		/* the burst: what is already waiting, up to the depth */
		while (n < kc->depth && ng_chan_try_recv(kc->c, &rq) == 0)
			any |= launch(kc, &rq, &head, &n);
		if (any)
			ng_cl_queue_flush(kc->q);
	}
	free(kc->ring);
	kc->ring = NULL;
	ng_chan_close(kc->exited);
}

ng_chan *ng_cl_kernel_chan(ng_cl_queue *q, cl_kernel k, int depth)
{
	if (q == NULL || k == NULL || depth < 1 || depth > 1 << 20 || ng_procs() <= 0) {
		errno = EINVAL;
		return NULL;
	}
	kchan *kc = calloc(1, sizeof *kc);
	if (kc == NULL)
		return NULL;
	kc->q = q;
	kc->k = k;
	kc->depth = depth;
	kc->ring = calloc((size_t)depth, sizeof *kc->ring);
	kc->c = ng_chan_make(sizeof(ng_cl_launch_req), (size_t)depth);
	kc->exited = ng_chan_make(0, 0);
	if (kc->ring == NULL || kc->c == NULL || kc->exited == NULL)
		goto fail;
	clRetainKernel(k);
	if (ng_go(dispatcher, kc) != 0) {
		clReleaseKernel(k);
		goto fail;
	}
	pthread_mutex_lock(&kc_lock);
	kc->next = kc_all;
	kc_all = kc;
	pthread_mutex_unlock(&kc_lock);
	return kc->c;
fail:
	if (kc->c != NULL)
		ng_chan_release(kc->c);
	if (kc->exited != NULL)
		ng_chan_release(kc->exited);
	free(kc->ring);
	free(kc);
	errno = ENOMEM;
	return NULL;
}

int ng_cl_kernel_chan_release(ng_chan *c)
{
	if (c == NULL)
		return -EINVAL;
	pthread_mutex_lock(&kc_lock);
	kchan **pp = &kc_all, *kc = NULL;
	for (; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->c == c) {
			kc = *pp;
			*pp = kc->next;
			break;
		}
	pthread_mutex_unlock(&kc_lock);
	if (kc == NULL)
		return -EINVAL;
	ng_chan_close(c); /* -EPIPE if the owner closed it already: fine */
	ng_chan_recv(kc->exited, NULL);
	ng_chan_release(kc->exited);
	ng_chan_release(kc->c);
	clReleaseKernel(kc->k);
	free(kc);
	return 0;
}
