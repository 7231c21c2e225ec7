/* numago — contexts: cancellation trees with deadlines (Go's context).
 *
 * A context is cancelled explicitly (ng_ctx_cancel), when its deadline
 * passes, or when its parent is.  Its done channel is closed then, so it can
 * be a case of ng_select.  Contexts are reference counted: every ng_ctx_with_*
 * returns one reference for the caller; ng_ctx_release drops it (and cancels
 * the context, like Go's deferred cancel).  The background context is
 * static: retaining or releasing it does nothing. */
#ifndef NUMAGO_CONTEXT_H
#define NUMAGO_CONTEXT_H

#include <stdint.h>

#include <numago/chan.h>

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default)

typedef struct ng_ctx ng_ctx;
ng_ctx *ng_ctx_background(void);
/* NULL parent means background.  NULL + errno ENOMEM on failure. */
ng_ctx *ng_ctx_with_cancel(ng_ctx *parent);
ng_ctx *ng_ctx_with_deadline(ng_ctx *parent, int64_t deadline);
ng_ctx *ng_ctx_with_timeout(ng_ctx *parent, int64_t ns);
void ng_ctx_cancel(ng_ctx *c);
/* Closed when cancelled or expired; never closed for background.  The
 * channel lives as long as the context (retain it to keep it longer). */
ng_chan *ng_ctx_done(ng_ctx *c);
int ng_ctx_err(ng_ctx *c);          /* 0, -ECANCELED, -ETIMEDOUT */
int64_t ng_ctx_deadline(ng_ctx *c); /* NG_FOREVER if none */
/* Block until c is done (returns ng_ctx_err(c)) or the deadline passes
 * first (-EAGAIN: distinct from a context that expired). */
int ng_ctx_wait(ng_ctx *c, int64_t deadline);
void ng_ctx_retain(ng_ctx *c);
void ng_ctx_release(ng_ctx *c);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif
#endif
